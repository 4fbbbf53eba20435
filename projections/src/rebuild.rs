//! Rebuilding the read model from zero, from the Postgres log, while the
//! query side keeps serving (docs/adr/0004).
//!
//! 1. Schema `read_model_next` is dropped if a failed rebuild left it, and
//!    created afresh from the same DDL.
//! 2. The log is replayed into it in the relay's commit-safe order: events
//!    whose writing transaction is older than every running one (the
//!    horizon, `pg_snapshot_xmin(pg_current_snapshot())`), in batches keyed
//!    by `(txid, position)`, through the same [`process_with`] as the live worker.
//!    Nothing can later appear behind that key, so nothing is skipped. Each
//!    catch-up round stops at the horizon it started with, so it ends even
//!    while writes keep coming.
//!    The log is read and decoded a batch ahead, on a thread and a
//!    connection of its own (`LogReader`); each batch's history rows,
//!    posted messages' rows and report facts, and stream versions are
//!    written after its commit, on another connection, while the next
//!    batch is applied (in the log's order a batch knows where its streams
//!    stand without reading their versions, `Start::InOrder`, and a
//!    conversation created after its first messages takes their activity
//!    from memory, `EarlyActivity`, instead of from their rows). The secondary indexes of the
//!    biggest tables that the replay never reads through
//!    ([`DEFERRED_INDEXES`]) and the history's key ([`DEFERRED_KEYS`]) are
//!    dropped before it and built once it has caught up: one sorted build
//!    instead of an index entry placed at a time for every row.
//! 3. Caught up, it builds the deferred indexes and keys, and vacuums and
//!    analyzes the new tables (statistics for the planner, dead row
//!    versions of the replay's updates gone), two tables' work at a time,
//!    then takes [`crate::PAUSE_LOCK`] exclusively. The live
//!    worker holds it shared in each transaction, so this waits for the
//!    batch in flight and then pauses the worker. It replays the rest up to
//!    the horizon of that moment, which is at or past every event the worker
//!    has ever applied (the relay only publishes below an earlier horizon,
//!    and horizons only move forward).
//! 4. One transaction renames `read_model` to `read_model_old_<n>` and
//!    `read_model_next` to `read_model`. Queries name `read_model.<table>`,
//!    so they move to the new tables at once. The old schema is dropped
//!    while the lock is still held (which also invalidates any cached plan
//!    still pointing at it), then the lock is released.
//!
//! The new schema takes over the live one's NATS checkpoint, so the worker
//! then carries on from NATS where it was; whatever the rebuild already
//! applied is a duplicate to the new schema's `stream_versions` guard.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use infra::envelope::Envelope;
use infra::stored::{StoredEvent, LOG_ORDER, TEXT_COLUMNS};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::batch::{reads_side_rows, Batch, SideRows, Start};
use crate::messages::EarlyActivity;
use crate::process::{process_with, Decoded, Guard, Outcome};
use crate::schema::{self, LIVE_SCHEMA};

/// The schema a rebuild fills before it is swapped in.
pub const NEXT_SCHEMA: &str = "read_model_next";
/// Events read and applied per transaction. Messages and counter moves are
/// written once per run, so a longer batch writes less often (1,000 → 5,000:
/// a quick bench's log replayed in 19–20 s instead of 20.5–23).
pub const BATCH: usize = 5000;
/// Catch-up rounds before the rebuild pauses the worker regardless.
const CATCH_UP_ROUNDS: usize = 20;
/// Attempts of one batch before the rebuild gives up.
const ATTEMPTS: u32 = 5;
/// Advisory-lock key that keeps two rebuilds apart ("rmrebld").
const REBUILD_LOCK: i64 = 0x0072_6d72_6562_6c64;
/// Indexes of `sql/read_model.sql` the replay builds after it has caught
/// up instead of maintaining them row by row: indexes that a replay reads
/// through only to delete an account (the query service's, for its lists
/// and look-ups; the messages' by conversation, which the live worker's
/// creations look their earlier messages up through, a replay's take from
/// memory, `EarlyActivity`). Those of the tables that grow with every message
/// (history, messages, their report facts) would take an entry per row;
/// those of conversations, their contacts' inboxes and report rows one per
/// row and, for the conversations' lists, one more at every message run or
/// change that moves a conversation (its activity time and status are in
/// the lists' keys; with those indexes gone such an update can be a HOT
/// one, which touches no index). Naming one here is a speed decision only:
/// the schema swapped in has every index either way. An account deleted
/// during the replay scans those tables instead.
pub const DEFERRED_INDEXES: &[&str] = &[
    "history_conversation_idx",
    "history_contact_idx",
    "history_account_idx",
    "messages_conversation_idx",
    "messages_account_idx",
    "report_messages_account_idx",
    "conversations_list_idx",
    "conversations_inbox_idx",
    "conversations_contact_idx",
    "contact_inboxes_contact_idx",
    "contact_inboxes_source_idx",
    "report_conversations_created_idx",
    "report_conversations_response_idx",
];
/// Constraints of `sql/read_model.sql` the replay adds after it has caught
/// up, for the same reason as [`DEFERRED_INDEXES`]: the history's primary
/// key, an index on a text and a number that every event's row went into
/// at a random place (7.5 s of a full-size replay's 19 s of history
/// inserts). The replay writes each event's history row once, with no
/// `on conflict` (`Batch::open_replay`), so nothing reads the key
/// before it is there; a row written twice would fail its build, and with
/// it the rebuild.
pub const DEFERRED_KEYS: &[&str] = &["history_pkey"];

