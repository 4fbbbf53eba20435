//! The live projection worker: a durable JetStream pull consumer that
//! applies the event feed to `read_model`.
//!
//! Messages are taken in delivery order, which is the relay's commit-safe
//! order, and processed one after another; whatever has already arrived
//! (up to [`BATCH`]) goes into one transaction for throughput. In that
//! transaction the worker holds [`crate::PAUSE_LOCK`] shared (so a rebuild
//! can pause it for its swap), sets `search_path` to `read_model`, and
//! [`process_with`]es each message: first without savepoints, and, when an
//! event of the batch cannot be applied, the batch again from the start with
//! a savepoint per event, so that event is parked. It commits, sends the
//! batch's `read_model_applied` notifications, and only then acks the batch:
//! the consumer acks all, so one double ack of its last message (double, so
//! it knows the server has it). A crash between commit and ack means a
//! redelivery, which the
//! stream-version guard turns into a no-op.
//!
//! The worker resumes where its read model stands: each batch records the
//! NATS stream sequence of its last message in `projection_state`, and on
//! every (re)subscription the durable consumer is recreated to deliver from
//! the next sequence. Messages a dead worker held unacked are therefore not
//! redelivered late, after newer ones of other streams: the read model sees
//! the feed in the relay's order, across streams and not only within each.
//! That is why only one worker per consumer may run: the others wait on an
//! advisory lock ([`WORKER_LOCK`]) and take over when it is released.
//!
//! A message that is not an envelope, or an event that can never apply, is
//! parked in `parked_events` and acked; later events of its stream are held
//! (parked) behind it while other streams flow. A transient failure
//! (Postgres down, serialization failure) rolls the batch back and retries
//! the same messages after a backoff, without acking and without moving on,
//! so no later event can overtake them. On shutdown the worker stops taking
//! messages, finishes the batch in hand (commit, then ack) and returns.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, AckKind};
use futures::future::join_all;
use futures::{FutureExt, StreamExt};
use infra::envelope::Envelope;
use infra::Settings;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::apply::ApplyError;
use crate::batch::Batch;
use crate::process::{park_in, process_with, Guard, Parcel};
use crate::schema::LIVE_SCHEMA;

/// Advisory-lock class of the live worker ("proj"); the key within it is
/// the hash of the consumer's name, so one worker runs per consumer.
pub const WORKER_LOCK: i32 = 0x7072_6f6a;
/// How often a waiting worker tries the lock again.
const STANDBY_RETRY: Duration = Duration::from_millis(500);

/// Durable consumer name used when `PROJECTION_CONSUMER` is not set.
pub const DEFAULT_CONSUMER: &str = "read-model";
/// Most messages applied in one transaction.
pub const BATCH: usize = 200;
/// How long JetStream waits for an ack before redelivering.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// First pause after a transient failure; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The durable consumer's name: `PROJECTION_CONSUMER`, or [`DEFAULT_CONSUMER`].
pub fn consumer_name() -> String {
    std::env::var("PROJECTION_CONSUMER")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_CONSUMER.to_owned())
}

/// The stream sequence of the last message applied to `read_model`.
pub async fn checkpoint(pool: &PgPool) -> anyhow::Result<u64> {
    let sequence: i64 =
        sqlx::query_scalar("select stream_sequence from read_model.projection_state where id = 1")
            .fetch_one(pool)
            .await
            .context("reading the worker's checkpoint")?;
    Ok(u64::try_from(sequence).unwrap_or(0))
}

/// (Re)creates the durable pull consumer of the event stream so that it
/// delivers from stream sequence `after + 1`: whatever an earlier consumer
/// of that name had delivered and not seen acked is forgotten, not
/// redelivered out of order.
pub async fn consumer(
    js: &jetstream::Context,
    settings: &Settings,
    after: u64,
) -> anyhow::Result<PullConsumer> {
    let mut stream = infra::nats::ensure_stream(js, settings).await?;
    let name = consumer_name();
    let last = stream
        .info()
        .await
        .context("reading the stream's state")?
        .state
        .last_sequence;
    let after = if after > last {
        // The stream is younger than the read model (it was recreated):
        // start over; what was applied already is skipped as duplicate.
        tracing::warn!(
            checkpoint = after,
            last,
            "the checkpoint is past the stream's end; replaying the stream"
        );
        0
    } else {
        after
    };
    if stream.consumer_info(&name).await.is_ok() {
        stream
            .delete_consumer(&name)
            .await
            .map_err(|e| anyhow::anyhow!("deleting consumer {name}: {e}"))?;
    }
    stream
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            description: Some("applies the event feed to the read model".into()),
            // Acking a message acks every one before it: one ack per batch.
            ack_policy: AckPolicy::All,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ack_wait: ACK_WAIT,
            filter_subject: format!("{}.>", settings.subject_prefix),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating consumer {name}: {e}"))
}

