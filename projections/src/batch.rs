//! The bookkeeping of one apply transaction, kept per batch instead of per
//! event.
//!
//! Every applied event used to pay four statements of bookkeeping: read and
//! lock its stream's version, insert its history row, record the stream's
//! new version, advance `projection_state` (with its notification). Each is
//! cheap and each is a round trip; together they were a third of what the
//! projection spent per event. A [`Batch`] does them once per transaction:
//!
//! - [`Batch::open`] reads the applied version and first parked event of
//!   every stream of the batch in one query; later checks are in memory
//!   (a rebuild's replay, [`Batch::open_replay`], reads at most the
//!   streams whose first event in the batch is not their version 1, and
//!   in the log's order not even those, [`Start::InOrder`]);
//! - [`Batch::apply`] changes the read model for an event and only notes
//!   its history row, its stream's new version and its place in the log;
//! - creations of contacts and conversations, messages (posted ones are
//!   most of the log; status and assignment changes derive more),
//!   conversations' changes and counter moves are gathered ([`Deferred`])
//!   and written together, before an event that depends on them and at the
//!   close;
//! - [`Batch::close`] inserts the history rows (one `insert ... select from
//!   unnest`; in a replay the log's columns are copied from the log,
//!   [`Batch::open_replay`]; a rebuild takes them out before the
//!   close, [`Batch::take_side_rows`], and writes them beside the next
//!   batch), then moves every stream's version with a compare-and-set on
//!   the version read at open (a replay in the log's order writes them
//!   with its side rows instead) and advances
//!   `projection_state`, in one statement; it returns one
//!   `read_model_applied` notification per stream ([`Notifications`]),
//!   which the caller sends after its commit.
//!
//! The same statement moves the read-model generation of every account the
//! batch touched (`account_generations`; account 0 stands for rows of no
//! account, such as users) to the applying transaction's id. The query
//! service keeps rendered pages while their account's generation and the
//! global one stay what they were when it rendered them (docs/adr/0009); a
//! transaction id is never reused, also not by a rebuild, so a generation
//! can never come back.
//!
//! The compare-and-set replaces the per-event `select ... for update`: if
//! another transaction moved a stream of the batch meanwhile (two workers on
//! one read model, which the worker lock is there to prevent), fewer rows
//! match than expected and [`Batch::close`] fails with
//! [`ApplyError::Conflict`], a transient error: the caller rolls back and
//! retries, and the retry sees those events as duplicates.
//!
//! Nothing is noted in memory until the event's read-model change has
//! succeeded, so a change rolled back to a savepoint leaves the batch as it
//! was. With [`Batch::eager`] (the savepoint mode) the history row and the
//! deferred writes are written with their event, inside the caller's
//! savepoint. Without it, a gathered write that cannot be done fails a
//! later [`Batch::apply`] or the close with its permanent error instead of
//! its own event's apply; the callers redo such a transaction eagerly,
//! where the event is parked alone.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use domain::Event;
use infra::envelope::Envelope;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::activity::Activities;
use crate::apply::{Applied, ApplyError, APPLIED_CHANNEL};
use crate::counts::Counts;
use crate::creations::Creations;
use crate::history::contact_of;
use crate::messages::{EarlyActivity, MessageRows, Run};
use crate::patches::Patches;

/// What this transaction knows of one stream.
#[derive(Debug, Clone, Copy)]
struct StreamState {
    /// The version `stream_versions` holds for it in this transaction.
    stored: i64,
    /// The version applied so far (≥ `stored`).
    applied: i64,
    /// The position of its first parked event, if any.
    parked: Option<i64>,
}

impl StreamState {
    /// A stream with nothing applied and nothing parked.
    const NEW: StreamState = StreamState {
        stored: 0,
        applied: 0,
        parked: None,
    };
}