/// The message of the line a rebuild logs when it is done, with its
/// counts and where its time went (`applying_ms`, `waiting_for_reads_ms`,
/// `waiting_for_side_rows_ms`, `indexing_and_vacuuming_ms`; the bench reads
/// them).
pub const REBUILT: &str = "read model rebuilt and swapped in";

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events read from the log and processed.
    pub events: u64,
    /// Of those, the ones applied to the read model.
    pub applied: u64,
    /// Of those, the ones parked or held (poison and what follows it).
    pub parked: u64,
    /// Wall-clock time, swap included.
    pub duration: Duration,
    /// The name the replaced schema had while it was dropped.
    pub replaced: Option<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    txid: i64,
    position: i64,
}

/// What a rebuild carries from batch to batch: where it is in the log,
/// what it remembers of conversations that messages moved before their
/// creation ([`Batch::open_replay`]), and its counts.
#[derive(Debug, Default)]
struct Progress {
    cursor: Cursor,
    early: EarlyActivity,
    tally: Tally,
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    events: u64,
    applied: u64,
    parked: u64,
    /// Where the replay's time went: applying batches (their transactions,
    /// retries included), waiting for the next batch's read once an apply
    /// was done, and waiting for the side writer to take a batch's rows.
    applying: Duration,
    waiting_for_reads: Duration,
    waiting_for_side_rows: Duration,
}

/// Rebuilds `read_model` from the log and swaps it in. With `progress`, a
/// progress bar is drawn on stderr.
pub async fn rebuild(pool: &PgPool, progress: bool) -> anyhow::Result<RebuildReport> {
    rebuild_in_batches(pool, progress, BATCH).await
}

