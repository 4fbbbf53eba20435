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
//! A unit of work opens its transaction only when something needs one: a
//! stream's lock ([`UnitOfWork::load`]) or a write-model statement
//! ([`UnitOfWork::conn`]). The events it appends are kept until the end and
//! inserted in one statement. A command that only reads and appends (an
//! agent's or a bot's message, the most frequent write) is therefore that
//! one insert, atomic on its own, with no `BEGIN` or `COMMIT` round trip:
//! each round trip costs both processes a wake-up, and on two cores those
//! were a third of a message's cost in the command service and Postgres.
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

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::{Aggregate, Event, StreamId};
use infra::stored::Metadata;
use sqlx::pool::PoolConnection;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::admissions::{may_change_admissions, Admissions};
use crate::error::ApiError;
use crate::generations::Generations;

/// How often a command is tried when it loses an optimistic-lock race.
pub const MAX_ATTEMPTS: usize = 8;

/// The Postgres channel the relay listens on; notified by a [`RelayWaker`]
/// after commits that appended.
pub const APPENDED_CHANNEL: &str = "events_appended";

/// Wakes the relay after commits that appended, from outside the writing
/// transactions.
///
/// A `NOTIFY` inside a writing transaction makes Postgres take a
/// cluster-wide lock at commit and hold it until the commit record is
/// flushed, so every notifying commit waits for the one before it: no group
/// commit. Measured with pgbench (32 clients, one insert a transaction, this
/// machine): 4,600 commits/s without a `NOTIFY`, 2,300/s with one. So a
/// committed command only signals this waker, and one task sends `NOTIFY
/// events_appended` in a transaction of its own (it takes a transaction
/// id, but writes nothing before its commit record, so Postgres does not
/// wait for a flush at its commit). Signals that come while a notification is on its way fold into
/// one more, sent after it; each is sent after the commits that signalled
/// it. A lost notification (the task's connection failed) delays publishing
/// only until the relay's periodic re-check.
#[derive(Debug, Clone)]
pub struct RelayWaker {
    signal: mpsc::Sender<()>,
}

impl RelayWaker {
    /// Spawns the notifying task on the current runtime; it ends when the
    /// last clone of the waker is dropped.
    pub fn spawn(pool: PgPool) -> Self {
        let (signal, mut signals) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while signals.recv().await.is_some() {
                let sent = sqlx::query("select pg_notify($1, '')")
                    .bind(APPENDED_CHANNEL)
                    .execute(&pool)
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "cannot wake the relay; it will find the events on its re-check");
                }
            }
        });
        RelayWaker { signal }
    }

    /// Asks for a notification after this point (a full queue means one is
    /// already due after it).
    pub fn wake(&self) {
        let _ = self.signal.try_send(());
    }
}

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

/// A cache key: the aggregate type (one stream may be folded into several,
/// e.g. `Inbox`, `InboxMembers`, `InboxAgentBot`) and the stream id.
type CacheKey = (TypeId, String);

/// A stream folded up to a version.
struct CachedState {
    version: i64,
    state: Arc<dyn Any + Send + Sync>,
}

/// Folded streams, as they were after commands this process committed.
///
/// Events are immutable and a stream's versions have no gaps, so a state
/// folded up to version *v* plus the events after *v* is the state now:
/// [`UnitOfWork::load`] reads only those (under the stream's lock, as
/// always), instead of the whole stream. A hot conversation costs the events
/// since this process last touched it, not its whole history. Only committed
/// states go in, and only of streams that had events when they were read: a
/// stream a command starts is not kept until it is read again. Most new
/// streams are messages, seldom read again; kept, a thousand of them a
/// second would push every conversation out within seconds, and each
/// message's read of its conversation would fold it from its first event.
/// Bounded by two generations (`generations.rs`): a hit keeps a stream.
#[derive(Clone)]
pub struct AggregateCache {
    inner: Arc<Mutex<Generations<CacheKey, CachedState>>>,
}