/// The bookkeeping of one apply transaction; see the module documentation.
#[derive(Debug, Default)]
pub struct Batch {
    streams: HashMap<String, StreamState>,
    history: History,
    eager: bool,
    applied: i64,
    /// The greatest `(txid, position)` applied.
    last: Option<(i64, i64)>,
    /// The accounts whose read model the batch changed (0: no account).
    accounts: BTreeSet<i64>,
    /// Read-model writes gathered across events, not written yet.
    deferred: Deferred,
    /// A replay's batch ([`Batch::open_replay`]): new streams' versions
    /// and posted messages are inserted without `on conflict`.
    replay: bool,
    /// Its streams' versions are taken out with the side rows
    /// ([`Start::InOrder`]) instead of being moved by the close.
    versions_aside: bool,
}

/// Where the streams of a replay's batch stand when it opens
/// ([`Batch::open_replay`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The batch goes on with a replay of the whole log from its start, in
    /// the log's order, which keeps every stream in version order (the
    /// log's trigger `events_stream_order`, docs/adr/0002): a stream whose
    /// first event here is its version *v* has had every version before
    /// *v* met by an earlier batch, applied or parked. So nothing of
    /// `stream_versions` is read (only `parked_events`, for streams met
    /// past their version 1), and the batch's versions are written with its
    /// side rows ([`Batch::take_side_rows`]), after its commit, beside the
    /// next batch's apply: no batch reads them before they are written.
    InOrder,
    /// The batch holds a selection of the log (a rebuild's reconciliation):
    /// streams met past their version 1 are read, and the close moves the
    /// versions, as [`Batch::open`]'s does.
    Stored,
}

/// Read-model writes a batch gathers across its events and writes together:
/// contacts', contact inboxes' and conversations' creations
/// ([`Creations`]), posted messages ([`Run`]), conversations' status,
/// assignee, team and label changes with their report facts ([`Patches`]),
/// the activity messages events derive ([`Activities`]) and counter moves
/// ([`Counts`]). They are written before any event that reads or writes
/// what they do ([`Deferred::commutes_with`]) and at the batch's close.
#[derive(Debug, Default)]
pub struct Deferred {
    pub(crate) creations: Creations,
    pub(crate) messages: Run,
    pub(crate) patches: Patches,
    pub(crate) activities: Activities,
    pub(crate) counts: Counts,
}

impl Deferred {
    /// Whether `event` may be applied with these writes still to come.
    ///
    /// Only the events the batch defers itself, and a contact's update, may
    /// go ahead at all: none of them changes a user's or a team's name or an
    /// account, or removes a conversation, which the activities (names
    /// joined when written) and the counter moves (an account still there)
    /// rely on. Of those, each kind of pending write holds back the ones
    /// that touch its rows. Anything else writes everything first. Adding
    /// an event here is a correctness decision (docs/adr/0010); leaving one
    /// out only costs an earlier write.
    pub fn commutes_with(&self, event: &Event) -> bool {
        let may_pass = matches!(
            event,
            Event::MessageCreated { .. }
                | Event::ContactCreated { .. }
                | Event::ContactUpdated { .. }
                | Event::ContactInboxCreated { .. }
                | Event::ConversationCreated { .. }
                | Event::ConversationStatusChanged { .. }
                | Event::ConversationAssigneeChanged { .. }
                | Event::ConversationTeamChanged { .. }
                | Event::ConversationLabelsChanged { .. }
        );
        may_pass
            && !self.creations.conflicts_with(event)
            && !self.messages.conflicts_with(event)
            && !self.patches.conflicts_with(event)
    }

    /// Writes everything gathered, in the order their events come in a log:
    /// rows before what changes them. The creations and the patches add
    /// counter moves, so the counters go last.
    pub async fn write(&mut self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        self.creations.write(conn, &mut self.counts).await?;
        let early = self.messages.write(conn).await?;
        self.creations.note_early(early);
        self.patches.write(conn, &mut self.counts).await?;
        self.activities.write(conn).await?;
        self.counts.write(conn).await
    }
}