/// [`rebuild`], reading and applying `batch` events a transaction instead
/// of [`BATCH`] (a test's small log then spans several batches).
pub async fn rebuild_in_batches(
    pool: &PgPool,
    progress: bool,
    batch: usize,
) -> anyhow::Result<RebuildReport> {
    anyhow::ensure!(batch > 0, "a rebuild's batch holds at least one event");
    let started = Instant::now();
    // Session locks live on a connection of their own, outside the pool: if
    // the rebuild fails or is dropped, closing it releases them.
    let mut lock_conn = PgConnection::connect_with(&pool.connect_options())
        .await
        .context("opening the rebuild's lock connection")?;
    let alone: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(REBUILD_LOCK)
        .fetch_one(&mut lock_conn)
        .await?;
    anyhow::ensure!(alone, "another rebuild is running");

    let mut tx = pool.begin().await?;
    tx.execute(format!("drop schema if exists {NEXT_SCHEMA} cascade").as_str())
        .await?;
    schema::create_in(&mut tx, NEXT_SCHEMA).await?;
    let deferred = defer_indexes(&mut tx).await?;
    tx.commit().await?;

    // The bar's length only: counting the log reads all of it (0.4 s at
    // 1.5 million events), so a rebuild without a bar does not.
    let total: i64 = if progress {
        sqlx::query_scalar("select count(*) from event_store.events")
            .fetch_one(pool)
            .await?
    } else {
        0
    };
    let bar = progress_bar(total, progress)?;
    let mut progress = Progress::default();

    // Catch up while the live worker runs. Each round stops at the horizon
    // it started with, so a round ends even under a steady stream of writes;
    // once a round is short, the paused stretch will be short too.
    bar.set_message("replaying the log");
    for _ in 0..CATCH_UP_ROUNDS {
        let horizon = horizon(pool).await?;
        let replayed = replay(pool, horizon, batch, &mut progress, &bar).await?;
        if replayed < batch {
            break;
        }
    }

    // The new tables have no statistics yet, and the replay left a dead
    // row version behind every update (a conversation is rewritten by its
    // status, assignment and label changes and once per run of its
    // messages): without the vacuum, the planner guesses a handful of rows
    // and the first queries after the swap sort whole tables (a deep list
    // page of 100,000 conversations: 726 ms against 40 ms once vacuumed).
    // Done before the pause, so the live worker is not held for it.
    bar.set_message("building the deferred indexes, vacuuming and analyzing");
    let finishing = Instant::now();
    finish_tables(pool, &deferred).await?;
    let finishing = finishing.elapsed();

    bar.set_message("pausing the live worker");
    sqlx::query("select pg_advisory_lock($1)")
        .bind(crate::PAUSE_LOCK)
        .execute(&mut lock_conn)
        .await
        .context("pausing the live worker")?;
    // Paused: up to the horizon of this moment, which is at or past every
    // event the relay has published (horizons only move forward). What
    // commits later reaches the new schema through the worker.
    bar.set_message("replaying the rest");
    let horizon = horizon(pool).await?;
    replay(pool, horizon, batch, &mut progress, &bar).await?;
    reconcile(pool, horizon, batch, &mut progress, &bar).await?;
    let tally = progress.tally;

    bar.set_message("swapping the schemas");
    let replaced = swap(pool).await?;
    if let Some(old) = &replaced {
        pool.execute(format!("drop schema {old} cascade").as_str())
            .await
            .with_context(|| format!("dropping {old}"))?;
    }
    sqlx::query("select pg_advisory_unlock($1), pg_advisory_unlock($2)")
        .bind(crate::PAUSE_LOCK)
        .bind(REBUILD_LOCK)
        .execute(&mut lock_conn)
        .await?;
    lock_conn.close().await?;
    bar.finish_with_message("done");

    let report = RebuildReport {
        events: tally.events,
        applied: tally.applied,
        parked: tally.parked,
        duration: started.elapsed(),
        replaced,
    };
    tracing::info!(
        events = report.events,
        applied = report.applied,
        parked = report.parked,
        duration_ms = report.duration.as_millis() as u64,
        applying_ms = tally.applying.as_millis() as u64,
        waiting_for_reads_ms = tally.waiting_for_reads.as_millis() as u64,
        waiting_for_side_rows_ms = tally.waiting_for_side_rows.as_millis() as u64,
        indexing_and_vacuuming_ms = finishing.as_millis() as u64,
        "{REBUILT}"
    );
    Ok(report)
}

fn progress_bar(total: i64, visible: bool) -> anyhow::Result<ProgressBar> {
    let length = u64::try_from(total).unwrap_or(0);
    let bar = if visible {
        ProgressBar::new(length)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "[{elapsed_precise}] {wide_bar} {pos}/{len} events, {per_sec}, eta {eta} ({msg})",
        )?
        .progress_chars("=> "),
    );
    Ok(bar)
}

/// A deferred index or key: its table and the statement that builds it.
struct DeferredIndex {
    table: String,
    definition: String,
}