/// Consumes the feed into `read_model` until `shutdown` resolves. Lost
/// connections to NATS or Postgres are retried, never fatal.
pub async fn run(
    settings: Settings,
    pool: PgPool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let shutdown = shutdown.fuse();
    let mut shutdown = std::pin::pin!(shutdown);
    let js = tokio::select! {
        biased;
        _ = &mut shutdown => return Ok(()),
        js = infra::nats::connect(&settings) => js?,
    };
    // Session locks live on a connection of their own, outside the pool:
    // if this process dies, Postgres releases the lock with the connection.
    let mut lock_conn = tokio::select! {
        biased;
        _ = &mut shutdown => return Ok(()),
        conn = wait_to_lead(&pool) => conn?,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let subscribed = async {
            let after = checkpoint(&pool).await?;
            let consumer = consumer(&js, &settings, after).await?;
            consumer
                .messages()
                .await
                .context("subscribing to the consumer")
        };
        let messages = tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            m = subscribed => m,
        };
        match messages {
            Ok(messages) => {
                backoff = FIRST_BACKOFF;
                tracing::info!(consumer = %consumer_name(), "projection worker consuming");
                match consume(&pool, &mut lock_conn, messages, &mut shutdown).await {
                    Stop::Shutdown => {
                        tracing::info!("projection worker stopped");
                        return Ok(());
                    }
                    Stop::Resubscribe => {}
                    Stop::LostLock => {
                        tracing::warn!("lost the worker lock; waiting to lead again");
                        lock_conn = tokio::select! {
                            biased;
                            _ = &mut shutdown => return Ok(()),
                            conn = wait_to_lead(&pool) => conn?,
                        };
                    }
                }
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "cannot reach the event stream"),
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits until this worker holds [`WORKER_LOCK`] for its consumer, and
/// returns the connection that holds it.
async fn wait_to_lead(pool: &PgPool) -> anyhow::Result<PgConnection> {
    let name = consumer_name();
    loop {
        let attempt = async {
            let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
            loop {
                let led: bool = sqlx::query_scalar("select pg_try_advisory_lock($1, hashtext($2))")
                    .bind(WORKER_LOCK)
                    .bind(&name)
                    .fetch_one(&mut conn)
                    .await?;
                if led {
                    return Ok::<_, sqlx::Error>(conn);
                }
                tokio::time::sleep(STANDBY_RETRY).await;
            }
        };
        match attempt.await {
            Ok(conn) => {
                tracing::info!(consumer = %name, "projection worker leads its consumer");
                return Ok(conn);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot take the worker lock; retrying");
                tokio::time::sleep(STANDBY_RETRY).await;
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The shutdown signal came.
    Shutdown,
    /// The message stream broke; subscribe again.
    Resubscribe,
    /// The connection holding the worker lock broke: another worker may
    /// lead now.
    LostLock,
}

/// Takes batches off the subscription until it breaks, the lock is lost or
/// shutdown comes.
async fn consume<S>(
    pool: &PgPool,
    lock_conn: &mut PgConnection,
    mut messages: pull::Stream,
    shutdown: &mut S,
) -> Stop
where
    S: Future<Output = ()> + Unpin + futures::future::FusedFuture,
{
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut *shutdown => return Stop::Shutdown,
            m = messages.next() => m,
        };
        let mut batch = match first {
            Some(Ok(m)) => vec![m],
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the message stream broke; subscribing again");
                return Stop::Resubscribe;
            }
            None => return Stop::Resubscribe,
        };
        let mut broken = false;
        // Whatever has already arrived joins the batch; nothing waits for more.
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => batch.push(m),
                Some(Some(Err(e))) => {
                    tracing::warn!(error = %e, "the message stream broke after a batch");
                    broken = true;
                    break;
                }
                Some(None) => {
                    broken = true;
                    break;
                }
                None => break,
            }
        }
        // Still the only worker? Checked before each batch, so a worker
        // whose lock connection broke never applies beside its successor.
        if lock_conn.execute("select 1").await.is_err() {
            return Stop::LostLock;
        }
        if handle(pool, &batch, shutdown).await.is_err() {
            return Stop::Shutdown;
        }
        if shutdown.is_terminated() || (&mut *shutdown).now_or_never().is_some() {
            return Stop::Shutdown;
        }
        if broken {
            return Stop::Resubscribe;
        }
    }
}

/// A message as the batch sees it.
enum Item {
    Envelope(Box<Envelope>),
    Unreadable(Parcel, String),
}

fn read(message: &jetstream::Message) -> Item {
    match serde_json::from_slice::<Envelope>(&message.payload) {
        Ok(env) => Item::Envelope(Box::new(env)),
        Err(e) => {
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let parcel = Parcel::of_raw(&message.payload, message.subject.as_str(), sequence);
            Item::Unreadable(parcel, format!("not an event envelope: {e}"))
        }
    }
}