/// Whether applying `event` reads or changes rows that a replay's batch
/// keeps aside for another connection ([`Batch::take_side_rows`]): an
/// account's deletion (its history, messages and report facts) and a
/// message's (its row). The batch writes what it kept aside before it, and
/// a caller that writes side rows elsewhere must have written earlier
/// batches' first.
pub fn reads_side_rows(event: &Event) -> bool {
    matches!(
        event,
        Event::AccountDeleted { .. } | Event::MessageDeleted { .. }
    )
}

impl Batch {
    /// Reads the state of `streams` (duplicates are fine) in one query.
    /// Streams not named here are read when first met.
    pub async fn open<'a>(
        conn: &mut PgConnection,
        streams: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ApplyError> {
        let mut batch = Batch::default();
        let mut ids: Vec<&str> = streams.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        batch.load(conn, &ids).await?;
        Ok(batch)
    }

    /// Opens a batch of a replay of the log, in the log's order, into a
    /// read model that nothing else writes (a rebuild's): every stream
    /// whose first event here is its version 1 has had nothing applied
    /// yet, and the others stand where `start` says ([`Start`]).
    /// `events` gives each event's stream and version, in the order they
    /// will be applied. Most of a replay's streams start in the batch that
    /// meets them (a message is a stream of its own), so this spares most
    /// of [`Batch::open`]'s query, and with [`Start::InOrder`] all of it.
    ///
    /// A replay's batch applies every event once, in the log's order, into
    /// a schema only it writes, from envelopes that are rows of
    /// `event_store.events` (a rebuild reads them from there). So:
    ///
    /// - its history rows take the log's own columns (stream, version,
    ///   account, type, payload, time) from that row inside Postgres, and
    ///   the batch notes only what the projection derives (actor,
    ///   correlation, conversation, contact); sent, each payload was
    ///   serialized again by the projection and parsed again by Postgres,
    ///   which made the history insert the costliest statement of a
    ///   rebuild. An envelope with no such row fails the insert;
    /// - history rows, posted messages ([`crate::messages::Run::replay`])
    ///   and new streams' versions are inserted without `on conflict`,
    ///   whose check cost it a quarter of those inserts: a row already
    ///   there fails the batch as [`ApplyError::Replayed`], a bug, not
    ///   poison (the history's key is built after a rebuild's replay,
    ///   `rebuild::DEFERRED_KEYS`, whose build then fails instead);
    /// - the rows of posted messages and their report facts
    ///   (`report_messages`) are kept with the history rows instead of
    ///   being written with their runs (their conversations' and contacts'
    ///   activity and their first responses still are), unless the batch
    ///   is [`Batch::eager`]; a caller that writes them elsewhere takes
    ///   them out ([`Batch::take_side_rows`]), or the close writes them.
    ///   Nothing of the replay reads them but the events of
    ///   [`reads_side_rows`] (written first then) and a conversation's
    ///   creation, which takes the activity of its messages written before
    ///   it from `early` instead ([`EarlyActivity`]; the replay carries it
    ///   from batch to batch, [`Batch::take_early_activity`]).
    pub async fn open_replay<'a>(
        conn: &mut PgConnection,
        events: impl IntoIterator<Item = (&'a str, i64)>,
        start: Start,
        early: EarlyActivity,
    ) -> Result<Self, ApplyError> {
        let mut batch = Batch {
            replay: true,
            versions_aside: start == Start::InOrder,
            history: History::new(true),
            ..Batch::default()
        };
        batch.deferred.messages.replay();
        batch.deferred.messages.rows_aside(true);
        batch.deferred.creations.replay(early);
        let mut read: BTreeSet<&str> = BTreeSet::new();
        for (stream, version) in events {
            if batch.streams.contains_key(stream) || read.contains(stream) {
                continue;
            }
            if version == 1 {
                batch.streams.insert(stream.to_owned(), StreamState::NEW);
            } else if start == Start::InOrder {
                let before = version - 1;
                let state = StreamState {
                    stored: before,
                    applied: before,
                    parked: None,
                };
                batch.streams.insert(stream.to_owned(), state);
                read.insert(stream);
            } else {
                read.insert(stream);
            }
        }
        let read: Vec<&str> = read.into_iter().collect();
        match start {
            Start::InOrder => batch.load_parked(conn, &read).await?,
            Start::Stored => batch.load(conn, &read).await?,
        }
        Ok(batch)
    }

