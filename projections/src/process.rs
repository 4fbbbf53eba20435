//! What a consumer does around one event, for the live worker and the
//! rebuild alike: [`process`] skips what the stream already has, holds a
//! stream behind a parked (poison) event, fills a gap from the log, and
//! applies or parks.
//!
//! Why the gap fill: JetStream redelivers an unacked message only after its
//! ack wait, and meanwhile hands out newer ones. After a worker dies between
//! commit and ack, or drops its buffered messages on a reconnect, version
//! n+1 of a stream can arrive before version n. Applying n+1 would make n a
//! "duplicate" and lose it; waiting would stall. The Postgres log is the
//! source of truth and every predecessor of a delivered event has committed
//! (the command that wrote n+1 had read n), so the missing versions are read
//! from `event_store.events` and applied first, in the same transaction. The
//! late deliveries then find the stream past them and change nothing.
//!
//! Why the hold: once an event of a stream is parked, applying later events
//! of that stream would build on a state that misses it. They are parked
//! too, with a note naming the blocker, until an operator deals with the
//! stream; other streams carry on.

use domain::Event;
use infra::envelope::Envelope;
use infra::stored::{StoredEvent, COLUMNS};
use serde_json::{json, Value};
use sqlx::{Executor, PgConnection};

use crate::apply::{Applied, ApplyError};
use crate::batch::Batch;

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied to the read model (possibly after filling a gap before it).
    Applied,
    /// Already applied; nothing changed.
    Duplicate,
    /// It could not be applied and was parked with its error.
    Parked,
    /// An earlier event of its stream is parked, so it was parked behind it.
    Held,
}

/// How [`process_with`] guards each apply against poison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Each apply under a savepoint: a poison event is rolled back to it and
    /// parked, and the transaction goes on.
    Savepoint,
    /// No savepoint (two round trips less per event): a poison event fails
    /// the call with its permanent [`ApplyError`] (a write the batch defers
    /// fails a later call or [`Batch::close`]), the
    /// transaction is spoilt, and the caller redoes it with
    /// [`Guard::Savepoint`]. For batches, where poison is rare and the
    /// savepoints were a sixth of the work.
    Optimistic,
}

impl Guard {
    /// Whether `e`, met while applying a batch under this guard, means the
    /// batch holds poison and is to be redone with [`Guard::Savepoint`]: a
    /// permanent error without savepoints. Any other error is transient for
    /// the batch (retried as it is), since with savepoints poison is parked,
    /// not returned.
    pub fn finds_poison(self, e: &ApplyError) -> bool {
        self == Guard::Optimistic && !e.is_transient()
    }
}

/// An envelope's event, decoded by the caller from the payload's text,
/// which the envelope may then leave out (`data` null): a rebuild's log
/// reader does so ([`infra::envelope::Envelope::without_payload`]). A
/// parked or held event's row takes its payload from the text.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// The event.
    pub event: &'a Event,
    /// The payload's JSON text.
    pub payload: &'a str,
}

/// Processes one envelope in the caller's transaction (with `search_path`
/// already set) and `batch`. Poison is parked, not returned; an error means
/// a transient failure, and the caller rolls the whole transaction back and
/// retries.
pub async fn process(
    conn: &mut PgConnection,
    batch: &mut Batch,
    env: &Envelope,
) -> Result<Outcome, ApplyError> {
    process_with(conn, batch, env, None, Guard::Savepoint).await
}

/// [`process`] with a choice of [`Guard`], and with the envelope's event
/// when the caller has decoded it already ([`Decoded`]; `None`: decoded
/// when applied).
/// With [`Guard::Optimistic`] a permanent error (`!is_transient()`) comes
/// back instead of being parked. With [`Guard::Savepoint`] the batch must
/// be [`Batch::eager`].
pub async fn process_with(
    conn: &mut PgConnection,
    batch: &mut Batch,
    env: &Envelope,
    decoded: Option<Decoded<'_>>,
    guard: Guard,
) -> Result<Outcome, ApplyError> {
    let recorded = batch.version(conn, &env.streamid).await?;
    if env.streamversion <= recorded {
        return Ok(Outcome::Duplicate);
    }
    if let Some(blocker) = batch.parked(conn, &env.streamid).await? {
        hold(conn, batch, env, decoded, blocker).await?;
        return Ok(Outcome::Held);
    }
    if env.streamversion > recorded + 1 {
        let missing: Vec<StoredEvent> = sqlx::query_as(&format!(
            "select {COLUMNS} from event_store.events \
             where stream_id = $1 and stream_version > $2 and stream_version < $3 \
             order by stream_version"
        ))
        .bind(&env.streamid)
        .bind(recorded)
        .bind(env.streamversion)
        .fetch_all(&mut *conn)
        .await?;
        let expected = env.streamversion - recorded - 1;
        if missing.len() as i64 != expected {
            tracing::warn!(
                stream = %env.streamid,
                recorded,
                version = env.streamversion,
                found = missing.len(),
                "the log does not hold every version before this one"
            );
        } else {
            tracing::info!(stream = %env.streamid, count = expected, "filling a delivery gap from the log");
        }
        for stored in &missing {
            let earlier = Envelope::from_stored(stored);
            if apply_or_park(conn, batch, &earlier, None, guard).await? == Outcome::Parked {
                hold(conn, batch, env, decoded, earlier.position).await?;
                return Ok(Outcome::Held);
            }
        }
    }
    apply_or_park(conn, batch, env, decoded, guard).await
}