/// Drops the [`DEFERRED_INDEXES`] and [`DEFERRED_KEYS`] of the schema
/// being built and returns how to build them again, as Postgres states
/// them.
async fn defer_indexes(conn: &mut PgConnection) -> anyhow::Result<Vec<DeferredIndex>> {
    let indexes: Vec<(String, String, String)> = sqlx::query_as(
        "select indexname::text, tablename::text, indexdef from pg_indexes \
         where schemaname = $1 and indexname = any($2) order by indexname",
    )
    .bind(NEXT_SCHEMA)
    .bind(DEFERRED_INDEXES)
    .fetch_all(&mut *conn)
    .await?;
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "select c.conname::text, t.relname::text, pg_get_constraintdef(c.oid) \
         from pg_constraint c join pg_class t on t.oid = c.conrelid \
         join pg_namespace n on n.oid = t.relnamespace \
         where n.nspname = $1 and c.conname = any($2) order by c.conname",
    )
    .bind(NEXT_SCHEMA)
    .bind(DEFERRED_KEYS)
    .fetch_all(&mut *conn)
    .await?;
    anyhow::ensure!(
        indexes.len() == DEFERRED_INDEXES.len() && keys.len() == DEFERRED_KEYS.len(),
        "the read-model schema lacks some of the indexes and keys a rebuild defers \
         (found {:?} of {DEFERRED_INDEXES:?} and {DEFERRED_KEYS:?})",
        indexes
            .iter()
            .chain(&keys)
            .map(|(name, ..)| name)
            .collect::<Vec<_>>()
    );
    for (name, table, _) in &keys {
        schema::identifier(table)?;
        schema::identifier(name)?;
        conn.execute(format!("alter table {NEXT_SCHEMA}.{table} drop constraint {name}").as_str())
            .await
            .with_context(|| format!("dropping the deferred key {name}"))?;
    }
    let names: Vec<String> = indexes
        .iter()
        .map(|(name, ..)| format!("{NEXT_SCHEMA}.{name}"))
        .collect();
    conn.execute(format!("drop index {}", names.join(", ")).as_str())
        .await
        .context("dropping the deferred indexes")?;
    let keys = keys
        .into_iter()
        .map(|(name, table, definition)| DeferredIndex {
            definition: format!(
                "alter table {NEXT_SCHEMA}.{table} add constraint {name} {definition}"
            ),
            table,
        });
    Ok(indexes
        .into_iter()
        .map(|(_, table, definition)| DeferredIndex { table, definition })
        .chain(keys)
        .collect())
}

/// Builds the deferred indexes again and vacuums and analyzes every table
/// of the schema being built, two pieces of work at a time on two
/// connections: each table with deferred indexes has them built and is
/// then vacuumed (the index build's lock would hold its vacuum back
/// anyway), and the other tables are vacuumed together. One after the
/// other, the builds and the vacuum took 5.3 s at full size with half the
/// box idle. The biggest table (most deferred indexes) goes first.
async fn finish_tables(pool: &PgPool, deferred: &[DeferredIndex]) -> anyhow::Result<()> {
    let tables = schema::tables(pool, NEXT_SCHEMA).await?;
    let mut builds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for index in deferred {
        builds
            .entry(index.table.as_str())
            .or_default()
            .push(index.definition.as_str());
    }
    let rest: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !builds.contains_key(t))
        .collect();
    // (indexes to build, tables to vacuum after them): the table with the
    // most indexes first, then the rest, then the other indexed tables.
    let mut work: Vec<(Vec<&str>, Vec<&str>)> = builds
        .into_iter()
        .map(|(table, definitions)| (definitions, vec![table]))
        .collect();
    work.sort_by_key(|(definitions, _)| std::cmp::Reverse(definitions.len()));
    work.insert(work.len().min(1), (Vec::new(), rest));
    futures::stream::iter(work.into_iter().map(|(builds, vacuumed)| async move {
        for definition in builds {
            pool.execute(definition)
                .await
                .with_context(|| format!("building a deferred index: {definition}"))?;
        }
        schema::vacuum_analyze_tables(pool, NEXT_SCHEMA, &vacuumed).await
    }))
    .buffer_unordered(2)
    .try_collect::<Vec<()>>()
    .await?;
    Ok(())
}

/// The commit-safe horizon: every transaction with a smaller id has ended,
/// and every transaction to come gets a larger one.
async fn horizon(pool: &PgPool) -> anyhow::Result<i64> {
    let horizon: i64 =
        sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await?;
    Ok(horizon)
}

/// Replays the log from `progress`'s cursor up to `horizon`, a batch at a time, and
/// returns how many events it held. Each batch is read while the one
/// before it is applied, by a [`LogReader`] on a thread and a connection of
/// its own. The history rows, posted messages' rows and report facts, and
/// stream versions of each applied batch are written by a [`SideWriter`]
/// beside the next batch's
/// apply; the batches follow the log from its start ([`Start::InOrder`]),
/// so none of them reads the versions.
async fn replay(
    pool: &PgPool,
    horizon: i64,
    batch: usize,
    progress: &mut Progress,
    bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let mut replayed = 0;
    let mut reader = LogReader::start(&pool.connect_options(), horizon, batch, progress.cursor)?;
    let mut side = SideWriter::start(pool);
    loop {
        let waiting = Instant::now();
        let events = reader.next().await?;
        progress.tally.waiting_for_reads += waiting.elapsed();
        let Some(after) = events.last().map(Logged::cursor) else {
            break;
        };
        apply_counted(pool, &events, Start::InOrder, progress, bar, &mut side).await?;
        progress.cursor = after;
        replayed += events.len();
        reader.give_back(events);
    }
    side.finish().await?;
    Ok(replayed)
}