    /// Writes each event's history row and deferred writes with it instead
    /// of later, so a rollback to the caller's savepoint takes them back too.
    pub fn eager(mut self) -> Self {
        self.eager = true;
        self.deferred.messages.rows_aside(false);
        self
    }

    /// Takes the history rows, and the posted messages' rows and report
    /// facts kept aside (a replay's, [`Batch::open_replay`]), noted so far
    /// and not yet written,
    /// with [`Start::InOrder`] also the streams' versions moved so far,
    /// leaving none: for a caller that writes them itself, elsewhere
    /// ([`SideRows::insert`]), once this batch's transaction has
    /// committed. A rebuild does, on another connection, so that the
    /// biggest inserts of a batch run beside the next batch's apply. Rows
    /// the batch had to write itself (before an account's deletion, or
    /// each with its event in [`Batch::eager`] mode) are not among them.
    /// The deferred writes still pending are written first (a run's rows
    /// are kept aside when it is written), so it can meet poison as the
    /// close can.
    pub async fn take_side_rows(
        &mut self,
        conn: &mut PgConnection,
    ) -> Result<SideRows, ApplyError> {
        self.deferred.write(conn).await?;
        let mut versions = Versions::default();
        if self.versions_aside {
            for (id, state) in &mut self.streams {
                if state.applied > state.stored {
                    versions.stream_id.push(id.clone());
                    versions.version.push(state.applied);
                    versions.new.push(state.stored == 0);
                    state.stored = state.applied;
                }
            }
        }
        let empty = History::new(self.history.from_log);
        Ok(SideRows {
            history: std::mem::replace(&mut self.history, empty),
            messages: self.deferred.messages.take_rows(),
            versions,
        })
    }

    /// The conversations of a replay's batch that messages moved before
    /// their row was there and that were not created since
    /// ([`Batch::open_replay`]), for the next batch: taken once the
    /// deferred writes are written ([`Batch::take_side_rows`]).
    pub fn take_early_activity(&mut self) -> EarlyActivity {
        self.deferred.creations.take_early()
    }

    /// Reads the first parked event of each of `ids`, streams already
    /// noted; only a stream with one is in `parked_events` at all.
    async fn load_parked(
        &mut self,
        conn: &mut PgConnection,
        ids: &[&str],
    ) -> Result<(), ApplyError> {
        if ids.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select stream_id, min(position) from parked_events \
             where stream_id = any($1::text[]) group by stream_id",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
        for (id, position) in rows {
            if let Some(state) = self.streams.get_mut(&id) {
                state.parked = Some(position);
            }
        }
        Ok(())
    }

    async fn load(&mut self, conn: &mut PgConnection, ids: &[&str]) -> Result<(), ApplyError> {
        if ids.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "select u.id, \
                    (select version from stream_versions where stream_id = u.id), \
                    (select min(position) from parked_events where stream_id = u.id) \
             from unnest($1::text[]) as u(id)",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
        for (id, version, parked) in rows {
            let version = version.unwrap_or(0);
            self.streams.insert(
                id,
                StreamState {
                    stored: version,
                    applied: version,
                    parked,
                },
            );
        }
        Ok(())
    }

    async fn state(
        &mut self,
        conn: &mut PgConnection,
        stream_id: &str,
    ) -> Result<StreamState, ApplyError> {
        if !self.streams.contains_key(stream_id) {
            self.load(conn, &[stream_id]).await?;
        }
        Ok(self.streams[stream_id])
    }

    /// The version of `stream_id` applied so far in this transaction.
    pub async fn version(
        &mut self,
        conn: &mut PgConnection,
        stream_id: &str,
    ) -> Result<i64, ApplyError> {
        Ok(self.state(conn, stream_id).await?.applied)
    }