impl AggregateCache {
    /// A cache of at most `capacity` streams (0 turns it off).
    pub fn new(capacity: usize) -> Self {
        AggregateCache {
            inner: Arc::new(Mutex::new(Generations::new(capacity))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<CacheKey, CachedState>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &CacheKey) -> Option<(i64, Arc<dyn Any + Send + Sync>)> {
        let mut g = self.lock();
        g.get(key).map(|c| (c.version, c.state.clone()))
    }

    /// The version held for `key`, without counting as a use.
    fn version_of(&self, key: &CacheKey) -> Option<i64> {
        self.lock().peek(key).map(|c| c.version)
    }

    fn put_all(&self, states: Vec<(CacheKey, CachedState)>) {
        let mut g = self.lock();
        for (key, value) in states {
            // An older fold never replaces a newer one.
            let newer = g.peek(&key).is_some_and(|c| c.version > value.version);
            if !newer {
                g.insert(key, value);
            }
        }
    }
}

/// One command's transaction, opened when first needed (see the module
/// documentation).
pub struct UnitOfWork {
    conn: PoolConnection<Postgres>,
    /// Whether `BEGIN` has been sent and neither `COMMIT` nor `ROLLBACK`.
    in_transaction: bool,
    ctx: CommandContext,
    appended: BTreeMap<String, i64>,
    /// Every event appended, in order, inserted when the command commits.
    events: Vec<(String, i64, Event)>,
    cache: AggregateCache,
    /// States this command loaded or decided, cached once it commits.
    folded: Vec<(CacheKey, CachedState)>,
}

impl UnitOfWork {
    fn new(conn: PoolConnection<Postgres>, ctx: &CommandContext, cache: &AggregateCache) -> Self {
        UnitOfWork {
            conn,
            in_transaction: false,
            ctx: ctx.clone(),
            appended: BTreeMap::new(),
            events: Vec::new(),
            cache: cache.clone(),
            folded: Vec::new(),
        }
    }

    /// The connection inside the command's transaction (begun now if it
    /// has not been): for write-model lookups and updates that must commit
    /// or roll back with the events.
    pub async fn conn(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        self.begin().await?;
        Ok(&mut self.conn)
    }

    /// The connection as it is, in the transaction if one has begun and
    /// without beginning one: for reads only, such as drawing an id from a
    /// sequence (never rolled back anyway) or a fact that never changes.
    /// Outside a transaction each statement sees what had committed when
    /// it began, as in a read-committed one.
    pub fn reader(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    async fn begin(&mut self) -> Result<(), sqlx::Error> {
        if !self.in_transaction {
            sqlx::raw_sql("begin").execute(&mut *self.conn).await?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Inserts the appended events, in one statement.
    async fn insert_appended(&mut self) -> Result<(), sqlx::Error> {
        let metadata = Json(&self.ctx.metadata);
        let insert = match self.events.as_slice() {
            [] => return Ok(()),
            // Most commands append one event: a plain row.
            [(stream, version, event)] => sqlx::query(
                "insert into event_store.events \
                 (event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, metadata, occurred_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(Uuid::now_v7())
            .bind(stream)
            .bind(version)
            .bind(event.account_id())
            .bind(event.event_type())
            .bind(event.schema_version())
            .bind(Json(event.payload()))
            .bind(metadata)
            .bind(self.ctx.now),
            events => {
                let mut ids = Vec::with_capacity(events.len());
                let mut streams = Vec::with_capacity(events.len());
                let mut versions = Vec::with_capacity(events.len());
                let mut accounts = Vec::with_capacity(events.len());
                let mut types = Vec::with_capacity(events.len());
                let mut schema_versions = Vec::with_capacity(events.len());
                let mut payloads = Vec::with_capacity(events.len());
                for (stream, version, event) in events {
                    ids.push(Uuid::now_v7());
                    streams.push(stream.as_str());
                    versions.push(*version);
                    accounts.push(event.account_id());
                    types.push(event.event_type());
                    schema_versions.push(event.schema_version());
                    payloads.push(Json(event.payload()));
                }
                // Positions are drawn in the order given (the sort comes
                // before the identity's values), so a stream's versions
                // keep their order.
                sqlx::query(
                    "insert into event_store.events \
                     (event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, metadata, occurred_at) \
                     select e.event_id, e.stream_id, e.stream_version, e.account_id, e.event_type, \
                       e.schema_version, e.payload, $7, $8 \
                     from unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], \
                       $6::int[], $9::jsonb[]) with ordinality \
                       as e(event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, n) \
                     order by e.n",
                )
                .bind(ids)
                .bind(streams)
                .bind(versions)
                .bind(accounts)
                .bind(types)
                .bind(schema_versions)
                .bind(metadata)
                .bind(self.ctx.now)
                .bind(payloads)
            }
        };
        insert.execute(&mut *self.conn).await?;
        Ok(())
    }

    /// Makes the command durable: its events in one statement, with the
    /// idempotency claim marked in the same transaction when there is one;
    /// alone, that statement is its own transaction.
    async fn commit(&mut self) -> Result<(), sqlx::Error> {
        if !self.appended.is_empty() {
            if let Some(claim) = self.ctx.idempotency.clone() {
                claim.mark_committed(self.conn().await?).await?;
            }
        }
        self.insert_appended().await?;
        if self.in_transaction {
            sqlx::raw_sql("commit").execute(&mut *self.conn).await?;
            self.in_transaction = false;
        }
        Ok(())
    }

    /// Ends an open transaction without its changes, so the connection
    /// can serve again. If that fails, the connection is closed instead of
    /// going back to the pool.
    async fn rollback(&mut self) {
        if self.in_transaction
            && sqlx::raw_sql("rollback")
                .execute(&mut *self.conn)
                .await
                .is_ok()
        {
            self.in_transaction = false;
        }
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
    pub async fn load<A: Aggregate + Clone + Send + Sync + 'static>(
        &mut self,
        stream: StreamId,
    ) -> Result<Loaded<A>, ApiError> {
        self.lock(&stream).await?;
        self.read(stream).await
    }

    /// [`UnitOfWork::load`] with [`UnitOfWork::read_drawing`]'s read: the
    /// stream's lock, then its events and the next value of
    /// `write_model.<sequence>` in one statement (an incoming message,
    /// which may reopen its conversation).
    pub async fn load_drawing<A: Aggregate + Clone + Send + Sync + 'static>(
        &mut self,
        stream: StreamId,
        sequence: &'static str,
    ) -> Result<(Loaded<A>, i64), ApiError> {
        self.lock(&stream).await?;
        self.read_drawing(stream, sequence).await
    }

    /// Begins the transaction and takes the stream's lock in it, in one
    /// round trip: `begin` (when the transaction has not begun) and the lock
    /// go as one simple query. A simple query takes no parameters, so the
    /// stream id is written into its text: a kind of this code's and a
    /// number, never a client's text. The transaction counts as open from
    /// here on, whether the lock comes or fails: a failed statement after
    /// `begin` leaves an aborted transaction to roll back. The lock is held
    /// until the transaction ends.
    async fn lock(&mut self, stream: &StreamId) -> Result<(), sqlx::Error> {
        let lock = format!(
            "select pg_advisory_xact_lock(hashtextextended({}, 0))",
            literal(&stream.to_string())
        );
        let sql = if std::mem::replace(&mut self.in_transaction, true) {
            lock
        } else {
            format!("begin; {lock}")
        };
        sqlx::raw_sql(&sql).execute(&mut *self.conn).await?;
        Ok(())
    }

    /// Reads a stream and folds it without taking its lock: for a stream the
    /// command only looks at and does not append to (a message reads its
    /// conversation's ids, inbox and contact, which never change), so it
    /// does not queue behind the commands that do write it. Appending to it
    /// anyway stays safe (the append's unique key); it only loses the
    /// queueing [`UnitOfWork::load`] gives.
    pub async fn read<A: Aggregate + Clone + Send + Sync + 'static>(
        &mut self,
        stream: StreamId,
    ) -> Result<Loaded<A>, ApiError> {
        let (key, version, state) = self.cached::<A>(&stream);
        let rows: Vec<(i64, String, i32, serde_json::Value)> = sqlx::query_as(
            "select stream_version, event_type, schema_version, payload from event_store.events \
             where stream_id = $1 and stream_version > $2 order by stream_version",
        )
        .bind(&key.1)
        .bind(version)
        .fetch_all(&mut *self.conn)
        .await?;
        self.fold(stream, key, version, state, rows.into_iter())
    }

    /// [`UnitOfWork::read`], drawing the next value of sequence
    /// `write_model.<sequence>` in the same statement: for a command that
    /// reads a stream to start a new one, such as a message on its
    /// conversation (the most frequent write), one round trip less. The
    /// value is drawn whatever the command then decides; an unused one is
    /// a gap, as a rolled-back command leaves.
    pub async fn read_drawing<A: Aggregate + Clone + Send + Sync + 'static>(
        &mut self,
        stream: StreamId,
        sequence: &'static str,
    ) -> Result<(Loaded<A>, i64), ApiError> {
        let (key, version, state) = self.cached::<A>(&stream);
        // The drawing is volatile, so Postgres evaluates it once, whatever
        // number of events follow; with none, one row of nulls comes back.
        type Row = (
            i64,
            Option<i64>,
            Option<String>,
            Option<i32>,
            Option<serde_json::Value>,
        );
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "with drawn as (select nextval('write_model.{sequence}') as id) \
             select drawn.id, e.stream_version, e.event_type, e.schema_version, e.payload \
             from drawn left join lateral ( \
               select stream_version, event_type, schema_version, payload \
               from event_store.events where stream_id = $1 and stream_version > $2) e on true \
             order by e.stream_version"
        ))
        .bind(&key.1)
        .bind(version)
        .fetch_all(&mut *self.conn)
        .await?;
        let drawn = rows.first().map(|row| row.0).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("write_model.{sequence}: nothing drawn"))
        })?;
        let events = rows
            .into_iter()
            .filter_map(|(_, v, t, s, p)| Some((v?, t?, s?, p?)));
        let loaded = self.fold(stream, key, version, state, events)?;
        Ok((loaded, drawn))
    }

    /// A stream's folded state as the cache holds it (version 0 and the
    /// default state when it holds none).
    fn cached<A: Aggregate + Clone + Send + Sync + 'static>(
        &self,
        stream: &StreamId,
    ) -> (CacheKey, i64, A) {
        let key: CacheKey = (TypeId::of::<A>(), stream.to_string());
        let (version, state) = match self.cache.get(&key) {
            Some((version, state)) => match state.downcast_ref::<A>() {
                Some(state) => (version, state.clone()),
                None => (0, A::default()),
            },
            None => (0, A::default()),
        };
        (key, version, state)
    }

    /// Folds the events read after `version` into `state`, in order.
    fn fold<A: Aggregate + Clone + Send + Sync + 'static>(
        &mut self,
        stream: StreamId,
        key: CacheKey,
        mut version: i64,
        mut state: A,
        rows: impl Iterator<Item = (i64, String, i32, serde_json::Value)>,
    ) -> Result<Loaded<A>, ApiError> {
        for (stream_version, event_type, schema_version, payload) in rows {
            if stream_version != version + 1 {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "stream {stream}: version {stream_version} follows {version}"
                )));
            }
            let event = Event::from_stored(&event_type, schema_version, payload)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stream {stream}: {e}")))?;
            state = state.evolve(&event);
            version = stream_version;
        }
        self.remember(&key.1, version, &state);
        Ok(Loaded {
            stream,
            state,
            version,
        })
    }

    /// The folded states the cache should keep once the command has
    /// committed: those of streams that had events before it. A stream it
    /// read empty, or started (appended its version 1), is left out, whatever
    /// else the command decided on it: see [`AggregateCache`].
    fn worth_keeping(&mut self) -> Vec<(CacheKey, CachedState)> {
        let folded = std::mem::take(&mut self.folded);
        let started: std::collections::HashSet<&str> = self
            .events
            .iter()
            .filter(|(_, version, _)| *version == 1)
            .map(|(stream, _, _)| stream.as_str())
            .collect();
        folded
            .into_iter()
            .filter(|(key, state)| state.version > 0 && !started.contains(key.1.as_str()))
            .collect()
    }

    /// Notes a folded state, for the cache once the command commits.
    fn remember<A: Clone + Send + Sync + 'static>(
        &mut self,
        stream: &str,
        version: i64,
        state: &A,
    ) {
        self.folded.push((
            (TypeId::of::<A>(), stream.to_owned()),
            CachedState {
                version,
                state: Arc::new(state.clone()),
            },
        ));
    }

    /// A stream that cannot have events yet: its id was drawn from its
    /// sequence in this command (`write_model::next_id`), so nobody else has
    /// written to it. Saves [`UnitOfWork::load`]'s lock and read; the
    /// append's unique `(stream, version)` key still stands guard.
    pub fn new_stream<A: Aggregate>(&self, stream: StreamId) -> Loaded<A> {
        Loaded {
            stream,
            state: A::default(),
            version: 0,
        }
    }

    /// Decides a command on a loaded aggregate and appends the outcome.
    /// Returns the events (empty when the command changed nothing).
    pub async fn decide<A: Aggregate + Clone + Send + Sync + 'static>(
        &mut self,
        loaded: &mut Loaded<A>,
        command: &A::Command,
    ) -> Result<Vec<Event>, ApiError> {
        let events = loaded.state.decide(command)?;
        if events.is_empty() {
            return Ok(events);
        }
        self.append(&loaded.stream, loaded.version, &events);
        for e in &events {
            loaded.state = std::mem::take(&mut loaded.state).evolve(e);
        }
        loaded.version += events.len() as i64;
        self.remember(&loaded.stream.to_string(), loaded.version, &loaded.state);
        Ok(events)
    }

    /// Appends events after `expected_version`, to be inserted with the
    /// command's other events when it commits. A concurrent writer that got
    /// there first makes that insert fail with a unique violation, which
    /// [`EventStore::execute`] turns into a retry.
    pub fn append(&mut self, stream: &StreamId, expected_version: i64, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let stream_id = stream.to_string();
        for (i, event) in events.iter().enumerate() {
            let version = expected_version + 1 + i as i64;
            self.events
                .push((stream_id.clone(), version, event.clone()));
        }
        self.appended
            .insert(stream_id, expected_version + events.len() as i64);
    }
}

