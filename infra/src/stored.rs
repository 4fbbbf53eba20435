//! An event as the Postgres log holds it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Who asked, and through which request: stored with every event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Principal kind: `user`, `agent_bot`, `platform_app`, `system`.
    pub actor_type: String,
    /// Principal id.
    pub actor_id: Option<i64>,
    /// Carried from the request (`X-Correlation-Id`, or the request id).
    pub correlation_id: String,
    /// The event or request that caused this one.
    pub causation_id: Option<String>,
    /// The HTTP request id.
    pub request_id: Option<String>,
    /// The request's `Idempotency-Key`, if it had one.
    pub idempotency_key: Option<String>,
}

/// One row of `event_store.events`: its JSON columns parsed ([`COLUMNS`]),
/// or as their text (`StoredEvent<String>`, [`TEXT_COLUMNS`]) for a reader
/// that reads the payload itself.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredEvent<J = Value> {
    /// Global position (drawn at insert; not commit order, see docs/adr/0002).
    pub position: i64,
    /// The writing transaction's id (xid8 as a number).
    pub txid: i64,
    /// Event id, also the NATS message id.
    pub event_id: Uuid,
    /// `"<kind>:<id>"`.
    pub stream_id: String,
    /// 1-based version within the stream.
    pub stream_version: i64,
    /// Tenant.
    pub account_id: Option<i64>,
    /// Type name.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: i32,
    /// Payload.
    pub payload: J,
    /// [`Metadata`] as JSON.
    pub metadata: J,
    /// When it happened (the command's clock).
    pub occurred_at: DateTime<Utc>,
    /// When the row was written.
    pub recorded_at: DateTime<Utc>,
}

/// The columns of [`COLUMNS`], the JSON ones as given.
macro_rules! columns {
    ($json:literal) => {
        concat!(
            "position, txid::text::bigint as txid, event_id, stream_id, stream_version, \
             account_id, event_type, schema_version, ",
            $json,
            ", occurred_at, recorded_at"
        )
    };
}

/// Columns to select for a [`StoredEvent`] from `event_store.events`.
///
/// `txid` is an output alias here (the `xid8` column cast to `bigint`), so
/// a bare `order by txid` sorts by the alias, which no index holds: every
/// page would sort all the rows after its cursor. Order by [`LOG_ORDER`].
pub const COLUMNS: &str = columns!("payload, metadata");

/// [`COLUMNS`] with the payload and metadata as text, for a
/// `StoredEvent<String>`.
pub const TEXT_COLUMNS: &str = columns!("payload::text as payload, metadata::text as metadata");

/// The log's order, `(txid, position)`, named by the table's own columns so
/// that a query selecting [`COLUMNS`] from `event_store.events` reads it
/// from the `(txid, position)` index instead of sorting.
pub const LOG_ORDER: &str = "events.txid, events.position";

impl StoredEvent {
    /// Decodes the payload into today's [`domain::Event`] (upcasting old versions).
    pub fn decode(&self) -> Result<domain::Event, domain::event::DecodeError> {
        domain::Event::from_stored_ref(&self.event_type, self.schema_version, &self.payload)
    }

    /// The metadata, or empty metadata if it cannot be read.
    pub fn metadata(&self) -> Metadata {
        Metadata::deserialize(&self.metadata).unwrap_or_default()
    }
}

impl StoredEvent<String> {
    /// [`StoredEvent::decode`], from the payload's text.
    pub fn decode(&self) -> Result<domain::Event, domain::event::DecodeError> {
        domain::Event::from_json(&self.event_type, self.schema_version, &self.payload)
    }

    /// [`StoredEvent::metadata`], from its text.
    pub fn metadata(&self) -> Metadata {
        serde_json::from_str(&self.metadata).unwrap_or_default()
    }
}
