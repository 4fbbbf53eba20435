//! The relay: publishes the committed log to NATS JetStream, in an order that
//! can never skip an event.
//!
//! Positions are drawn at insert, not at commit, so a reader that follows
//! positions can pass a position whose transaction commits later and skip it
//! forever. The relay instead reads only rows written by transactions older
//! than the oldest transaction still running, `txid < pg_snapshot_xmin(pg_current_snapshot())`,
//! ordered by `(txid, position)`, and keeps its checkpoint as that pair. Every
//! transaction below the horizon has ended, and every transaction that writes
//! later gets a larger txid, so nothing can appear behind the checkpoint. The
//! argument is written out in docs/adr/0002-relay-transaction-horizon.md.
//!
//! One relay is active at a time: the leader holds a session advisory lock
//! on its own connection; standbys try for it every [`STANDBY_RETRY`], and
//! take over as soon as a dead leader's connection is gone. The leader wakes
//! on the `events_appended` notification sent after each appending commit
//! (`crate::event_store::RelayWaker`), so
//! there is no polling delay between a commit and its publish; only while a
//! committed event waits behind an older open transaction does it re-check
//! every [`BLOCKED_RETRY`].
//!
//! Each event is published with `Nats-Msg-Id` = event id (JetStream drops
//! duplicates within its window) and a `Correlation-Id` header carried from
//! the request that caused it, and the checkpoint moves only after
//! JetStream has acknowledged every message of the batch. The leader keeps
//! it in memory and writes it at most every [`CHECKPOINT_EVERY`].

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use futures::future::try_join_all;
use infra::envelope::Envelope;
use infra::stored::{StoredEvent, COLUMNS, LOG_ORDER};
use infra::Settings;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::event_store::APPENDED_CHANNEL;

/// Advisory-lock key of the relay leadership ("relay" in ASCII).
pub const LEADER_LOCK: i64 = 0x72_65_6c_61_79;
/// How often a standby tries to become leader.
pub const STANDBY_RETRY: Duration = Duration::from_millis(500);
/// How often the leader re-checks while committed events wait behind an open transaction.
pub const BLOCKED_RETRY: Duration = Duration::from_millis(5);
/// Longest sleep without a notification (a safety net, not the normal path).
pub const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// How long publishing may wait behind an open transaction before the relay
/// says so in its log (and again every as long while it lasts).
pub const BLOCKED_WARN_AFTER: Duration = Duration::from_secs(5);
/// Events read and published per round.
pub const BATCH: i64 = 500;
/// How often, at most, the leader writes its checkpoint and checks that it
/// still holds the lock while it publishes. Rounds are small at moderate
/// rates (a few events each), and both were a statement every round.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The relay's checkpoint: the last `(txid, position)` JetStream acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Writing transaction of the last published event.
    pub txid: i64,
    /// Its position.
    pub position: i64,
}

/// Reads the checkpoint.
pub async fn checkpoint(conn: &mut PgConnection) -> Result<Checkpoint, sqlx::Error> {
    let (txid, position): (i64, i64) = sqlx::query_as(
        "select last_txid::text::bigint, last_position from event_store.relay_checkpoint where id = 1",
    )
    .fetch_one(conn)
    .await?;
    Ok(Checkpoint { txid, position })
}

/// Whether committed events wait behind a transaction that is still open:
/// whether the newest visible event's txid is at or past the horizon.
///
/// Asked as `max(txid)`, which is one step of a backward scan of
/// `events_txid_position_idx`. The equivalent `exists(... where txid >=
/// horizon)` cannot be estimated (the horizon is only known at run time),
/// so Postgres scanned the whole log for it: 58 ms at 47k events, measured
/// with `explain analyze`, and the relay asks every round (public for the
/// test that checks its plan).
pub const BLOCKED_SQL: &str =
    "select coalesce(max(txid) >= pg_snapshot_xmin(pg_current_snapshot()), false) as blocked \
     from event_store.events";