impl Drop for UnitOfWork {
    fn drop(&mut self) {
        // Dropped with its transaction open (the request was cancelled
        // mid-way): the connection must not serve anyone else in it.
        if self.in_transaction {
            self.conn.close_on_drop();
        }
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
    cache: AggregateCache,
    waker: RelayWaker,
    admissions: Option<Admissions>,
}

impl EventStore {
    /// An event store on a pool, with an [`AggregateCache`] of
    /// [`DEFAULT_AGGREGATE_CACHE_STREAMS`](infra::settings::DEFAULT_AGGREGATE_CACHE_STREAMS)
    /// streams and a [`RelayWaker`] (spawned on the current runtime).
    pub fn new(pool: PgPool) -> Self {
        EventStore {
            waker: RelayWaker::spawn(pool.clone()),
            pool,
            cache: AggregateCache::new(infra::settings::DEFAULT_AGGREGATE_CACHE_STREAMS),
            admissions: None,
        }
    }

    /// The same store, forgetting `admissions` after every command that
    /// may have changed one ([`crate::admissions::may_change_admissions`]),
    /// before the command answers.
    pub fn with_admissions(mut self, admissions: Admissions) -> Self {
        self.admissions = Some(admissions);
        self
    }

    /// The same store with a cache of `streams` streams instead (0 turns
    /// it off).
    pub fn with_cached_streams(mut self, streams: usize) -> Self {
        self.cache = AggregateCache::new(streams);
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The version up to which this process holds `stream` folded into
    /// `A`, if it holds it ([`AggregateCache`]).
    pub fn cached_version<A: 'static>(&self, stream: &StreamId) -> Option<i64> {
        self.cache
            .version_of(&(TypeId::of::<A>(), stream.to_string()))
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
            let mut uow = UnitOfWork::new(self.pool.acquire().await?, ctx, &self.cache);
            let value = match command(&mut uow).await {
                Ok(value) => value,
                Err(e) => {
                    uow.rollback().await;
                    match e {
                        ApiError::Database(e) if is_version_conflict(&e) => {
                            tracing::debug!(attempt, "version conflict, retrying command");
                            continue;
                        }
                        e => return Err(e),
                    }
                }
            };
            match uow.commit().await {
                Ok(()) => {}
                Err(e) => {
                    uow.rollback().await;
                    if is_version_conflict(&e) {
                        tracing::debug!(attempt, "version conflict, retrying command");
                        continue;
                    }
                    return Err(e.into());
                }
            }
            if !uow.appended.is_empty() {
                self.waker.wake();
            }
            if let Some(admissions) = &self.admissions {
                if uow.appended.keys().any(|s| may_change_admissions(s)) {
                    admissions.forget_all();
                }
            }
            let kept = uow.worth_keeping();
            uow.cache.put_all(kept);
            return Ok(Committed {
                value,
                written: std::mem::take(&mut uow.appended).into_iter().collect(),
                events: std::mem::take(&mut uow.events),
            });
        }
        Err(ApiError::Conflict)
    }
}