    /// The position of the first parked event of `stream_id`, if any.
    pub async fn parked(
        &mut self,
        conn: &mut PgConnection,
        stream_id: &str,
    ) -> Result<Option<i64>, ApplyError> {
        Ok(self.state(conn, stream_id).await?.parked)
    }

    /// Notes that the event at `position` of `stream_id` was parked (after
    /// its row was written), so later events of the stream are held.
    pub async fn note_parked(
        &mut self,
        conn: &mut PgConnection,
        stream_id: &str,
        position: i64,
    ) -> Result<(), ApplyError> {
        self.state(conn, stream_id).await?;
        if let Some(state) = self.streams.get_mut(stream_id) {
            state.parked = Some(state.parked.map_or(position, |p| p.min(position)));
        }
        Ok(())
    }

    /// Applies one envelope to the read model of the current `search_path`,
    /// unless its stream is already at or past its version.
    #[tracing::instrument(
        skip_all,
        fields(
            stream = %env.streamid,
            version = env.streamversion,
            position = env.position,
            event_type = %env.eventtype,
            correlation_id = %env.correlationid,
        )
    )]
    pub async fn apply(
        &mut self,
        conn: &mut PgConnection,
        env: &Envelope,
    ) -> Result<Applied, ApplyError> {
        self.apply_with(conn, env, None).await
    }

    /// [`Batch::apply`] with the envelope's event when the caller has
    /// decoded it already (a rebuild decodes on its log reader's thread);
    /// `None` decodes it here.
    pub async fn apply_with(
        &mut self,
        conn: &mut PgConnection,
        env: &Envelope,
        decoded: Option<&Event>,
    ) -> Result<Applied, ApplyError> {
        if env.streamversion <= self.version(conn, &env.streamid).await? {
            tracing::debug!("already applied");
            return Ok(Applied::Duplicate);
        }
        let decoded_here;
        let event = match decoded {
            Some(event) => event,
            None => {
                decoded_here = env.decode()?;
                &decoded_here
            }
        };
        let deletes_history = matches!(event, Event::AccountDeleted { .. });
        if reads_side_rows(event) {
            // The rows noted so far must exist for it to change or delete
            // them: its pending writes (which keep messages' rows and
            // report facts aside), its history rows and those rows.
            self.deferred.write(conn).await?;
            self.flush_side(conn).await?;
        }
        crate::apply::change(conn, event, env, &mut self.deferred).await?;
        if self.eager {
            self.deferred.write(conn).await?;
        }
        // An account's deletion removes its history, its own row included,
        // and its generation.
        let account = env.accountid.unwrap_or(0);
        if deletes_history {
            self.accounts.remove(&account);
        } else {
            self.accounts.insert(account);
            self.history.push(env, event);
            if self.eager {
                // Written with its event: the only row noted.
                self.flush_side(conn).await?;
            }
        }
        if let Some(state) = self.streams.get_mut(&env.streamid) {
            state.applied = env.streamversion;
        }
        self.applied += 1;
        let here = (env.txid, env.position);
        if self.last.is_none_or(|last| last < here) {
            self.last = Some(here);
        }
        Ok(Applied::Applied)
    }

    /// Writes the history rows noted and the messages' rows and report
    /// facts kept aside.
    async fn flush_side(&mut self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        let empty = History::new(self.history.from_log);
        std::mem::replace(&mut self.history, empty)
            .insert(&mut *conn)
            .await?;
        self.deferred
            .messages
            .take_rows()
            .insert_with_facts(conn)
            .await
    }

    /// Writes what the batch noted: deferred writes, history rows, stream
    /// versions (checked against the versions read at open), the
    /// generations of the accounts it changed and `projection_state` (and,
    /// for the live worker, the NATS `stream_sequence` of the batch's last
    /// message). Returns the [`Notifications`] of the advanced streams, for
    /// the caller to send once the transaction has committed.
    pub async fn close(
        mut self,
        conn: &mut PgConnection,
        stream_sequence: Option<i64>,
    ) -> Result<Notifications, ApplyError> {
        self.deferred.write(conn).await?;
        self.flush_side(conn).await?;
        let moved: Vec<(&String, &StreamState)> = self
            .streams
            .iter()
            .filter(|(_, s)| s.applied > s.stored)
            .collect();
        // Nothing applied, nothing to move (a replay in the log's order
        // may have taken its versions out, not its position and accounts).
        if self.applied == 0 && stream_sequence.is_none() {
            return Ok(Notifications::default());
        }
        let ids: Vec<&str> = moved.iter().map(|(id, _)| id.as_str()).collect();
        let versions: Vec<i64> = moved.iter().map(|(_, s)| s.applied).collect();
        let expected: Vec<i64> = moved.iter().map(|(_, s)| s.stored).collect();
        let notes: Vec<String> = moved
            .iter()
            .map(|(id, s)| format!("{id} {}", s.applied))
            .collect();
        let accounts: Vec<i64> = self.accounts.iter().copied().collect();
        let (txid, position) = self.last.unwrap_or((0, 0));
        // Existing rows move only from the version read at open; new rows
        // only if nobody inserted them since. The counts tell whether every
        // stream moved.
        let on_conflict = if self.replay {
            ""
        } else {
            "on conflict (stream_id) do nothing"
        };
        let matched: i64 = sqlx::query_scalar(&format!(
            "with moved as ( \
               select * from unnest($1::text[], $2::bigint[], $3::bigint[]) \
                 as m(stream_id, version, expected)), \
             updated as ( \
               update stream_versions s set version = m.version from moved m \
               where s.stream_id = m.stream_id and m.expected > 0 \
                 and s.version = m.expected \
               returning 1), \
             inserted as ( \
               insert into stream_versions (stream_id, version) \
               select stream_id, version from moved where expected = 0 \
               {on_conflict} \
               returning 1), \
             generations as ( \
               insert into account_generations (account_id, generation) \
               select a, pg_current_xact_id()::text::bigint from unnest($8::bigint[]) a \
               on conflict (account_id) do update set generation = excluded.generation), \
             state as ( \
               update projection_state set \
                 last_txid = case when $4::bigint > 0 \
                                   and (last_txid, last_position) < ($4::text::xid8, $5) \
                                  then $4::text::xid8 else last_txid end, \
                 last_position = case when $4::bigint > 0 \
                                       and (last_txid, last_position) < ($4::text::xid8, $5) \
                                      then $5 else last_position end, \
                 applied = applied + $6, \
                 stream_sequence = greatest(stream_sequence, coalesce($7, stream_sequence)), \
                 updated_at = now() \
               where id = 1) \
             select (select count(*) from updated) + (select count(*) from inserted)"
        ))
        .bind(&ids)
        .bind(&versions)
        .bind(&expected)
        .bind(txid)
        .bind(position)
        .bind(self.applied)
        .bind(stream_sequence)
        .bind(&accounts)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| crate::apply::insert_error(e, self.replay))?;
        if matched != ids.len() as i64 {
            let streams = ids.join(", ");
            return Err(ApplyError::Conflict(streams));
        }
        Ok(Notifications(notes))
    }
}