/// An event of the log as the replay applies it: its envelope, its event
/// decoded by the [`LogReader`] straight from the payload's text, and that
/// text. The envelope of an event that decoded leaves the payload out
/// (`data` null: nothing of the apply reads it, and building it was most of
/// the reader's work); one that did not decode has it, and the apply
/// decodes it again and parks it with the error.
struct Logged {
    env: Envelope,
    event: Option<domain::Event>,
    payload: String,
}

impl Logged {
    /// Its place in the log's order.
    fn cursor(&self) -> Cursor {
        Cursor {
            txid: self.env.txid,
            position: self.env.position,
        }
    }

    /// The event, if the reader decoded it, with the text it came from.
    fn decoded(&self) -> Option<Decoded<'_>> {
        let event = self.event.as_ref()?;
        Some(Decoded {
            event,
            payload: &self.payload,
        })
    }
}

impl From<StoredEvent<String>> for Logged {
    fn from(stored: StoredEvent<String>) -> Self {
        let event = stored.decode().ok();
        let (mut env, payload) = Envelope::without_payload(stored);
        if event.is_none() {
            env.data = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
        }
        Logged {
            env,
            event,
            payload,
        }
    }
}

/// Reads the log ahead of the apply, a batch at a time, on a thread and a
/// connection of its own, and hands each batch over decoded; the apply
/// gives each batch back once it is done with it, and the reader frees it.
/// Reading is a quarter of a replay's database time and needs nothing the
/// apply writes. Turning the rows into envelopes (every payload's JSON
/// parsed) was a third of the projection's CPU, and on the apply's thread
/// it held up the answers of the apply's statements while a third of the
/// box was idle; then decoding the events and freeing the envelopes (the
/// allocator frees memory of another thread more slowly) were more than
/// half of what was left on that thread. It now reads each payload as text
/// and decodes the event straight from it ([`Logged`]): no `Value` is built
/// of a payload that decodes, which halved the projection's CPU in a
/// rebuild (user time 14.3–15.0 s → 7.3–7.6 s on 1.48 million events).
struct LogReader {
    batches: tokio::sync::mpsc::Receiver<anyhow::Result<Vec<Logged>>>,
    spent: tokio::sync::mpsc::UnboundedSender<Vec<Logged>>,
}

impl LogReader {
    /// Starts reading after `after`, below `horizon`. The reader stops after
    /// an empty batch or an error (both handed over), or once it is dropped.
    fn start(
        options: &PgConnectOptions,
        horizon: i64,
        batch: usize,
        after: Cursor,
    ) -> anyhow::Result<Self> {
        // One batch waits while the next is read.
        let (batches, received) = tokio::sync::mpsc::channel(1);
        let (spent, given_back) = tokio::sync::mpsc::unbounded_channel();
        let options = options.clone();
        std::thread::Builder::new()
            .name("rebuild-log-reader".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(read_ahead(
                        options, horizon, batch, after, batches, given_back,
                    )),
                    Err(e) => {
                        let _ = batches.blocking_send(Err(e.into()));
                    }
                }
            })
            .context("starting the log's reader")?;
        Ok(LogReader {
            batches: received,
            spent,
        })
    }

    /// The next batch: empty once the horizon is reached.
    async fn next(&mut self) -> anyhow::Result<Vec<Logged>> {
        match self.batches.recv().await {
            Some(batch) => batch,
            None => Err(anyhow::anyhow!("the log's reader stopped")),
        }
    }

    /// Gives an applied batch back to be freed on the reader's thread.
    fn give_back(&self, batch: Vec<Logged>) {
        // A reader that has stopped has dropped its end: the batch is
        // freed here instead.
        let _ = self.spent.send(batch);
    }
}

