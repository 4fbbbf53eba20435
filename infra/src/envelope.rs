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

use crate::stored::{Metadata, StoredEvent};

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
        let (mut env, payload) = Envelope::wrap(e, meta);
        env.data = payload;
        env
    }
}

impl Envelope {
    /// Wraps a logged event read as text, without its payload (`data` is
    /// null), for a reader that decodes the payload's text itself
    /// ([`StoredEvent::<String>::decode`]); the text comes back beside it.
    pub fn without_payload(e: StoredEvent<String>) -> (Self, String) {
        let meta = e.metadata();
        Envelope::wrap(e, meta)
    }

    /// The envelope of `e` with `data` null, and `e`'s payload.
    fn wrap<J>(e: StoredEvent<J>, meta: Metadata) -> (Self, J) {
        let env = Envelope {
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
            data: Value::Null,
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
        };
        (env, e.payload)
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

    /// An event read as text wraps into the envelope the parsed row gives,
    /// but for the payload, which comes back beside it.
    #[test]
    fn an_event_read_as_text_wraps_into_the_same_envelope_without_its_payload() {
        let payload = serde_json::json!({"account_id": 7, "name": "Ann"});
        let metadata = serde_json::json!({
            "actor_type": "user", "actor_id": 3, "correlation_id": "c", "causation_id": "e"
        });
        let parsed = StoredEvent {
            position: 5,
            txid: 900,
            event_id: Uuid::nil(),
            stream_id: "account:7".into(),
            stream_version: 2,
            account_id: Some(7),
            event_type: "AccountUpdated".into(),
            schema_version: 1,
            payload: payload.clone(),
            metadata: metadata.clone(),
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
        };
        let text = StoredEvent {
            position: parsed.position,
            txid: parsed.txid,
            event_id: parsed.event_id,
            stream_id: parsed.stream_id.clone(),
            stream_version: parsed.stream_version,
            account_id: parsed.account_id,
            event_type: parsed.event_type.clone(),
            schema_version: parsed.schema_version,
            payload: payload.to_string(),
            metadata: metadata.to_string(),
            occurred_at: parsed.occurred_at,
            recorded_at: parsed.recorded_at,
        };
        let (env, text_payload) = Envelope::without_payload(text.clone());
        assert_eq!(env.data, Value::Null);
        assert_eq!(
            serde_json::from_str::<Value>(&text_payload).unwrap(),
            payload
        );
        let whole = Envelope::from(parsed);
        assert_eq!(
            Envelope {
                data: whole.data.clone(),
                ..env
            },
            whole
        );
        // Metadata that cannot be read is empty either way.
        let unreadable = StoredEvent {
            metadata: r#"{"actor_id": "x"}"#.into(),
            ..text
        };
        assert_eq!(unreadable.metadata(), Metadata::default());
    }
}
