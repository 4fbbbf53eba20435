//! The event store: loading streams and appending to them, one command per
//! transaction.
//!
//! A command runs in a [`UnitOfWork`]: it loads the streams it decides on
//! (reads only), then updates write-side lookups and appends events, and the
//! whole thing commits or rolls back together. Loading before any write matters
//! for the relay: a transaction's id is assigned at its first write, so a
//! command that has read stream version *n* gets a larger transaction id than
//! the writer of version *n*, and the relay's `(txid, position)` order keeps
//! every stream in version order (docs/adr/0002).
//!
//! The database enforces the same rule (trigger `events_stream_order`): an
//! append whose transaction id is below its predecessor's is refused with a
//! serialization failure and retried here, so a command that breaks the rule
//! costs a retry, never an out-of-order stream.
//!
//! Two commands racing on one stream both try to insert the same
//! `(stream_id, stream_version)`; the loser gets a unique violation on
//! `events_stream_version_key` and is retried from scratch (reload, decide
//! again) up to [`MAX_ATTEMPTS`] times, then answers 409.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{Aggregate, Event, StreamId};
use infra::stored::Metadata;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::ApiError;

/// How often a command is tried when it loses an optimistic-lock race.
pub const MAX_ATTEMPTS: usize = 8;

/// The Postgres channel the relay listens on; notified by every commit that appended.
pub const APPENDED_CHANNEL: &str = "events_appended";

/// The request-level facts stored with every event of a command.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// Event metadata (actor, correlation and request ids).
    pub metadata: Metadata,
    /// The command's clock reading, the events' occurred-at.
    pub now: DateTime<Utc>,
    /// The request's `Idempotency-Key` claim, marked committed in the
    /// transaction that appends the command's events.
    pub idempotency: Option<crate::idempotency::Claim>,
}

/// A stream folded into an aggregate, with the version it was read at.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The stream.
    pub stream: StreamId,
    /// The folded state.
    pub state: A,
    /// Number of events read (0 for a new stream).
    pub version: i64,
}

/// One command's transaction.
pub struct UnitOfWork {
    tx: Transaction<'static, Postgres>,
    ctx: CommandContext,
    appended: BTreeMap<String, i64>,
    events: Vec<(String, i64, Event)>,
}