/// The [`LogReader`]'s loop.
async fn read_ahead(
    options: PgConnectOptions,
    horizon: i64,
    size: usize,
    mut after: Cursor,
    batches: tokio::sync::mpsc::Sender<anyhow::Result<Vec<Logged>>>,
    mut given_back: tokio::sync::mpsc::UnboundedReceiver<Vec<Logged>>,
) {
    let mut conn = match PgConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(e) => {
            let _ = batches
                .send(Err(
                    anyhow::Error::new(e).context("connecting the log's reader")
                ))
                .await;
            return;
        }
    };
    loop {
        while let Ok(spent) = given_back.try_recv() {
            drop(spent);
        }
        let batch = read_batch(&mut conn, horizon, size, after).await;
        let last = match &batch {
            Ok(events) => events.last().map(Logged::cursor),
            Err(_) => None,
        };
        if batches.send(batch).await.is_err() {
            break;
        }
        match last {
            Some(last) => after = last,
            None => break,
        }
    }
    let _ = conn.close().await;
}

/// Writes the history rows, posted messages' rows and report facts, and
/// stream versions of committed batches ([`SideRows`]) into the schema
/// being built, in the order it is given them, so that a batch's biggest
/// inserts (a row per event, with its payload, a message row and a fact per
/// message and a version per message stream) run beside the next batch's
/// apply instead of before its commit. Two lanes, each a task of its own
/// on a connection of the pool, write them: the history rows, and the rest
/// ([`SideRows::split`]; different tables, so either may go first). One
/// lane fell behind the apply once the messages' rows were among them
/// (waiting 5.5–6.2 s of a 32-s rebuild). Nothing reads them during a
/// replay but the events of [`reads_side_rows`], an account's or a
/// message's deletion (the batch drains the writer first); the
/// reconciliation and the swap come after [`SideWriter::finish`]. Each
/// insert is retried as a batch is (its transaction rolled back); one that
/// keeps failing fails the rebuild, which then swaps nothing in.
struct SideWriter {
    lanes: [Lane; 2],
}

impl SideWriter {
    fn start(pool: &PgPool) -> Self {
        SideWriter {
            lanes: [Lane::start(pool), Lane::start(pool)],
        }
    }

    /// Queues a committed batch's rows (waits while a lane has two
    /// queued).
    async fn send(&mut self, batch: SideRows) -> anyhow::Result<()> {
        let (history, rest) = batch.split();
        let [first, second] = &mut self.lanes;
        first.send(history).await?;
        second.send(rest).await
    }

    /// Waits until every row queued so far is written, and goes on with
    /// a fresh writer.
    async fn drain(&mut self, pool: &PgPool) -> anyhow::Result<()> {
        std::mem::replace(self, SideWriter::start(pool))
            .finish()
            .await
    }

    /// Waits until every queued row is written.
    async fn finish(self) -> anyhow::Result<()> {
        let [first, second] = self.lanes;
        let (first, second) = tokio::join!(first.finish(), second.finish());
        first.and(second)
    }
}

/// One of the [`SideWriter`]'s lanes.
struct Lane {
    rows: Option<tokio::sync::mpsc::Sender<SideRows>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Lane {
    fn start(pool: &PgPool) -> Self {
        // Two batches' rows at most wait while one is written.
        let (rows, mut queue) = tokio::sync::mpsc::channel::<SideRows>(2);
        let pool = pool.clone();
        let task = tokio::spawn(async move {
            while let Some(batch) = queue.recv().await {
                write_side_rows(&pool, &batch).await?;
            }
            Ok(())
        });
        Lane {
            rows: Some(rows),
            task,
        }
    }

    /// Queues rows (waits while two are queued).
    async fn send(&mut self, batch: SideRows) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let sent = match &self.rows {
            Some(rows) => rows.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The task ended early: it failed, and says why when it is awaited.
        self.rows = None;
        match (&mut self.task).await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(anyhow::anyhow!("the side writer stopped")),
            Err(e) => Err(anyhow::Error::new(e).context("the side writer failed")),
        }
    }

    /// Waits until every queued row is written.
    async fn finish(mut self) -> anyhow::Result<()> {
        self.rows = None;
        self.task.await.context("the side writer failed")?
    }
}

