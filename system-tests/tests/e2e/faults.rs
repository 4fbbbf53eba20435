//! Fault injection (issue 4, item 1): under a steady write load through the
//! front door, one fault per test — the command service killed with SIGKILL,
//! NATS restarted, Postgres restarted — then the same checks each time:
//!
//! - every client got an answer or a connection error, never a hang: each
//!   write has [`REQUEST_TIMEOUT`]; a failure is a 5xx or a cut connection,
//!   never a 4xx that blames the client;
//! - every acknowledged write (2xx) is in the event log, found by the ids its
//!   answer returned (no success is lost, none is false);
//! - every event of the log is in the read model exactly once
//!   (`projections::status`: applied = log events, nothing parked; each
//!   stream's last version is in `read_model.stream_versions`), and clients
//!   see as many contacts and conversations as the log holds;
//! - a read model rebuilt from the log equals the live one (checksums).
//!
//! Each test prints its figures (writes sent, acknowledged, failed, recovered
//! after the fault; time from the restart until the read model caught up) and
//! passes or fails on the properties only, never on timings. The relay and
//! projection-worker SIGKILLs are `crash_recovery`'s.
//!
//! NATS and Postgres restarts use private servers ([`PrivateNats`],
//! [`PrivatePostgres`]); the shared ones other tests use are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::time::Instant;

use crate::harness::{
    Client, PrivateNats, PrivatePostgres, Process, SendError, System, SystemOptions,
};

const WRITERS: usize = 4;
/// A write not answered within this is a hang, which fails the test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// Load before the fault.
const LOAD_BEFORE: Duration = Duration::from_millis(1000);
/// Load after the fault is repaired.
const LOAD_AFTER: Duration = Duration::from_millis(1500);
/// How long everything may take to catch up once the fault is repaired.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(60);

/// What a write was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Contact,
    Conversation,
    Toggle,
}

/// What a client saw of one write.
#[derive(Debug)]
struct Outcome {
    /// When the answer (or the error) came.
    at: Instant,
    /// How long the client waited for it.
    took: Duration,
    kind: Kind,
    /// The contact id or the conversation's display id on a 2xx; what went
    /// wrong otherwise.
    result: Result<i64, Failure>,
}

#[derive(Debug)]
enum Failure {
    /// A 5xx: a clear error.
    Server(u16, String),
    /// The connection was refused or cut: a clear error.
    Connection(String),
    /// A 4xx: it blames the client for the fault. Fails the test.
    Client(u16, String),
    /// No answer within [`REQUEST_TIMEOUT`]. Fails the test.
    Hang(String),
    /// A 2xx without the id it must carry. Fails the test.
    NoId(String),
}

impl Failure {
    fn label(&self) -> String {
        match self {
            Failure::Server(status, _) => format!("HTTP {status}"),
            Failure::Connection(_) => "connection error".into(),
            Failure::Client(status, _) => format!("HTTP {status} (client error!)"),
            Failure::Hang(_) => "hang".into(),
            Failure::NoId(_) => "2xx without an id".into(),
        }
    }

    fn detail(&self) -> &str {
        match self {
            Failure::Server(_, d)
            | Failure::Connection(d)
            | Failure::Client(_, d)
            | Failure::Hang(d)
            | Failure::NoId(d) => d,
        }
    }

    fn is_clear(&self) -> bool {
        matches!(self, Failure::Server(..) | Failure::Connection(_))
    }
}

type Outcomes = Arc<Mutex<Vec<Outcome>>>;