/// The next events after `after` that no open transaction can precede, and
/// whether committed events wait behind an open transaction, as the same
/// snapshot saw them: a [`Round`], in one statement.
pub async fn next_batch(
    conn: &mut PgConnection,
    after: Checkpoint,
    limit: i64,
) -> Result<Round, sqlx::Error> {
    let rows: Vec<RoundRow> = sqlx::query_as(&NEXT_BATCH_SQL)
        .bind(after.txid.to_string())
        .bind(after.position)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    let blocked = rows.first().is_some_and(|row| row.blocked);
    let events = rows.into_iter().filter_map(|row| row.event).collect();
    Ok(Round { events, blocked })
}

/// What one read of the log found.
#[derive(Debug)]
pub struct Round {
    /// The events to publish, in the log's order.
    pub events: Vec<StoredEvent>,
    /// Whether committed events wait behind an open transaction.
    pub blocked: bool,
}

/// A row of [`NEXT_BATCH_SQL`]: an event, or none when the read found
/// nothing (the blocked check's row alone).
struct RoundRow {
    event: Option<StoredEvent>,
    blocked: bool,
}

impl<'r> sqlx::FromRow<'r, PgRow> for RoundRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let event = match row.try_get::<Option<i64>, _>("position")? {
            Some(_) => Some(StoredEvent::from_row(row)?),
            None => None,
        };
        Ok(RoundRow {
            event,
            blocked: row.try_get("blocked")?,
        })
    }
}

/// The query of [`next_batch`] (public for the test that checks its plan):
/// the blocked check's one row, joined to the events to publish (none, or
/// up to the limit). The check reads the events' own snapshot.
pub static NEXT_BATCH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select e.*, h.blocked from ({BLOCKED_SQL}) h \
         left join lateral ( \
           select {COLUMNS} from event_store.events \
           where (txid, position) > ($1::text::xid8, $2) \
             and txid < pg_snapshot_xmin(pg_current_snapshot()) \
           order by {LOG_ORDER} limit $3) e on true \
         order by e.txid, e.position"
    )
});

/// What [`publish_batch`] did.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// How many events it published.
    pub count: usize,
    /// The checkpoint now, for [`save_checkpoint`].
    pub checkpoint: Checkpoint,
    /// [`Round::blocked`] of the read it published.
    pub blocked: bool,
}

/// Publishes the batch after `after`.
pub async fn publish_batch(
    conn: &mut PgConnection,
    js: &jetstream::Context,
    subject_prefix: &str,
    after: Checkpoint,
) -> anyhow::Result<Published> {
    let Round {
        events: batch,
        blocked,
    } = next_batch(conn, after, BATCH).await?;
    let Some(last) = batch.last() else {
        return Ok(Published {
            count: 0,
            checkpoint: after,
            blocked,
        });
    };
    let mut acks = Vec::with_capacity(batch.len());
    for event in &batch {
        let envelope = Envelope::from_stored(event);
        let payload = serde_json::to_vec(&envelope)?;
        let publish = jetstream::message::PublishMessage::build()
            .message_id(event.event_id.to_string())
            .header("Correlation-Id", envelope.correlationid.as_str())
            .payload(payload.into());
        let ack = js
            .send_publish(envelope.subject(subject_prefix), publish)
            .await
            .context("sending to JetStream")?;
        acks.push(std::future::IntoFuture::into_future(ack));
    }
    try_join_all(acks)
        .await
        .context("waiting for JetStream acknowledgements")?;
    Ok(Published {
        count: batch.len(),
        checkpoint: Checkpoint {
            txid: last.txid,
            position: last.position,
        },
        blocked,
    })
}

/// Writes the checkpoint, counting `published` more events. Only a forward
/// move: a deposed leader that was still finishing a batch can never drag
/// the checkpoint back.
pub async fn save_checkpoint(
    conn: &mut PgConnection,
    checkpoint: Checkpoint,
    published: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update event_store.relay_checkpoint \
         set last_txid = $1::text::xid8, last_position = $2, published = published + $3, updated_at = now() \
         where id = 1 and (last_txid, last_position) < ($1::text::xid8, $2)",
    )
    .bind(checkpoint.txid.to_string())
    .bind(checkpoint.position)
    .bind(published)
    .execute(conn)
    .await?;
    Ok(())
}

async fn try_lead(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK)
        .fetch_one(conn)
        .await
}