/// Inserts side rows in a transaction of their own, retried a few times.
async fn write_side_rows(pool: &PgPool, rows: &SideRows) -> anyhow::Result<()> {
    let mut retries =
        Retries::new("writing a rebuild batch's history, messages, report facts and versions");
    loop {
        let written: anyhow::Result<()> = async {
            let mut tx = pool.begin().await?;
            schema::use_schema(&mut tx, NEXT_SCHEMA).await?;
            rows.insert(&mut tx).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match written {
            Ok(()) => return Ok(()),
            Err(e) => retries.after(e).await?,
        }
    }
}

/// The retries of one piece of a rebuild's work: up to [`ATTEMPTS`] tries
/// in all, each failure logged and followed by a pause that grows.
struct Retries {
    what: &'static str,
    attempt: u32,
}

impl Retries {
    fn new(what: &'static str) -> Self {
        Retries { what, attempt: 1 }
    }

    /// After a failed try: pauses and returns, for another try, or gives
    /// the error back once the tries are used up.
    async fn after(&mut self, e: anyhow::Error) -> anyhow::Result<()> {
        if self.attempt >= ATTEMPTS {
            return Err(e.context(format!("{} failed repeatedly", self.what)));
        }
        tracing::warn!(
            error = format!("{e:#}"),
            attempt = self.attempt,
            "{} failed; retrying",
            self.what
        );
        // A backoff between tries, not a wait for some other work.
        tokio::time::sleep(Duration::from_millis(200 * u64::from(self.attempt))).await;
        self.attempt += 1;
        Ok(())
    }
}

/// The next batch after `after` below `horizon`, decoded.
async fn read_batch(
    conn: &mut PgConnection,
    horizon: i64,
    size: usize,
    after: Cursor,
) -> anyhow::Result<Vec<Logged>> {
    let events: Vec<StoredEvent<String>> = sqlx::query_as(&format!(
        "select {TEXT_COLUMNS} from event_store.events \
         where (txid, position) > ($1::text::xid8, $2) \
           and txid < $3::text::xid8 \
         order by {LOG_ORDER} limit $4"
    ))
    .bind(after.txid.to_string())
    .bind(after.position)
    .bind(horizon.to_string())
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .fetch_all(conn)
    .await
    .context("reading the log")?;
    Ok(events.into_iter().map(Logged::from).collect())
}

/// Belt and braces for the swap: with the worker paused, every event above
/// the horizon that the live read model has applied or parked, and the new
/// one has not, is taken from the log. With the relay publishing only below
/// the horizon this finds nothing; it matters when something was published
/// above it (a publisher that ignores the horizon), so that a rebuild can
/// never take away what the live model already showed. Only the log's tail
/// above the horizon is read, through the `(txid, position)` index.
async fn reconcile(
    pool: &PgPool,
    horizon: i64,
    batch: usize,
    progress: &mut Progress,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    if !schema::exists(&mut conn, LIVE_SCHEMA).await? {
        return Ok(());
    }
    let events: Vec<StoredEvent<String>> = sqlx::query_as(&format!(
        "select {TEXT_COLUMNS} from event_store.events \
         where events.txid >= $1::text::xid8 \
           and not exists (select 1 from {NEXT_SCHEMA}.parked_events q where q.position = events.position) \
           and events.stream_version > coalesce((select n.version from {NEXT_SCHEMA}.stream_versions n \
                                            where n.stream_id = events.stream_id), 0) \
           and (events.stream_version <= coalesce((select o.version from {LIVE_SCHEMA}.stream_versions o \
                                              where o.stream_id = events.stream_id), 0) \
                or exists (select 1 from {LIVE_SCHEMA}.parked_events p where p.position = events.position)) \
         order by {LOG_ORDER}"
    ))
    .bind(horizon.to_string())
    .fetch_all(&mut *conn)
    .await
    .context("comparing the new read model with the live one")?;
    drop(conn);
    if events.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        events = events.len(),
        "the live read model had events above the horizon; taking them from the log"
    );
    let events: Vec<Logged> = events.into_iter().map(Logged::from).collect();
    let mut side = SideWriter::start(pool);
    for chunk in events.chunks(batch) {
        apply_counted(pool, chunk, Start::Stored, progress, bar, &mut side).await?;
    }
    side.finish().await
}