/// An account with an administrator and an API inbox: (account, token, inbox).
async fn set_up_account(api: &Client, platform: &str) -> (i64, String, i64) {
    let account = api
        .post(
            "/platform/api/v1/accounts",
            platform,
            json!({"name": "Fault Test"}),
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    let account_id = account.body["id"].as_i64().expect("an account id");
    let user = api
        .post(
            "/platform/api/v1/users",
            platform,
            json!({"name": "Ada Admin", "email": "ada@fault.test", "password": "Password1!"}),
        )
        .await;
    assert_eq!(user.status, 200, "{}", user.body);
    let user_id = user.body["id"].as_i64().expect("a user id");
    let token = user.body["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let membership = api
        .post(
            &format!("/platform/api/v1/accounts/{account_id}/account_users"),
            platform,
            json!({"user_id": user_id, "role": "administrator"}),
        )
        .await;
    assert_eq!(membership.status, 200, "{}", membership.body);
    let inbox = api
        .post(
            &format!("/api/v1/accounts/{account_id}/inboxes"),
            &token,
            json!({"name": "API", "channel": {"type": "api"}}),
        )
        .await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let inbox_id = inbox.body["id"].as_i64().expect("an inbox id");
    (account_id, token, inbox_id)
}

/// One write; records what the client saw and returns the id on a 2xx.
async fn attempt(
    api: &Client,
    outcomes: &Outcomes,
    kind: Kind,
    path: &str,
    token: &str,
    body: Value,
    id: impl Fn(&Value) -> Option<i64>,
) -> Option<i64> {
    let started = Instant::now();
    let result = match api
        .try_post_without_waiting(path, token, body, REQUEST_TIMEOUT)
        .await
    {
        Ok(reply) if (200..300).contains(&reply.status) => {
            id(&reply.body).ok_or_else(|| Failure::NoId(reply.body.to_string()))
        }
        Ok(reply) if reply.status >= 500 => {
            Err(Failure::Server(reply.status, reply.body.to_string()))
        }
        Ok(reply) => Err(Failure::Client(reply.status, reply.body.to_string())),
        Err(SendError::Timeout(e)) => Err(Failure::Hang(e)),
        Err(SendError::Connection(e)) => Err(Failure::Connection(e)),
    };
    let ok = result.as_ref().ok().copied();
    outcomes.lock().expect("outcomes").push(Outcome {
        at: Instant::now(),
        took: started.elapsed(),
        kind,
        result,
    });
    if ok.is_none() {
        // Do not spin on a dead service.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ok
}

/// One writer, until `stop`: a contact, a conversation for it, every other
/// conversation resolved. A failed step skips the rest of the round.
async fn write(
    api: Client,
    account_id: i64,
    token: String,
    inbox_id: i64,
    writer: usize,
    stop: Arc<AtomicBool>,
    outcomes: Outcomes,
) {
    let path = |rest: &str| format!("/api/v1/accounts/{account_id}{rest}");
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let Some(contact_id) = attempt(
            &api,
            &outcomes,
            Kind::Contact,
            &path("/contacts"),
            &token,
            json!({"name": format!("Customer {writer}-{i}"), "email": format!("c{writer}-{i}@fault.test")}),
            |b| b["payload"]["contact"]["id"].as_i64(),
        )
        .await
        else {
            continue;
        };
        let Some(display_id) = attempt(
            &api,
            &outcomes,
            Kind::Conversation,
            &path("/conversations"),
            &token,
            json!({"contact_id": contact_id, "inbox_id": inbox_id}),
            |b| b["id"].as_i64(),
        )
        .await
        else {
            continue;
        };
        if i % 2 == 0 {
            attempt(
                &api,
                &outcomes,
                Kind::Toggle,
                &path(&format!("/conversations/{display_id}/toggle_status")),
                &token,
                json!({}),
                |_| Some(display_id),
            )
            .await;
        }
    }
}

/// The write load: [`WRITERS`] writers through the front door.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Outcomes,
    writers: Vec<tokio::task::JoinHandle<()>>,
    account_id: i64,
    token: String,
}

impl Load {
    async fn start(system: &System) -> Load {
        let api = system.client();
        let (account_id, token, inbox_id) = set_up_account(&api, system.platform_token()).await;
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes: Outcomes = Arc::default();
        let writers = (0..WRITERS)
            .map(|writer| {
                tokio::spawn(write(
                    system.client(),
                    account_id,
                    token.clone(),
                    inbox_id,
                    writer,
                    stop.clone(),
                    outcomes.clone(),
                ))
            })
            .collect();
        Load {
            stop,
            outcomes,
            writers,
            account_id,
            token,
        }
    }

    /// Stops the writers and returns every outcome.
    async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer.await.expect("a writer panicked");
        }
        std::mem::take(&mut *self.outcomes.lock().expect("outcomes"))
    }
}

/// A pool to the system's database that gives up quickly while Postgres is
/// down (the test's own view; the services have theirs).
async fn test_pool(system: &System) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&system.database_url())
        .await
        .expect("connecting to the system's database")
}