/// `read_model_applied` notifications, one `'<stream id> <version>'` per
/// stream a batch advanced, at the last version it applied.
///
/// Sent after the batch's commit, from a transaction of its own: a `NOTIFY`
/// in the applying transaction would hold Postgres' cluster-wide notify lock
/// from its commit until its WAL flush, and every other notifying commit
/// (the command service's wake-ups of the relay) would wait behind it. A
/// notification lost because the worker died between commit and send only
/// delays a read-your-writes waiter until its periodic re-check.
#[derive(Debug, Default)]
#[must_use = "notifications are sent with `send` after the commit"]
pub struct Notifications(Vec<String>);

impl Notifications {
    /// Sends them; outside a transaction they go at once, inside one at
    /// its commit.
    pub async fn send<'c, E>(self, executor: E) -> Result<(), sqlx::Error>
    where
        E: sqlx::PgExecutor<'c>,
    {
        if self.0.is_empty() {
            return Ok(());
        }
        sqlx::query("select count(pg_notify($1, n)) from unnest($2::text[]) as n")
            .bind(APPLIED_CHANNEL)
            .bind(self.0)
            .execute(executor)
            .await?;
        Ok(())
    }
}

/// History rows, posted messages' rows with their report facts, and
/// streams' versions taken from a batch ([`Batch::take_side_rows`]) to be
/// written elsewhere.
#[derive(Debug)]
#[must_use = "taken rows are written with `insert`"]
pub struct SideRows {
    history: History,
    messages: MessageRows,
    versions: Versions,
}