/// `text` as an SQL string literal (quotes doubled), for the few statements
/// sent as simple queries, which take no parameters.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: &str, version: i64) -> (CacheKey, CachedState) {
        (
            (TypeId::of::<i64>(), stream.to_owned()),
            CachedState {
                version,
                state: Arc::new(version),
            },
        )
    }

    fn version(cache: &AggregateCache, stream: &str) -> Option<i64> {
        cache
            .get(&(TypeId::of::<i64>(), stream.to_owned()))
            .map(|(v, _)| v)
    }

    #[test]
    fn a_literal_doubles_its_quotes() {
        assert_eq!(literal("conversation:42"), "'conversation:42'");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn an_older_fold_never_replaces_a_newer_one() {
        let cache = AggregateCache::new(10);
        cache.put_all(vec![entry("s", 5)]);
        cache.put_all(vec![entry("s", 3)]);
        assert_eq!(version(&cache, "s"), Some(5));
        cache.put_all(vec![entry("s", 7)]);
        assert_eq!(version(&cache, "s"), Some(7));
    }

    #[test]
    fn it_holds_at_most_its_capacity_and_keeps_what_was_used_lately() {
        let cache = AggregateCache::new(4);
        for i in 0..4 {
            cache.put_all(vec![entry(&format!("s{i}"), 1)]);
        }
        // s0 and s1 went to the older generation; using s0 keeps it.
        assert_eq!(version(&cache, "s0"), Some(1));
        for i in 4..6 {
            cache.put_all(vec![entry(&format!("s{i}"), 1)]);
        }
        let held: Vec<&str> = ["s0", "s1", "s2", "s3", "s4", "s5"]
            .into_iter()
            .filter(|s| version(&cache, s).is_some())
            .collect();
        assert!(held.len() <= 4, "{held:?}");
        assert!(held.contains(&"s5"), "{held:?}");
        assert!(!held.contains(&"s1"), "{held:?}");
    }

    #[test]
    fn a_zero_capacity_cache_holds_nothing() {
        let cache = AggregateCache::new(0);
        cache.put_all(vec![entry("s", 1)]);
        assert_eq!(version(&cache, "s"), None);
    }
}
