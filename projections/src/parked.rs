//! Parked events: the operator's view of them, and retrying them once the
//! cause is fixed (`projections parked`, `projections retry-parked`).
//!
//! An event is parked when it cannot be applied, and later events of its
//! stream are parked behind it ([`crate::process`]). After a fix (new code
//! that reads the event, or a repaired read model), a retry takes a stream's
//! parked events out, in log order, and processes each again, reading it
//! afresh from the log: what applies now is applied, and if the first still
//! fails it is parked again with the ones behind it. It runs in one
//! transaction holding [`crate::PAUSE_LOCK`] shared, like a worker batch.
//! Messages that were not envelopes at all (no stream, negative position)
//! cannot be read from the log; they stay parked for the record.

use chrono::{DateTime, Utc};
use infra::envelope::Envelope;
use infra::stored::{StoredEvent, COLUMNS};
use sqlx::PgPool;

use crate::batch::Batch;
use crate::process::{process, Outcome};
use crate::schema::{use_schema, LIVE_SCHEMA};

/// A parked event as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Parked {
    /// Log position (negative: a message that was not an envelope).
    pub position: i64,
    /// Its stream.
    pub stream_id: String,
    /// Its type.
    pub event_type: String,
    /// Why it is parked.
    pub error: String,
    /// When.
    pub parked_at: DateTime<Utc>,
}

impl std::fmt::Display for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>10}  {:<24} {:<28} {}  {}",
            self.position,
            self.stream_id,
            self.event_type,
            self.parked_at.to_rfc3339(),
            self.error
        )
    }
}

/// What a retry did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Parked events taken out and processed again.
    pub retried: u64,
    /// Of those, applied now (or found applied already).
    pub applied: u64,
    /// Of those, parked again (still failing, or held behind one that is).
    pub parked: u64,
}

/// Every parked event of the live read model, in log order.
pub async fn list(pool: &PgPool) -> anyhow::Result<Vec<Parked>> {
    Ok(sqlx::query_as(
        "select position, stream_id, event_type, error, parked_at \
         from read_model.parked_events order by position",
    )
    .fetch_all(pool)
    .await?)
}

/// Retries the parked events of `stream` (every stream when `None`).
pub async fn retry(pool: &PgPool, stream: Option<&str>) -> anyhow::Result<RetryReport> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock_shared($1)")
        .bind(crate::PAUSE_LOCK)
        .execute(&mut *tx)
        .await?;
    use_schema(&mut tx, LIVE_SCHEMA).await?;
    let positions: Vec<i64> = sqlx::query_scalar(
        "delete from parked_events \
         where position > 0 and stream_id <> '' and ($1::text is null or stream_id = $1) \
         returning position",
    )
    .bind(stream)
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<StoredEvent> = sqlx::query_as(&format!(
        "select {COLUMNS} from event_store.events where position = any($1) \
         order by stream_id, stream_version"
    ))
    .bind(&positions)
    .fetch_all(&mut *tx)
    .await?;
    let mut report = RetryReport::default();
    let mut batch = Batch::open(&mut tx, events.iter().map(|e| e.stream_id.as_str()))
        .await?
        .eager();
    for stored in &events {
        let env = Envelope::from_stored(stored);
        report.retried += 1;
        match process(&mut tx, &mut batch, &env).await? {
            Outcome::Applied | Outcome::Duplicate => report.applied += 1,
            Outcome::Parked | Outcome::Held => report.parked += 1,
        }
    }
    let notifications = batch.close(&mut tx, None).await?;
    tx.commit().await?;
    notifications.send(pool).await?;
    tracing::info!(?report, "retried parked events");
    Ok(report)
}
