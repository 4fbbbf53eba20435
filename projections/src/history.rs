//! The history projection: one `history` row per applied event, with the
//! actor and correlation id of the request that wrote it, for the audit
//! endpoints (conversation and contact history, `as_of`, account audit).
//!
//! It is generic: every event is recorded the same way, by the
//! [`crate::batch::Batch`] that applies it (one insert per batch). The row's key is `(stream_id, stream_version)` and the insert does
//! nothing on a conflict, so a redelivery changes nothing and rows of other
//! streams are never touched: the table does not depend on the order in which
//! streams are applied.

use infra::envelope::Envelope;

/// The contact an event belongs to: only events of the `contact:<id>` stream.
pub fn contact_of(env: &Envelope) -> Option<i64> {
    stream_id_of(&env.streamid, "contact")
}

fn stream_id_of(stream: &str, kind: &str) -> Option<i64> {
    let (k, id) = stream.split_once(':')?;
    if k == kind {
        id.parse().ok()
    } else {
        None
    }
}