/// Applies under a savepoint; a permanent error rolls back to it and parks.
/// Optimistically: applies, and returns any error.
async fn apply_or_park(
    conn: &mut PgConnection,
    batch: &mut Batch,
    env: &Envelope,
    decoded: Option<Decoded<'_>>,
    guard: Guard,
) -> Result<Outcome, ApplyError> {
    let event = decoded.map(|d| d.event);
    if guard == Guard::Optimistic {
        return Ok(match batch.apply_with(conn, env, event).await? {
            Applied::Applied => Outcome::Applied,
            Applied::Duplicate => Outcome::Duplicate,
        });
    }
    conn.execute("savepoint apply_one").await?;
    match batch.apply_with(conn, env, event).await {
        Ok(applied) => {
            conn.execute("release savepoint apply_one").await?;
            Ok(match applied {
                Applied::Applied => Outcome::Applied,
                Applied::Duplicate => Outcome::Duplicate,
            })
        }
        Err(e) if !e.is_transient() => {
            conn.execute("rollback to savepoint apply_one").await?;
            conn.execute("release savepoint apply_one").await?;
            tracing::error!(
                stream = %env.streamid,
                version = env.streamversion,
                position = env.position,
                error = %e,
                "parking an event that cannot be applied"
            );
            park_in(conn, batch, &Parcel::of(env, decoded), &e.to_string()).await?;
            Ok(Outcome::Parked)
        }
        Err(e) => Err(e),
    }
}

async fn hold(
    conn: &mut PgConnection,
    batch: &mut Batch,
    env: &Envelope,
    decoded: Option<Decoded<'_>>,
    blocker: i64,
) -> Result<(), ApplyError> {
    tracing::warn!(
        stream = %env.streamid,
        version = env.streamversion,
        blocker,
        "holding an event behind a parked event of its stream"
    );
    let reason = format!(
        "held: the event at position {blocker} of stream {} is parked",
        env.streamid
    );
    park_in(conn, batch, &Parcel::of(env, decoded), &reason).await
}

/// [`park`], and notes it in the batch so later events of the parcel's
/// stream are held behind it.
pub async fn park_in(
    conn: &mut PgConnection,
    batch: &mut Batch,
    parcel: &Parcel,
    error: &str,
) -> Result<(), ApplyError> {
    park(conn, parcel, error).await?;
    if !parcel.stream_id.is_empty() {
        batch
            .note_parked(conn, &parcel.stream_id, parcel.position)
            .await?;
    }
    Ok(())
}

/// A row of `parked_events` to write.
#[derive(Debug, Clone)]
pub struct Parcel {
    /// The log position, or the negated JetStream sequence of a message
    /// that carried none (it was not an envelope).
    pub position: i64,
    /// The stream, or `""` when the message named none.
    pub stream_id: String,
    /// The event type, or the NATS subject when the message named none.
    pub event_type: String,
    /// The envelope as received.
    pub envelope: Value,
}

impl Parcel {
    /// The parcel of an envelope; one whose event the caller decoded
    /// ([`Decoded`]) takes its payload from the text it was decoded from.
    pub fn of(env: &Envelope, decoded: Option<Decoded<'_>>) -> Self {
        let mut envelope = serde_json::to_value(env).unwrap_or(Value::Null);
        if let (Some(decoded), Value::Object(fields)) = (decoded, &mut envelope) {
            let payload = serde_json::from_str(decoded.payload).unwrap_or(Value::Null);
            fields.insert("data".into(), payload);
        }
        Parcel {
            position: env.position,
            stream_id: env.streamid.clone(),
            event_type: env.eventtype.clone(),
            envelope,
        }
    }

    /// The parcel of a message that is not a readable envelope. Whatever it
    /// names of its stream and position is kept, so a readable successor of
    /// the same stream is held behind it.
    pub fn of_raw(payload: &[u8], subject: &str, sequence: u64) -> Self {
        let value: Option<Value> = serde_json::from_slice(payload).ok();
        let field = |name: &str| value.as_ref().and_then(|v| v.get(name)).cloned();
        let position = field("position")
            .and_then(|p| p.as_i64())
            .filter(|p| *p > 0)
            .unwrap_or_else(|| -i64::try_from(sequence).unwrap_or(i64::MAX));
        Parcel {
            position,
            stream_id: field("streamid")
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default(),
            event_type: field("eventtype")
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_else(|| subject.to_owned()),
            envelope: value.unwrap_or_else(
                || json!({"subject": subject, "raw": String::from_utf8_lossy(payload)}),
            ),
        }
    }
}

/// Parks a parcel with its error (a second parking of the same position
/// changes nothing). If Postgres refuses the envelope itself (jsonb takes no
/// `\u0000`), it is parked with a stand-in so one bad message can never
/// stall the worker.
pub async fn park(conn: &mut PgConnection, parcel: &Parcel, error: &str) -> Result<(), ApplyError> {
    conn.execute("savepoint park_one").await?;
    if let Err(e) = insert_parked(conn, parcel, error, parcel.envelope.clone()).await {
        let e = ApplyError::Db(e);
        if e.is_transient() {
            return Err(e);
        }
        conn.execute("rollback to savepoint park_one").await?;
        let stand_in = json!({"unstorable": true, "reason": e.to_string()});
        insert_parked(conn, parcel, error, stand_in).await?;
    }
    conn.execute("release savepoint park_one").await?;
    Ok(())
}

/// Text columns take no NUL either.
fn clean(s: &str) -> String {
    s.replace('\0', "")
}

async fn insert_parked(
    conn: &mut PgConnection,
    parcel: &Parcel,
    error: &str,
    envelope: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into parked_events (position, stream_id, event_type, error, envelope) \
         values ($1, $2, $3, $4, $5) on conflict (position) do nothing",
    )
    .bind(parcel.position)
    .bind(clean(&parcel.stream_id))
    .bind(clean(&parcel.event_type))
    .bind(clean(error))
    .bind(envelope)
    .execute(conn)
    .await?;
    Ok(())
}