impl SideRows {
    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.history.position.is_empty()
            && self.messages.is_empty()
            && self.versions.stream_id.is_empty()
    }

    /// Inserts them into the tables of the current `search_path`, as the
    /// batch would have.
    pub async fn insert(&self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        self.history.insert(&mut *conn).await?;
        self.messages.insert_with_facts(&mut *conn).await?;
        self.versions.write(conn).await
    }

    /// Splits them in two, the history rows and the rest, which write
    /// different tables: for a caller that inserts them on two connections
    /// at once.
    pub fn split(self) -> (SideRows, SideRows) {
        let from_log = self.history.from_log;
        let history = SideRows {
            history: self.history,
            messages: MessageRows::default(),
            versions: Versions::default(),
        };
        let rest = SideRows {
            history: History::new(from_log),
            messages: self.messages,
            versions: self.versions,
        };
        (history, rest)
    }
}

/// The versions a replay's batch moved its streams to ([`Start::InOrder`]),
/// column by column.
#[derive(Debug, Default)]
struct Versions {
    stream_id: Vec<String>,
    version: Vec<i64>,
    /// The stream had no row yet.
    new: Vec<bool>,
}

impl Versions {
    /// Inserts the new streams' rows (a row already there is
    /// [`ApplyError::Replayed`]) and moves the others' forward; one of
    /// those without a row, or past its new version, is
    /// [`ApplyError::Conflict`].
    async fn write(&self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        if self.stream_id.is_empty() {
            return Ok(());
        }
        let moved: i64 = sqlx::query_scalar(
            "with v as ( \
               select * from unnest($1::text[], $2::bigint[], $3::boolean[]) \
                 as v(stream_id, version, new)), \
             moved as ( \
               update stream_versions s set version = v.version from v \
               where s.stream_id = v.stream_id and not v.new and s.version < v.version \
               returning 1), \
             inserted as ( \
               insert into stream_versions (stream_id, version) \
               select stream_id, version from v where new) \
             select count(*) from moved",
        )
        .bind(&self.stream_id)
        .bind(&self.version)
        .bind(&self.new)
        .fetch_one(conn)
        .await
        .map_err(|e| crate::apply::insert_error(e, true))?;
        let expected = self.new.iter().filter(|new| !**new).count() as i64;
        if moved != expected {
            let streams: Vec<&str> = (0..self.stream_id.len())
                .filter(|&i| !self.new[i])
                .map(|i| self.stream_id[i].as_str())
                .collect();
            return Err(ApplyError::Conflict(streams.join(", ")));
        }
        Ok(())
    }
}

/// History rows noted for one insert, column by column.
#[derive(Debug, Default)]
struct History {
    /// The log's columns are copied from `event_store.events` by position
    /// ([`Batch::open_replay`]); only `position` and the derived
    /// columns are noted.
    from_log: bool,
    position: Vec<i64>,
    actor_type: Vec<String>,
    actor_id: Vec<Option<i64>>,
    correlation_id: Vec<String>,
    causation_id: Vec<Option<String>>,
    conversation_id: Vec<Option<i64>>,
    contact_id: Vec<Option<i64>>,
    /// The log's columns, noted unless `from_log`.
    logged: Logged,
}