impl UnitOfWork {
    /// The connection, for write-model lookups and updates.
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }

    /// The command's context.
    pub fn context(&self) -> &CommandContext {
        &self.ctx
    }

    /// Reads a stream and folds it.
    ///
    /// First it takes a transaction-level advisory lock on the stream, so
    /// commands on one stream queue behind each other instead of all reading
    /// the same version and all but one failing on append: a hot
    /// conversation costs waiting, not retries and 409s. The read comes
    /// after the lock, in a statement of its own, so its snapshot sees what
    /// the previous holder committed. Commands that load several streams in
    /// different orders can deadlock; Postgres breaks that (40P01) and the
    /// command is retried like a version conflict. The append's unique
    /// (stream, version) key stays the guarantee; the lock only avoids
    /// wasted work.
    pub async fn load<A: Aggregate>(&mut self, stream: StreamId) -> Result<Loaded<A>, ApiError> {
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(stream.to_string())
            .execute(&mut *self.tx)
            .await?;
        let rows: Vec<(String, i32, serde_json::Value)> = sqlx::query_as(
            "select event_type, schema_version, payload from event_store.events \
             where stream_id = $1 order by stream_version",
        )
        .bind(stream.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        let version = rows.len() as i64;
        let mut state = A::default();
        for (event_type, schema_version, payload) in rows {
            let event = Event::from_stored(&event_type, schema_version, payload)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stream {stream}: {e}")))?;
            state = state.evolve(&event);
        }
        Ok(Loaded {
            stream,
            state,
            version,
        })
    }

    /// Decides a command on a loaded aggregate and appends the outcome.
    /// Returns the events (empty when the command changed nothing).
    pub async fn decide<A: Aggregate>(
        &mut self,
        loaded: &mut Loaded<A>,
        command: &A::Command,
    ) -> Result<Vec<Event>, ApiError> {
        let events = loaded.state.decide(command)?;
        self.append(&loaded.stream, loaded.version, &events).await?;
        for e in &events {
            loaded.state = std::mem::take(&mut loaded.state).evolve(e);
        }
        loaded.version += events.len() as i64;
        Ok(events)
    }

    /// Appends events after `expected_version`. A concurrent writer that got
    /// there first makes the insert fail with a unique violation, which
    /// [`EventStore::execute`] turns into a retry.
    pub async fn append(
        &mut self,
        stream: &StreamId,
        expected_version: i64,
        events: &[Event],
    ) -> Result<(), ApiError> {
        if events.is_empty() {
            return Ok(());
        }
        let stream_id = stream.to_string();
        let metadata =
            serde_json::to_value(&self.ctx.metadata).map_err(|e| ApiError::Internal(e.into()))?;
        for (i, event) in events.iter().enumerate() {
            let version = expected_version + 1 + i as i64;
            sqlx::query(
                "insert into event_store.events \
                 (event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, metadata, occurred_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(Uuid::now_v7())
            .bind(&stream_id)
            .bind(version)
            .bind(event.account_id())
            .bind(event.event_type())
            .bind(event.schema_version())
            .bind(event.payload())
            .bind(&metadata)
            .bind(self.ctx.now)
            .execute(&mut *self.tx)
            .await?;
            self.events
                .push((stream_id.clone(), version, event.clone()));
        }
        self.appended
            .insert(stream_id, expected_version + events.len() as i64);
        Ok(())
    }
}

/// What a committed command hands back: its own result and the stream
/// versions it wrote, which read-your-writes waits for.
#[derive(Debug)]
pub struct Committed<T> {
    /// The command's own result.
    pub value: T,
    /// `(stream id, last version written)` per stream written.
    pub written: Vec<(String, i64)>,
    /// The events appended, in order, with stream id and version.
    pub events: Vec<(String, i64, Event)>,
}

/// Runs commands against the log.
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
}

impl EventStore {
    /// An event store on a pool.
    pub fn new(pool: PgPool) -> Self {
        EventStore { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `command` in one transaction and commits it; retries it from
    /// scratch when it loses an optimistic-lock race, up to [`MAX_ATTEMPTS`]
    /// times, and then answers 409.
    pub async fn execute<T, F>(
        &self,
        ctx: &CommandContext,
        mut command: F,
    ) -> Result<Committed<T>, ApiError>
    where
        F: AsyncFnMut(&mut UnitOfWork) -> Result<T, ApiError>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let tx = self.pool.begin().await?;
            let mut uow = UnitOfWork {
                tx,
                ctx: ctx.clone(),
                appended: BTreeMap::new(),
                events: Vec::new(),
            };
            match command(&mut uow).await {
                Ok(value) => {
                    if !uow.appended.is_empty() {
                        if let Some(claim) = &ctx.idempotency {
                            claim.mark_committed(&mut uow.tx).await?;
                        }
                        sqlx::query("select pg_notify($1, '')")
                            .bind(APPENDED_CHANNEL)
                            .execute(&mut *uow.tx)
                            .await?;
                    }
                    match uow.tx.commit().await {
                        Ok(()) => {
                            return Ok(Committed {
                                value,
                                written: uow.appended.into_iter().collect(),
                                events: uow.events,
                            })
                        }
                        Err(e) if is_version_conflict(&e) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(ApiError::Database(e)) if is_version_conflict(&e) => {
                    tracing::debug!(attempt, "version conflict, retrying command");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::Conflict)
    }
}

fn is_version_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.constraint() == Some("events_stream_version_key")
                // A serialization failure or deadlock between racing commands is
                // the same situation: retry from scratch.
                || matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
        }
        _ => false,
    }
}