/// Polls until the read model has applied as many events as the log held at
/// `since` (the moment the fault was repaired); returns how long that took
/// from `since`. Errors while Postgres comes back are retried.
async fn time_to_catch_up(pool: &PgPool, since: Instant, log_events_then: i64) -> Duration {
    let deadline = since + CATCH_UP_DEADLINE;
    loop {
        if let Ok(status) = projections::status::status(pool).await {
            if status.applied >= log_events_then {
                return since.elapsed();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the read model did not reach the log's size at the repair ({log_events_then} events) within {CATCH_UP_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The log's size now, retrying while Postgres comes back.
async fn log_events(pool: &PgPool) -> i64 {
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    loop {
        match sqlx::query_scalar::<_, i64>("select count(*) from event_store.events")
            .fetch_one(pool)
            .await
        {
            Ok(n) => return n,
            Err(e) => assert!(Instant::now() < deadline, "counting the log: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the projection has applied every event of the log, exactly once.
async fn wait_caught_up(pool: &PgPool) {
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    loop {
        let status = projections::status::status(pool).await;
        if let Ok(status) = &status {
            if status.pending() == 0 {
                assert_eq!(status.parked, 0, "nothing parked: {status}");
                assert_eq!(
                    status.applied, status.log_events,
                    "every event applied once: {status}"
                );
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the read model did not catch up within {CATCH_UP_DEADLINE:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The checks every scenario ends with; prints the figures.
async fn verify(
    scenario: &str,
    system: &System,
    outcomes: &[Outcome],
    repaired_at: Instant,
    recovery: Duration,
    account_id: i64,
    token: &str,
) {
    // Figures first, so that a failing run shows them too.
    let sent = outcomes.len();
    let acked: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    let recovered = acked.iter().filter(|o| o.at > repaired_at).count();
    let longest_failure = failed.iter().map(|o| o.took).max().unwrap_or_default();
    let longest_success = acked.iter().map(|o| o.took).max().unwrap_or_default();
    let mut by_failure: BTreeMap<String, usize> = BTreeMap::new();
    let mut samples: BTreeMap<String, String> = BTreeMap::new();
    for o in &failed {
        if let Err(f) = &o.result {
            *by_failure.entry(f.label()).or_default() += 1;
            samples
                .entry(f.label())
                .or_insert_with(|| f.detail().chars().take(200).collect());
        }
    }
    eprintln!(
        "[fault: {scenario}] writes sent {sent}, acknowledged {}, failed {} {by_failure:?}, \
         acknowledged after the repair {recovered}; read model caught up {} ms after the repair; \
         longest wait for a success {} ms, for a failure {} ms",
        acked.len(),
        failed.len(),
        recovery.as_millis(),
        longest_success.as_millis(),
        longest_failure.as_millis()
    );
    for (label, sample) in &samples {
        eprintln!("[fault: {scenario}]   e.g. {label}: {sample}");
    }

    // Clients got a success or a clear error.
    let unclear: Vec<String> = failed
        .iter()
        .filter_map(|o| match &o.result {
            Err(f) if !f.is_clear() => Some(format!("{:?}: {f:?}", o.kind)),
            _ => None,
        })
        .take(5)
        .collect();
    assert!(
        unclear.is_empty(),
        "every failure is a 5xx or a cut connection: {unclear:#?}"
    );
    assert!(
        recovered > 0,
        "writes succeed again after the repair ({sent} sent)"
    );

    let pool = test_pool(system).await;
    wait_caught_up(&pool).await;

    // Every acknowledged write is in the log, by the ids its answer returned.
    let ids = |kind: Kind| -> BTreeSet<i64> {
        acked
            .iter()
            .filter(|o| o.kind == kind)
            .filter_map(|o| o.result.as_ref().ok().copied())
            .collect()
    };
    let contact_streams: BTreeSet<String> = sqlx::query_scalar(
        "select distinct stream_id from event_store.events \
         where account_id = $1 and stream_id like 'contact:%'",
    )
    .bind(account_id)
    .fetch_all(&pool)
    .await
    .expect("reading contact streams")
    .into_iter()
    .collect();
    let lost_contacts: Vec<i64> = ids(Kind::Contact)
        .into_iter()
        .filter(|id| !contact_streams.contains(&format!("contact:{id}")))
        .collect();
    assert!(
        lost_contacts.is_empty(),
        "acknowledged contacts missing from the log: {lost_contacts:?}"
    );
    // Conversations: display id -> stream, from the creation events.
    let created: Vec<(String, Value)> = sqlx::query_as(
        "select stream_id, payload from event_store.events \
         where account_id = $1 and event_type = 'ConversationCreated'",
    )
    .bind(account_id)
    .fetch_all(&pool)
    .await
    .expect("reading conversation creations");
    let display_to_stream: BTreeMap<i64, String> = created
        .iter()
        .filter_map(|(stream, payload)| Some((find_i64(payload, "display_id")?, stream.clone())))
        .collect();
    assert_eq!(
        display_to_stream.len(),
        created.len(),
        "each ConversationCreated carries its display id"
    );
    let lost_conversations: Vec<i64> = ids(Kind::Conversation)
        .into_iter()
        .filter(|id| !display_to_stream.contains_key(id))
        .collect();
    assert!(
        lost_conversations.is_empty(),
        "acknowledged conversations missing from the log: {lost_conversations:?}"
    );
    let changed: BTreeSet<String> = sqlx::query_scalar(
        "select distinct stream_id from event_store.events \
         where account_id = $1 and event_type = 'ConversationStatusChanged'",
    )
    .bind(account_id)
    .fetch_all(&pool)
    .await
    .expect("reading status changes")
    .into_iter()
    .collect();
    let lost_toggles: Vec<i64> = ids(Kind::Toggle)
        .into_iter()
        .filter(|id| {
            display_to_stream
                .get(id)
                .is_none_or(|stream| !changed.contains(stream))
        })
        .collect();
    assert!(
        lost_toggles.is_empty(),
        "acknowledged status changes missing from the log: {lost_toggles:?}"
    );

    // Every stream's newest version reached the read model, and no other.
    let behind: i64 = sqlx::query_scalar(
        "select count(*) from (select stream_id, max(stream_version) as version \
         from event_store.events group by stream_id) log \
         full join read_model.stream_versions rm using (stream_id) \
         where log.version is distinct from rm.version",
    )
    .fetch_one(&pool)
    .await
    .expect("comparing stream versions");
    assert_eq!(behind, 0, "each stream's last version is in the read model");

    // What clients see: the log's contacts and conversations, each once.
    let api = system.client();
    let path = |rest: &str| format!("/api/v1/accounts/{account_id}{rest}");
    let all = api.get(&path("/conversations?status=all"), token).await;
    assert_eq!(
        all.body["data"]["meta"]["all_count"],
        json!(created.len()),
        "{}",
        all.body
    );
    let contacts = api.get(&path("/contacts"), token).await;
    assert_eq!(
        contacts.body["meta"]["count"],
        json!(contact_streams.len()),
        "{}",
        contacts.body
    );

    // A read model rebuilt from the log equals the live one.
    let live = projections::checksum(&pool, "read_model")
        .await
        .expect("checksum of the live read model");
    let out = system
        .run_command("projections", &["rebuild", "--quiet"])
        .await;
    assert!(out.contains("rebuilt"), "{out}");
    let rebuilt = projections::checksum(&pool, "read_model")
        .await
        .expect("checksum of the rebuilt read model");
    assert_eq!(live, rebuilt, "the rebuilt read model equals the live one");
    pool.close().await;
}

/// The first integer under `key` anywhere in a JSON value.
fn find_i64(value: &Value, key: &str) -> Option<i64> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_i64)
            .or_else(|| map.values().find_map(|v| find_i64(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_i64(v, key)),
        _ => None,
    }
}

/// Fails with the process's log if it exited on its own.
fn assert_running(system: &mut System, processes: &[Process]) {
    for &process in processes {
        if let Some(status) = system.exited(process) {
            panic!(
                "{} exited ({status}) instead of riding out the fault; its log ends:\n{}",
                process.name(),
                system.log_tail(process, 40)
            );
        }
    }
}

#[tokio::test]
async fn command_service_killed_9_loses_no_acknowledged_write() {
    let mut system = System::start().await;
    let pool = test_pool(&system).await;
    let load = Load::start(&system).await;
    tokio::time::sleep(LOAD_BEFORE).await;

    system.kill9(Process::CommandService);
    tokio::time::sleep(Duration::from_millis(300)).await;
    system.restart(Process::CommandService).await;
    let repaired_at = Instant::now();
    let log_then = log_events(&pool).await;
    let recovery = time_to_catch_up(&pool, repaired_at, log_then).await;
    tokio::time::sleep(LOAD_AFTER.saturating_sub(repaired_at.elapsed())).await;

    let (account_id, token) = (load.account_id, load.token.clone());
    let outcomes = load.finish().await;
    verify(
        "command service SIGKILL",
        &system,
        &outcomes,
        repaired_at,
        recovery,
        account_id,
        &token,
    )
    .await;
    pool.close().await;
}

/// NATS stopped (SIGTERM, or SIGKILL if `kill`) for a second, then started
/// again on the same port and store.
async fn nats_outage(scenario: &str, kill: bool) {
    let mut nats = PrivateNats::start().await;
    let mut system = System::start_with(SystemOptions {
        nats_url: nats.url(),
        ..SystemOptions::default()
    })
    .await;
    let pool = test_pool(&system).await;
    let load = Load::start(&system).await;
    tokio::time::sleep(LOAD_BEFORE).await;

    if kill {
        nats.kill9();
    } else {
        nats.stop().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.start_again().await;
    let repaired_at = Instant::now();
    let log_then = log_events(&pool).await;
    let recovery = time_to_catch_up(&pool, repaired_at, log_then).await;
    tokio::time::sleep(LOAD_AFTER.saturating_sub(repaired_at.elapsed())).await;
    assert_running(
        &mut system,
        &[Process::Relay, Process::StandbyRelay, Process::Projections],
    );

    let (account_id, token) = (load.account_id, load.token.clone());
    let outcomes = load.finish().await;
    verify(
        scenario,
        &system,
        &outcomes,
        repaired_at,
        recovery,
        account_id,
        &token,
    )
    .await;
    pool.close().await;
}

#[tokio::test]
async fn nats_restart_is_ridden_out_by_relay_and_worker() {
    nats_outage("NATS stopped (SIGTERM) 1 s and restarted", false).await;
}

#[tokio::test]
async fn nats_killed_9_loses_nothing_the_relay_published() {
    nats_outage("NATS killed (SIGKILL) 1 s and restarted", true).await;
}

/// Postgres stopped (immediate: every connection cut without a goodbye)
/// for `down`, then started again on the same port and data.
async fn postgres_outage(scenario: &str, down: Duration) {
    let postgres = PrivatePostgres::start().await;
    let mut system = System::start_with(SystemOptions {
        postgres: postgres.url(),
        ..SystemOptions::default()
    })
    .await;
    let pool = test_pool(&system).await;
    let load = Load::start(&system).await;
    tokio::time::sleep(LOAD_BEFORE).await;

    postgres.stop("immediate").await;
    tokio::time::sleep(down).await;
    postgres.start_again().await;
    let repaired_at = Instant::now();
    let log_then = log_events(&pool).await;
    let recovery = time_to_catch_up(&pool, repaired_at, log_then).await;
    tokio::time::sleep(LOAD_AFTER.saturating_sub(repaired_at.elapsed())).await;
    assert_running(
        &mut system,
        &[
            Process::Relay,
            Process::StandbyRelay,
            Process::Projections,
            Process::QueryService,
            Process::CommandService,
        ],
    );

    let (account_id, token) = (load.account_id, load.token.clone());
    let outcomes = load.finish().await;
    verify(
        scenario,
        &system,
        &outcomes,
        repaired_at,
        recovery,
        account_id,
        &token,
    )
    .await;
    pool.close().await;
}

/// A short outage: writes caught in it wait for the pools or fail with a 5xx.
#[tokio::test]
async fn postgres_restart_is_ridden_out_by_every_service() {
    postgres_outage(
        "Postgres stopped (immediate) 1 s and restarted",
        Duration::from_secs(1),
    )
    .await;
}

/// An outage longer than the services' pool acquire timeout (10 s): writes
/// caught in it get a 5xx once that runs out, not a hang; then everything
/// recovers.
#[tokio::test]
async fn postgres_outage_past_the_pool_timeout_gives_clear_errors() {
    postgres_outage(
        "Postgres stopped (immediate) 12 s and restarted",
        Duration::from_secs(12),
    )
    .await;
}