/// Applies events in one transaction (retried a few times), counting them,
/// and hands the committed batch's side rows (history rows, posted
/// messages' rows and report facts and, with [`Start::InOrder`], its
/// streams' versions) to `side`. `progress`'s memory of early activity goes
/// on from batch to batch ([`Batch::open_replay`]).
async fn apply_counted(
    pool: &PgPool,
    events: &[Logged],
    start: Start,
    progress: &mut Progress,
    bar: &ProgressBar,
    side: &mut SideWriter,
) -> anyhow::Result<()> {
    if events
        .iter()
        .any(|e| e.event.as_ref().is_some_and(reads_side_rows))
    {
        // An account's deletion removes the account's history rows,
        // messages and report facts, a message's deletion changes its row:
        // every one of an earlier batch must be there first.
        side.drain(pool).await?;
    }
    let started = Instant::now();
    let mut retries = Retries::new("a rebuild batch");
    // Without savepoints first, as the live worker does; a batch holding an
    // event that cannot be applied is redone at once with them.
    let mut guard = Guard::Optimistic;
    let (batch, rows, carried) = loop {
        match apply_batch(pool, events, start, progress.early.clone(), guard).await {
            Ok(Some(applied)) => break applied,
            Ok(None) => {
                tracing::info!("a rebuild batch holds an event that cannot be applied; redoing it with savepoints");
                guard = Guard::Savepoint;
            }
            Err(e) => retries.after(e).await?,
        }
    };
    progress.early = carried;
    let tally = &mut progress.tally;
    let applied = Instant::now();
    tally.applying += applied - started;
    side.send(rows).await?;
    tally.waiting_for_side_rows += applied.elapsed();
    tally.events += batch.events;
    tally.applied += batch.applied;
    tally.parked += batch.parked;
    bar.inc(batch.events);
    if bar.length().is_some_and(|l| bar.position() > l) {
        bar.set_length(bar.position());
    }
    Ok(())
}

/// Applies the events in one transaction; `None` when, without savepoints,
/// one of them could not be applied (nothing is committed then). With the
/// tally come the side rows the batch left for the caller to write and
/// what it leaves of `early` for the next batch.
async fn apply_batch(
    pool: &PgPool,
    events: &[Logged],
    start: Start,
    early: EarlyActivity,
    guard: Guard,
) -> anyhow::Result<Option<(Tally, SideRows, EarlyActivity)>> {
    let mut tally = Tally::default();
    let mut tx = pool.begin().await?;
    schema::use_schema(&mut tx, NEXT_SCHEMA).await?;
    // Every event is a row of the log, read from there, once, in the
    // log's order, into a schema only the rebuild writes.
    let mut batch = Batch::open_replay(
        &mut tx,
        events
            .iter()
            .map(|e| (e.env.streamid.as_str(), e.env.streamversion)),
        start,
        early,
    )
    .await?;
    if guard == Guard::Savepoint {
        batch = batch.eager();
    }
    for logged in events {
        let outcome =
            match process_with(&mut tx, &mut batch, &logged.env, logged.decoded(), guard).await {
                Ok(outcome) => outcome,
                Err(e) if guard.finds_poison(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
        match outcome {
            Outcome::Applied => tally.applied += 1,
            Outcome::Parked | Outcome::Held => tally.parked += 1,
            Outcome::Duplicate => {}
        }
        tally.events += 1;
    }
    // Taking them writes what the batch deferred, and so does the close,
    // so both can meet poison too. Nobody waits on the schema being built:
    // its notifications are dropped.
    let closed = match batch.take_side_rows(&mut tx).await {
        Ok(rows) => {
            let early = batch.take_early_activity();
            batch.close(&mut tx, None).await.map(|_| (rows, early))
        }
        Err(e) => Err(e),
    };
    let (rows, early) = match closed {
        Ok(closed) => closed,
        Err(e) if guard.finds_poison(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok(Some((tally, rows, early)))
}

/// Renames the live schema away and the new one into its place, in one
/// transaction. Returns the old schema's new name, if there was one.
async fn swap(pool: &PgPool) -> anyhow::Result<Option<String>> {
    let mut tx = pool.begin().await?;
    let old = if schema::exists(&mut tx, LIVE_SCHEMA).await? {
        // The new read model holds everything the live one did (the worker
        // is paused), so the worker carries on after the same message.
        tx.execute(
            format!(
                "update {NEXT_SCHEMA}.projection_state set stream_sequence = \
                 (select stream_sequence from {LIVE_SCHEMA}.projection_state where id = 1) \
                 where id = 1"
            )
            .as_str(),
        )
        .await?;
        let old = format!(
            "{LIVE_SCHEMA}_old_{}",
            chrono::Utc::now().timestamp_millis()
        );
        tx.execute(format!("alter schema {LIVE_SCHEMA} rename to {old}").as_str())
            .await?;
        Some(old)
    } else {
        None
    };
    tx.execute(format!("alter schema {NEXT_SCHEMA} rename to {LIVE_SCHEMA}").as_str())
        .await?;
    tx.commit().await.context("swapping the schemas")?;
    Ok(old)
}