/// The columns of a history row that are the log's own.
#[derive(Debug, Default)]
struct Logged {
    stream_id: Vec<String>,
    stream_version: Vec<i64>,
    account_id: Vec<Option<i64>>,
    event_type: Vec<String>,
    schema_version: Vec<i32>,
    payload: Vec<Json<Value>>,
    occurred_at: Vec<DateTime<Utc>>,
}

impl History {
    fn new(from_log: bool) -> Self {
        History {
            from_log,
            ..History::default()
        }
    }

    fn push(&mut self, env: &Envelope, event: &Event) {
        self.position.push(env.position);
        self.actor_type.push(env.actortype.clone());
        self.actor_id.push(env.actorid);
        self.correlation_id.push(env.correlationid.clone());
        self.causation_id.push(env.causationid.clone());
        // A conversation's own events name it as their stream does
        // (`conversation:<id>`), and its messages name it in their payload.
        self.conversation_id.push(event.conversation_id());
        self.contact_id.push(contact_of(env));
        if !self.from_log {
            let logged = &mut self.logged;
            logged.stream_id.push(env.streamid.clone());
            logged.stream_version.push(env.streamversion);
            logged.account_id.push(env.accountid);
            logged.event_type.push(env.eventtype.clone());
            logged.schema_version.push(env.schemaversion);
            logged.payload.push(Json(env.data.clone()));
            logged.occurred_at.push(env.time);
        }
    }

    /// One insert for every row. From the log (a replay's), the rows are
    /// inserted as they are, and one already there is
    /// [`ApplyError::Replayed`]; otherwise it changes nothing.
    async fn insert(&self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        if self.position.is_empty() {
            return Ok(());
        }
        macro_rules! insert_into_history {
            () => {
                "insert into history (stream_id, stream_version, position, account_id, \
                   event_type, schema_version, payload, actor_type, actor_id, correlation_id, \
                   causation_id, occurred_at, conversation_id, contact_id) "
            };
        }
        // The log's row must be there: without it the log's columns are
        // null and the insert fails instead of dropping the row.
        const FROM_LOG: &str = concat!(
            insert_into_history!(),
            "select e.stream_id, e.stream_version, h.position, e.account_id, e.event_type, \
               e.schema_version, e.payload, h.actor_type, h.actor_id, h.correlation_id, \
               h.causation_id, e.occurred_at, h.conversation_id, h.contact_id \
             from unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
               $6::bigint[], $7::bigint[]) \
               as h(position, actor_type, actor_id, correlation_id, causation_id, \
                    conversation_id, contact_id) \
             left join event_store.events e on e.position = h.position"
        );
        const CARRIED: &str = concat!(
            insert_into_history!(),
            "select h.stream_id, h.stream_version, h.position, h.account_id, h.event_type, \
               h.schema_version, h.payload, h.actor_type, h.actor_id, h.correlation_id, \
               h.causation_id, h.occurred_at, h.conversation_id, h.contact_id \
             from unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
               $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], \
               $11::text[], $12::int[], $13::jsonb[], $14::timestamptz[]) \
               as h(position, actor_type, actor_id, correlation_id, causation_id, \
                    conversation_id, contact_id, stream_id, stream_version, account_id, \
                    event_type, schema_version, payload, occurred_at) \
             on conflict (stream_id, stream_version) do nothing"
        );
        let mut query = sqlx::query(if self.from_log { FROM_LOG } else { CARRIED })
            .bind(&self.position)
            .bind(&self.actor_type)
            .bind(&self.actor_id)
            .bind(&self.correlation_id)
            .bind(&self.causation_id)
            .bind(&self.conversation_id)
            .bind(&self.contact_id);
        if !self.from_log {
            let logged = &self.logged;
            query = query
                .bind(&logged.stream_id)
                .bind(&logged.stream_version)
                .bind(&logged.account_id)
                .bind(&logged.event_type)
                .bind(&logged.schema_version)
                .bind(&logged.payload)
                .bind(&logged.occurred_at);
        }
        query
            .execute(conn)
            .await
            .map_err(|e| crate::apply::insert_error(e, self.from_log))?;
        Ok(())
    }
}
