//! The event on the wire: a CloudEvents 1.0 JSON envelope.
//!
//! This is a public interface (docs/feed.md): analytics consumers read it with
//! no knowledge of the services. Standard attributes: `specversion`, `id` (the
//! event id, also the `Nats-Msg-Id`), `source`, `type`
//! (`chatwoot.<EventType>.v<schema version>`), `subject` (the stream id),
//! `time` (occurred-at), `datacontenttype`, `data` (the payload). Extension
//! attributes (lowercase, as CloudEvents requires): `streamid`,
//! `streamversion`, `position`, `txid`, `accountid`, `eventtype`,
//! `schemaversion`, `correlationid`, `causationid`, `actortype`, `actorid`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::stored::StoredEvent;

/// A CloudEvents envelope of one logged event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always `"1.0"`.
    pub specversion: String,
    /// Event id.
    pub id: Uuid,
    /// `/chatwoot/accounts/<id>` or `/chatwoot/platform`.
    pub source: String,
    /// `chatwoot.<EventType>.v<schema version>`.
    #[serde(rename = "type")]
    pub ce_type: String,
    /// The stream id.
    pub subject: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Always `"application/json"`.
    pub datacontenttype: String,
    /// The payload.
    pub data: Value,
    /// Stream id (same as `subject`).
    pub streamid: String,
    /// Version in the stream.
    pub streamversion: i64,
    /// Global log position.
    pub position: i64,
    /// Writing transaction id.
    pub txid: i64,
    /// Tenant.
    pub accountid: Option<i64>,
    /// Event type name.
    pub eventtype: String,
    /// Payload schema version.
    pub schemaversion: i32,
    /// Correlation id of the request that caused it.
    pub correlationid: String,
    /// Causation id.
    pub causationid: Option<String>,
    /// Principal kind.
    pub actortype: String,
    /// Principal id.
    pub actorid: Option<i64>,
}

impl Envelope {
    /// Wraps a logged event (a copy of it; [`Envelope::from`] takes it).
    pub fn from_stored(e: &StoredEvent) -> Self {
        Envelope::from(e.clone())
    }

    /// The NATS subject: `<prefix>.<account id, 0 for none>.<stream kind>.<EventType>`.
    pub fn subject(&self, prefix: &str) -> String {
        let kind = self.streamid.split(':').next().unwrap_or("unknown");
        format!(
            "{prefix}.{}.{kind}.{}",
            self.accountid.unwrap_or(0),
            self.eventtype
        )
    }

    /// Decodes the payload into today's [`domain::Event`].
    pub fn decode(&self) -> Result<domain::Event, domain::event::DecodeError> {
        domain::Event::from_stored_ref(&self.eventtype, self.schemaversion, &self.data)
    }
}

impl From<StoredEvent> for Envelope {
    /// Wraps a logged event, taking its payload instead of copying it.
    fn from(e: StoredEvent) -> Self {
        let meta = e.metadata();
        Envelope {
            specversion: "1.0".into(),
            id: e.event_id,
            source: match e.account_id {
                Some(a) => format!("/chatwoot/accounts/{a}"),
                None => "/chatwoot/platform".into(),
            },
            ce_type: format!("chatwoot.{}.v{}", e.event_type, e.schema_version),
            subject: e.stream_id.clone(),
            time: e.occurred_at,
            datacontenttype: "application/json".into(),
            data: e.payload,
            streamid: e.stream_id,
            streamversion: e.stream_version,
            position: e.position,
            txid: e.txid,
            accountid: e.account_id,
            eventtype: e.event_type,
            schemaversion: e.schema_version,
            correlationid: meta.correlation_id,
            causationid: meta.causation_id,
            actortype: meta.actor_type,
            actorid: meta.actor_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_names_account_kind_and_type() {
        let e = StoredEvent {
            position: 5,
            txid: 900,
            event_id: Uuid::nil(),
            stream_id: "conversation:42".into(),
            stream_version: 2,
            account_id: Some(7),
            event_type: "ConversationStatusChanged".into(),
            schema_version: 1,
            payload: serde_json::json!({}),
            metadata: serde_json::json!({"actor_type": "user", "actor_id": 3, "correlation_id": "c"}),
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
        };
        let env = Envelope::from_stored(&e);
        assert_eq!(
            env.subject("chatwoot.events"),
            "chatwoot.events.7.conversation.ConversationStatusChanged"
        );
        assert_eq!(env.ce_type, "chatwoot.ConversationStatusChanged.v1");
        assert_eq!(env.actorid, Some(3));
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["type"], "chatwoot.ConversationStatusChanged.v1");
        assert_eq!(json["specversion"], "1.0");
    }
}
