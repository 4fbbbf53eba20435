//! A database and a NATS stream per test, events in the log and on the
//! wire, and waiting on real conditions.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use chrono::{DateTime, TimeZone, Utc};
use domain::account::Role;
use domain::contact::ContactFields;
use domain::conversation::ConversationStatus;
use domain::inbox::{Channel, InboxSettings, WorkingHour};
use domain::message::{ContentType, MessageType, Sender};
use domain::{Actor, Event, StreamId};
use infra::envelope::Envelope;
use infra::settings::Secret;
use infra::stored::{StoredEvent, COLUMNS};
use infra::Settings;
use projections::apply::{Applied, ApplyError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database (migrated, read model created) and a NATS stream and
/// subject prefix of its own.
pub struct TestEnv {
    pub settings: Settings,
    pub pool: PgPool,
    db: String,
}

impl TestEnv {
    /// Database migrated and `read_model` ensured.
    pub async fn new() -> Self {
        let env = Self::bare().await;
        projections::schema::ensure(&env.pool).await.unwrap();
        env
    }

    /// Database migrated, no read model yet.
    pub async fn bare() -> Self {
        infra::telemetry::init("warn");
        let tag = Uuid::new_v4().simple().to_string();
        let db = format!("pt_{tag}");
        let mut admin = PgConnection::connect(ADMIN_URL)
            .await
            .expect("postgres is reachable");
        admin
            .execute(format!(r#"create database "{db}""#).as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut settings = Settings::from_env(0).unwrap();
        settings.database_url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db}"));
        settings.database_pool_size = 6;
        settings.nats_stream = format!("PT_{tag}");
        settings.subject_prefix = format!("pt{tag}.events");
        settings.host = "127.0.0.1".into();
        settings.port = 0;
        let pool = infra::db::connect(&settings).await.unwrap();
        infra::db::migrate(&pool).await.unwrap();
        TestEnv { settings, pool, db }
    }

    /// Drops the database and the NATS stream. The database goes `with
    /// (force)`, which ends its sessions, so this does not wait for the
    /// pool to close: that waits for every checked-out connection, for
    /// ever if the test still holds one.
    pub async fn cleanup(self) {
        let connect = infra::nats::connect(&self.settings);
        if let Ok(Ok(js)) = tokio::time::timeout(Duration::from_secs(5), connect).await {
            let _ = js.delete_stream(&self.settings.nats_stream).await;
        }
        let mut admin = PgConnection::connect(ADMIN_URL).await.unwrap();
        admin
            .execute(format!(r#"drop database if exists "{}" with (force)"#, self.db).as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn applied(&self) -> i64 {
        self.scalar("select applied from read_model.projection_state")
            .await
    }

    /// Starts the live worker; stop it with [`Worker::stop`].
    pub fn spawn_worker(&self) -> Worker {
        let (stop, rx) = watch::channel(false);
        let shutdown = async move {
            let mut rx = rx;
            let _ = rx.wait_for(|s| *s).await;
        };
        let task = tokio::spawn(projections::worker::run(
            self.settings.clone(),
            self.pool.clone(),
            shutdown,
        ));
        Worker { stop, task }
    }

    /// The worker's durable consumer, once the worker has created it.
    pub async fn consumer(&self) -> jetstream::consumer::Consumer<pull::Config> {
        let js = infra::nats::connect(&self.settings).await.unwrap();
        let end = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(stream) = js.get_stream(&self.settings.nats_stream).await {
                if let Ok(consumer) = stream
                    .get_consumer(projections::worker::DEFAULT_CONSUMER)
                    .await
                {
                    return consumer;
                }
            }
            assert!(
                tokio::time::Instant::now() < end,
                "timed out waiting for the worker's consumer"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A running worker.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    /// Signals shutdown and waits (bounded) for the worker to return.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let result = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the worker stops on shutdown");
        result.unwrap().unwrap();
    }
}

/// Polls `check` until it holds or the deadline passes: a wait on the real
/// condition, never a fixed sleep.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fixed clock: event `n` happens `n` seconds after a fixed instant.
pub fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap() + chrono::Duration::seconds(n)
}

/// Envelopes built in memory, numbered as the relay would number them.
#[derive(Default)]
pub struct Envelopes {
    versions: HashMap<String, i64>,
    position: i64,
}

impl Envelopes {
    pub fn next(&mut self, stream: &StreamId, event: &Event) -> Envelope {
        let stream_id = stream.to_string();
        let version = self.versions.entry(stream_id.clone()).or_insert(0);
        *version += 1;
        self.position += 1;
        envelope(&stream_id, *version, self.position, event)
    }
}

/// The envelope of `event` at a stream version and log position.
pub fn envelope(stream_id: &str, version: i64, position: i64, event: &Event) -> Envelope {
    let stored = StoredEvent {
        position,
        txid: 1000 + position,
        event_id: Uuid::new_v4(),
        stream_id: stream_id.to_owned(),
        stream_version: version,
        account_id: event.account_id(),
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        payload: event.payload(),
        metadata: serde_json::json!({"actor_type": "system", "correlation_id": "test"}),
        occurred_at: at(position),
        recorded_at: at(position),
    };
    Envelope::from_stored(&stored)
}

/// Applies one envelope to `read_model` in a transaction of its own,
/// committed unless the apply failed.
pub async fn apply_one(pool: &PgPool, env: &Envelope) -> Result<Applied, ApplyError> {
    let mut tx = pool.begin().await.unwrap();
    projections::schema::use_schema(&mut tx, "read_model")
        .await
        .unwrap();
    let result = projections::apply::apply(&mut tx, env).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

/// Applies `events` to `read_model` in one batch without savepoints, as
/// the worker does, and commits; returns the transaction's id.
pub async fn apply_in_one_batch(env: &TestEnv, events: &[Envelope]) -> i64 {
    let mut tx = schema_transaction(env, "read_model").await;
    let txid: i64 = sqlx::query_scalar("select pg_current_xact_id()::text::bigint")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    apply_batch(&mut tx, events).await;
    tx.commit().await.unwrap();
    txid
}

/// Applies `log` in one batch without savepoints in the transaction of
/// `conn`, as the worker and the rebuild do.
async fn apply_batch<'a>(
    conn: &mut PgConnection,
    log: impl IntoIterator<Item = &'a Envelope> + Clone,
) {
    let mut batch = projections::batch::Batch::open(
        &mut *conn,
        log.clone().into_iter().map(|e| e.streamid.as_str()),
    )
    .await
    .unwrap();
    for e in log {
        batch.apply(&mut *conn, e).await.unwrap();
    }
    let _ = batch.close(conn, None).await.unwrap();
}

/// A transaction with its search path on `schema`.
pub async fn schema_transaction(
    env: &TestEnv,
    schema: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = env.pool.begin().await.unwrap();
    projections::schema::use_schema(&mut tx, schema)
        .await
        .unwrap();
    tx
}

/// Creates an empty read model in `schema`.
pub async fn create_schema(env: &TestEnv, schema: &str) {
    let mut tx = env.pool.begin().await.unwrap();
    projections::schema::create_in(&mut tx, schema)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Applies `log` to a new read model in `schema`, each event in a
/// transaction of its own and written with its event (the savepoint mode):
/// the reference a batch's deferred writes must equal.
pub async fn apply_one_at_a_time(env: &TestEnv, schema: &str, log: &[Envelope]) {
    create_schema(env, schema).await;
    for e in log {
        let mut tx = schema_transaction(env, schema).await;
        let mut batch = projections::batch::Batch::open(&mut tx, [e.streamid.as_str()])
            .await
            .unwrap()
            .eager();
        batch.apply(&mut tx, e).await.unwrap();
        let _ = batch.close(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// Applies `log` to a new read model in `schema` in one batch without
/// savepoints, as the worker and the rebuild do.
pub async fn apply_as_one_batch<'a>(
    env: &TestEnv,
    schema: &str,
    log: impl IntoIterator<Item = &'a Envelope> + Clone,
) {
    create_schema(env, schema).await;
    let mut tx = schema_transaction(env, schema).await;
    apply_batch(&mut tx, log).await;
    tx.commit().await.unwrap();
}

/// The read models in schemas `alone` and `together` are the same, by the
/// rebuild's checksum of every table.
pub async fn assert_same_read_model(env: &TestEnv, alone: &str, together: &str) {
    let alone = projections::checksum(&env.pool, alone).await.unwrap();
    let together = projections::checksum(&env.pool, together).await.unwrap();
    assert_eq!(together, alone);
}

/// Events into the log and onto the stream, as the command service and
/// the relay would put them there.
pub struct Feed {
    pub js: jetstream::Context,
    pool: PgPool,
    prefix: String,
}

impl Feed {
    pub async fn new(env: &TestEnv) -> Self {
        let js = infra::nats::connect(&env.settings).await.unwrap();
        infra::nats::ensure_stream(&js, &env.settings)
            .await
            .unwrap();
        Feed {
            js,
            pool: env.pool.clone(),
            prefix: env.settings.subject_prefix.clone(),
        }
    }

    /// Appends an event to its stream in the log (committed) and returns
    /// its envelope.
    pub async fn append(&self, stream: &StreamId, event: &Event) -> Envelope {
        self.append_raw(
            &stream.to_string(),
            event.event_type(),
            event.schema_version(),
            event.account_id(),
            event.payload(),
        )
        .await
    }

    /// Appends whatever payload, even one no code can read.
    pub async fn append_raw(
        &self,
        stream_id: &str,
        event_type: &str,
        schema_version: i32,
        account_id: Option<i64>,
        payload: Value,
    ) -> Envelope {
        let stored: StoredEvent = sqlx::query_as(&format!(
            "insert into event_store.events (event_id, stream_id, stream_version, account_id, \
               event_type, schema_version, payload, metadata, occurred_at) \
             values ($1, $2, \
               (select coalesce(max(stream_version), 0) + 1 from event_store.events where stream_id = $2), \
               $3, $4, $5, $6, '{{\"actor_type\":\"system\",\"correlation_id\":\"test\"}}', \
               date_trunc('milliseconds', clock_timestamp())) \
             returning {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(stream_id)
        .bind(account_id)
        .bind(event_type)
        .bind(schema_version)
        .bind(payload)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        Envelope::from_stored(&stored)
    }

    /// Publishes an envelope with its event id as `Nats-Msg-Id`.
    pub async fn publish(&self, env: &Envelope) {
        let payload = serde_json::to_vec(env).unwrap();
        self.publish_raw(&env.subject(&self.prefix), &env.id.to_string(), payload)
            .await;
    }

    /// Publishes bytes under a subject of the feed.
    pub async fn publish_raw(&self, subject: &str, msg_id: &str, payload: Vec<u8>) {
        let message = jetstream::message::PublishMessage::build()
            .message_id(msg_id)
            .payload(payload.into());
        self.js
            .send_publish(subject.to_owned(), message)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    pub fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }

    /// Appends and publishes.
    pub async fn emit(&self, stream: &StreamId, event: &Event) -> Envelope {
        let env = self.append(stream, event).await;
        self.publish(&env).await;
        env
    }
}

// ---- events -------------------------------------------------------------------

pub fn account_created(id: i64) -> Event {
    Event::AccountCreated {
        account_id: id,
        name: format!("Account {id}"),
        locale: "en".into(),
        domain: None,
        support_email: None,
        custom_attributes: Default::default(),
    }
}

pub fn user_created(id: i64) -> Event {
    Event::UserCreated {
        user_id: id,
        name: format!("User {id}"),
        display_name: None,
        email: format!("user{id}@example.com"),
        custom_attributes: Default::default(),
        access_token_hash: format!("hash-of-user-{id}"),
    }
}

pub fn member_added(account_id: i64, account_user_id: i64, user_id: i64) -> Event {
    Event::AccountUserAdded {
        account_id,
        account_user_id,
        user_id,
        role: Role::Agent,
        inviter_id: None,
    }
}

pub fn inbox_settings(name: &str) -> InboxSettings {
    InboxSettings {
        name: name.into(),
        greeting_enabled: false,
        greeting_message: None,
        enable_auto_assignment: true,
        working_hours_enabled: false,
        out_of_office_message: None,
        timezone: "UTC".into(),
        working_hours: vec![WorkingHour {
            day_of_week: 1,
            closed_all_day: false,
            open_hour: Some(9),
            open_minutes: Some(0),
            close_hour: Some(17),
            close_minutes: Some(0),
            open_all_day: false,
        }],
    }
}

pub fn inbox_created(inbox_id: i64, account_id: i64) -> Event {
    Event::InboxCreated {
        inbox_id,
        account_id,
        channel_id: inbox_id,
        channel: Channel::Api {
            webhook_url: None,
            hmac_token: format!("hmac-{inbox_id}"),
        },
        settings: inbox_settings(&format!("Inbox {inbox_id}")),
    }
}

pub fn contact_created(contact_id: i64, account_id: i64, name: &str) -> Event {
    Event::ContactCreated {
        contact_id,
        account_id,
        fields: ContactFields {
            name: name.into(),
            ..Default::default()
        },
    }
}

pub fn contact_updated(contact_id: i64, account_id: i64, name: &str) -> Event {
    Event::ContactUpdated {
        contact_id,
        account_id,
        fields: ContactFields {
            name: name.into(),
            ..Default::default()
        },
    }
}

/// A conversation of `contact_id` in `inbox_id`, with display id = id.
pub fn conversation_created(
    id: i64,
    account_id: i64,
    inbox_id: i64,
    contact_id: i64,
    status: ConversationStatus,
    assignee_id: Option<i64>,
    team_id: Option<i64>,
) -> Event {
    Event::ConversationCreated {
        conversation_id: id,
        account_id,
        display_id: id,
        inbox_id,
        contact_id,
        contact_inbox_id: contact_id,
        status,
        assignee_id,
        team_id,
        snoozed_until: None,
        additional_attributes: Default::default(),
        custom_attributes: Default::default(),
    }
}

pub fn status_changed(
    id: i64,
    account_id: i64,
    from: ConversationStatus,
    to: ConversationStatus,
) -> Event {
    Event::ConversationStatusChanged {
        conversation_id: id,
        account_id,
        from,
        to,
        snoozed_until: (to == ConversationStatus::Snoozed).then_some(1_800_000_000),
        actor: Actor::user(1),
    }
}

/// A message of `conversation` in `account` (inbox = account × 10).
pub fn message_created(
    id: i64,
    account: i64,
    conversation: i64,
    message_type: MessageType,
    private: bool,
    sender: Option<Sender>,
) -> Event {
    Event::MessageCreated {
        message_id: id,
        account_id: account,
        conversation_id: conversation,
        inbox_id: account * 10,
        message_type,
        content: Some(format!("m{id}")),
        content_type: ContentType::Text,
        content_attributes: domain::Attributes::new(),
        private,
        sender,
        source_id: None,
        attachments: vec![],
    }
}

/// A random but valid mix of events on two accounts: the setup (accounts,
/// inboxes, contacts), then conversations opened and moved between
/// statuses, and contacts renamed.
pub struct Workload {
    rng: StdRng,
    conversations: Vec<(i64, i64, ConversationStatus)>,
    next_conversation: i64,
}

const ACCOUNTS: [i64; 2] = [1, 2];
const CONTACTS_PER_ACCOUNT: i64 = 4;

impl Workload {
    pub fn new(seed: u64) -> Self {
        Workload {
            rng: StdRng::seed_from_u64(seed),
            conversations: Vec::new(),
            next_conversation: 1,
        }
    }

    pub fn setup(&self) -> Vec<(StreamId, Event)> {
        let mut events = Vec::new();
        for account in ACCOUNTS {
            events.push((StreamId::account(account), account_created(account)));
            for i in 0..2 {
                let inbox = account * 10 + i;
                events.push((StreamId::inbox(inbox), inbox_created(inbox, account)));
            }
            for i in 0..CONTACTS_PER_ACCOUNT {
                let contact = account * 100 + i;
                events.push((
                    StreamId::contact(contact),
                    contact_created(contact, account, "new"),
                ));
            }
        }
        events
    }

    pub fn step(&mut self) -> (StreamId, Event) {
        let roll: f64 = self.rng.gen();
        if self.conversations.is_empty() || roll < 0.35 {
            let id = self.next_conversation;
            self.next_conversation += 1;
            let account = ACCOUNTS[self.rng.gen_range(0..ACCOUNTS.len())];
            let inbox = account * 10 + self.rng.gen_range(0..2);
            let contact = account * 100 + self.rng.gen_range(0..CONTACTS_PER_ACCOUNT);
            let status = ConversationStatus::ALL[self.rng.gen_range(0..4)];
            let assignee = [None, Some(1), Some(2)][self.rng.gen_range(0..3)];
            let team = [None, Some(7)][self.rng.gen_range(0..2)];
            self.conversations.push((id, account, status));
            let event = conversation_created(id, account, inbox, contact, status, assignee, team);
            (StreamId::conversation(id), event)
        } else if roll < 0.9 {
            let i = self.rng.gen_range(0..self.conversations.len());
            let (id, account, from) = self.conversations[i];
            let choices: Vec<ConversationStatus> = ConversationStatus::ALL
                .into_iter()
                .filter(|s| *s != from)
                .collect();
            let to = choices[self.rng.gen_range(0..choices.len())];
            self.conversations[i].2 = to;
            (
                StreamId::conversation(id),
                status_changed(id, account, from, to),
            )
        } else {
            let account = ACCOUNTS[self.rng.gen_range(0..ACCOUNTS.len())];
            let contact = account * 100 + self.rng.gen_range(0..CONTACTS_PER_ACCOUNT);
            let name = format!("renamed {}", self.rng.gen_range(0..1000));
            (
                StreamId::contact(contact),
                contact_updated(contact, account, &name),
            )
        }
    }
}

/// The counters as stored, and as a grouped count of conversations.
pub async fn counters_and_counts(pool: &PgPool) -> (Vec<CountRow>, Vec<CountRow>) {
    counters_and_counts_in(pool, "read_model").await
}

/// [`counters_and_counts`] of the read model in `schema`.
pub async fn counters_and_counts_in(pool: &PgPool, schema: &str) -> (Vec<CountRow>, Vec<CountRow>) {
    let stored: Vec<CountRow> = sqlx::query_as(&format!(
        "select account_id, inbox_id, status, assignee_id, team_id, n \
         from {schema}.conversation_counts \
         order by account_id, inbox_id, status, assignee_id, team_id"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    let counted: Vec<CountRow> = sqlx::query_as(&format!(
        "select account_id, inbox_id, status, coalesce(assignee_id, 0) as assignee_id, \
           coalesce(team_id, 0) as team_id, count(*) as n \
         from {schema}.conversations \
         group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    (stored, counted)
}

pub type CountRow = (i64, i64, String, i64, i64, i64);