/// Shutdown came while a batch was being retried: nothing of it was
/// committed or acked, and JetStream will redeliver it.
struct Abandoned;

/// Applies a batch until it commits, then acks it.
async fn handle<S>(
    pool: &PgPool,
    batch: &[jetstream::Message],
    shutdown: &mut S,
) -> Result<(), Abandoned>
where
    S: Future<Output = ()> + Unpin + futures::future::FusedFuture,
{
    let items: Vec<Item> = batch.iter().map(read).collect();
    let last_sequence = batch
        .iter()
        .filter_map(|m| m.info().ok().map(|i| i.stream_sequence))
        .max()
        .unwrap_or(0);
    let mut backoff = FIRST_BACKOFF;
    // Without savepoints first; a poison event in the batch spoils that
    // transaction, and the batch is redone at once with them (and parks it).
    let mut guard = Guard::Optimistic;
    loop {
        match apply_batch(pool, &items, last_sequence, guard).await {
            Ok(()) => break,
            Err(BatchError::Poison) => {
                tracing::info!(
                    "a batch holds an event that cannot be applied; redoing it with savepoints"
                );
                guard = Guard::Savepoint;
            }
            Err(BatchError::Transient(e)) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = backoff.as_millis() as u64,
                    "a batch failed and is retried"
                );
                // Keep JetStream from redelivering what we still hold.
                join_all(batch.iter().map(|m| m.ack_with(AckKind::Progress))).await;
                tokio::select! {
                    biased;
                    _ = &mut *shutdown => return Err(Abandoned),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // After the commit: an ack that is lost only costs a redelivery, which
    // the stream-version guard makes a no-op. The consumer acks all (see
    // [`consumer`]): the last message's ack covers the batch.
    if let Some(last) = batch.last() {
        if let Err(e) = last.double_ack().await {
            tracing::warn!(error = %e, subject = %last.subject, "ack failed; the batch will be redelivered");
        }
    }
    Ok(())
}

/// Why a batch did not commit.
enum BatchError {
    /// An event of it cannot be applied (only with [`Guard::Optimistic`]).
    Poison,
    /// Anything else: retried after a backoff.
    Transient(anyhow::Error),
}

impl BatchError {
    /// A failed apply: poison when applying optimistically and the error is
    /// permanent, transient otherwise.
    fn of(e: ApplyError, guard: Guard) -> Self {
        if guard.finds_poison(&e) {
            BatchError::Poison
        } else {
            BatchError::Transient(transient(e))
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for BatchError {
    fn from(e: E) -> Self {
        BatchError::Transient(e.into())
    }
}

/// How a batch's transaction begins: with the pause lock shared and
/// `search_path` (what `schema::use_schema` sets), in the same round trip.
static BEGIN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "begin; select pg_advisory_xact_lock_shared({}); set local search_path to {LIVE_SCHEMA}",
        crate::PAUSE_LOCK
    )
});

/// One transaction: pause lock shared, `read_model`, every item in one
/// [`Batch`], whose close also records the checkpoint; commit.
async fn apply_batch(
    pool: &PgPool,
    items: &[Item],
    last_sequence: u64,
    guard: Guard,
) -> Result<(), BatchError> {
    let mut tx = pool.begin_with(BEGIN.as_str()).await?;
    let streams = items.iter().filter_map(|item| match item {
        Item::Envelope(env) => Some(env.streamid.as_str()),
        Item::Unreadable(..) => None,
    });
    let mut batch = Batch::open(&mut tx, streams)
        .await
        .map_err(|e| BatchError::Transient(transient(e)))?;
    if guard == Guard::Savepoint {
        batch = batch.eager();
    }
    for item in items {
        match item {
            Item::Envelope(env) => {
                let outcome = process_with(&mut tx, &mut batch, env, None, guard)
                    .await
                    .map_err(|e| BatchError::of(e, guard))?;
                tracing::debug!(stream = %env.streamid, version = env.streamversion, ?outcome, "processed");
            }
            Item::Unreadable(parcel, error) => {
                tracing::error!(subject = %parcel.event_type, %error, "parking a message that is not an envelope");
                park_in(&mut tx, &mut batch, parcel, error)
                    .await
                    .map_err(|e| BatchError::Transient(transient(e)))?;
            }
        }
    }
    // The close writes what the batch deferred, so it can meet poison too.
    let notifications = batch
        .close(
            &mut tx,
            Some(i64::try_from(last_sequence).unwrap_or(i64::MAX)),
        )
        .await
        .map_err(|e| BatchError::of(e, guard))?;
    tx.commit().await?;
    // Committed: a failure now only delays the waiters to their re-check.
    if let Err(e) = notifications.send(pool).await {
        tracing::warn!(error = %e, "cannot notify read_model_applied; waiters will re-check");
    }
    Ok(())
}

fn transient(e: ApplyError) -> anyhow::Error {
    anyhow::Error::new(e).context("applying the batch")
}