/// Runs the relay until `shutdown` resolves: wait to lead, then publish.
pub async fn run(
    settings: Settings,
    pool: PgPool,
    js: jetstream::Context,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let lead = async {
            let mut lock_conn = PgConnection::connect_with(&pool.connect_options()).await?;
            while !try_lead(&mut lock_conn).await? {
                tokio::time::sleep(STANDBY_RETRY).await;
            }
            tracing::info!("relay is the leader");
            lead(&settings, &pool, &js, &mut lock_conn).await
        };
        tokio::select! {
            result = lead => {
                if let Err(e) = result {
                    tracing::error!(error = format!("{e:#}"), "relay lost its footing; starting over");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = &mut shutdown => return Ok(()),
                }
            }
            _ = &mut shutdown => {
                tracing::info!("relay stopping");
                return Ok(());
            }
        }
    }
}

/// Logs the oldest open writing transaction of the cluster, which holds
/// publishing back (ADR 0002: the horizon is cluster-wide).
async fn warn_blocked(conn: &mut PgConnection, blocked_for: Duration) {
    type Oldest = (i32, Option<String>, Option<String>, Option<f64>);
    let oldest: Result<Option<Oldest>, _> = sqlx::query_as(
        "select pid, datname, left(query, 120), \
                    extract(epoch from now() - xact_start)::float8 \
             from pg_stat_activity where backend_xid is not null \
             order by xact_start limit 1",
    )
    .fetch_optional(conn)
    .await;
    match oldest {
        Ok(Some((pid, database, query, age))) => tracing::warn!(
            blocked_ms = blocked_for.as_millis() as u64,
            pid,
            database,
            query,
            age_s = age,
            "publishing waits behind an open writing transaction"
        ),
        _ => tracing::warn!(
            blocked_ms = blocked_for.as_millis() as u64,
            "publishing waits behind an open writing transaction"
        ),
    }
}

async fn lead(
    settings: &Settings,
    pool: &PgPool,
    js: &jetstream::Context,
    lock_conn: &mut PgConnection,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(APPENDED_CHANNEL).await?;
    // A connection of its own, whose checkpoint updates do not wait for
    // the WAL flush: a checkpoint lost in a Postgres crash only means the
    // events after the older one are published again, which JetStream drops
    // as duplicates (`Nats-Msg-Id`, within its window) and every consumer
    // skips (stream versions, delivery ids). The leader is the only writer
    // of the checkpoint, so it reads it once and keeps it.
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    sqlx::query("set synchronous_commit to off")
        .execute(&mut conn)
        .await?;
    let mut after = checkpoint(&mut conn).await?;
    let mut blocked_since: Option<Instant> = None;
    let mut last_warned: Option<Instant> = None;
    // Published but not yet in the written checkpoint: at most
    // [`CHECKPOINT_EVERY`] of events, which a successor publishes again
    // (JetStream drops them as duplicates; consumers skip them), as after a
    // crash between publish and checkpoint.
    let mut unsaved: i64 = 0;
    let mut last_saved = Instant::now();
    loop {
        let round = publish_batch(&mut conn, js, &settings.subject_prefix, after).await?;
        after = round.checkpoint;
        let published = round.count;
        unsaved += published as i64;
        if last_saved.elapsed() >= CHECKPOINT_EVERY {
            if unsaved > 0 {
                save_checkpoint(&mut conn, after, unsaved).await?;
                unsaved = 0;
            }
            // Still the leader? A broken lock connection means another
            // relay may lead now (what it publishes again is dropped as above).
            sqlx::query("select 1")
                .execute(&mut *lock_conn)
                .await
                .context("leader lock connection")?;
            last_saved = Instant::now();
        }
        if published as i64 == BATCH {
            continue;
        }
        let wait = if round.blocked {
            let since = *blocked_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= BLOCKED_WARN_AFTER
                && last_warned.is_none_or(|t: Instant| t.elapsed() >= BLOCKED_WARN_AFTER)
            {
                last_warned = Some(Instant::now());
                warn_blocked(&mut conn, since.elapsed()).await;
            }
            BLOCKED_RETRY
        } else {
            blocked_since = None;
            IDLE_RECHECK
        };
        // An unwritten checkpoint is written when due even if nothing comes.
        let wait = if unsaved > 0 {
            wait.min(CHECKPOINT_EVERY.saturating_sub(last_saved.elapsed()))
        } else {
            wait
        };
        tokio::select! {
            n = listener.recv() => { n?; }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
