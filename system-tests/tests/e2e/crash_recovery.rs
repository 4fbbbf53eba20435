//! Crash recovery (issue 2, DESIGN §4 and §7.2): the leading relay and the
//! projection worker are killed with SIGKILL while clients keep writing, then
//! started again. Afterwards every committed event is in the read model
//! exactly once, and a read model rebuilt from the log equals the live one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::harness::{Client, Process, System};

const WRITERS: usize = 4;
/// How long the read model may take to catch up once everything runs again.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(60);

/// An account with an administrator and an API inbox: (account, token, inbox).
async fn set_up_account(api: &Client, platform: &str) -> (i64, String, i64) {
    let account = api
        .post(
            "/platform/api/v1/accounts",
            platform,
            json!({"name": "Crash Test"}),
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    let account_id = account.body["id"].as_i64().expect("an account id");
    let user = api
        .post(
            "/platform/api/v1/users",
            platform,
            json!({"name": "Ada Admin", "email": "ada@crash.test", "password": "Password1!"}),
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

/// One writer, until `stop`: contacts, a conversation for each, every other
/// one resolved. Writes do not wait for the read side, which is down part of
/// the time. Returns how many conversations it opened and how many of them it
/// resolved.
async fn write(
    api: Client,
    account_id: i64,
    token: String,
    inbox_id: i64,
    writer: usize,
    stop: Arc<AtomicBool>,
) -> (usize, usize) {
    let path = |rest: &str| format!("/api/v1/accounts/{account_id}{rest}");
    let mut resolved = 0;
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let contact = api
            .post_without_waiting(
                &path("/contacts"),
                &token,
                json!({"name": format!("Customer {writer}-{i}"), "email": format!("c{writer}-{i}@crash.test")}),
            )
            .await;
        assert_eq!(contact.status, 200, "{}", contact.body);
        let contact_id = contact.body["payload"]["contact"]["id"].clone();
        assert!(contact_id.is_i64(), "{}", contact.body);
        let conversation = api
            .post_without_waiting(
                &path("/conversations"),
                &token,
                json!({"contact_id": contact_id, "inbox_id": inbox_id}),
            )
            .await;
        assert_eq!(conversation.status, 200, "{}", conversation.body);
        let display_id = conversation.body["id"].as_i64().expect("a display id");
        if i % 2 == 0 {
            let toggled = api
                .post_without_waiting(
                    &path(&format!("/conversations/{display_id}/toggle_status")),
                    &token,
                    json!({}),
                )
                .await;
            assert_eq!(toggled.status, 200, "{}", toggled.body);
            resolved += 1;
        }
    }
    (i, resolved)
}

/// Waits until the projection has applied every event of the log.
async fn wait_caught_up(pool: &PgPool) {
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    loop {
        let status = projections::status::status(pool)
            .await
            .expect("reading the projection status");
        if status.pending() == 0 {
            assert_eq!(status.parked, 0, "nothing parked: {status}");
            assert_eq!(
                status.applied, status.log_events,
                "every event applied once: {status}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the read model did not catch up within {CATCH_UP_DEADLINE:?}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(reply: &Value) -> &Value {
    &reply["data"]["meta"]["all_count"]
}

#[tokio::test]
async fn nothing_is_lost_or_applied_twice_when_relay_and_worker_are_killed_9() {
    let mut system = System::start().await;
    let api = system.client();
    let platform = system.platform_token().to_owned();
    let (account_id, token, inbox_id) = set_up_account(&api, &platform).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(write(
                system.client(),
                account_id,
                token.clone(),
                inbox_id,
                writer,
                stop.clone(),
            ))
        })
        .collect();

    // Kill the relays and the worker while the writers run: for a while no
    // event is published and none is applied; then everything comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    system.kill9(Process::Relay);
    system.kill9(Process::Projections);
    tokio::time::sleep(Duration::from_millis(300)).await;
    system.kill9(Process::StandbyRelay);
    tokio::time::sleep(Duration::from_millis(500)).await;
    system.restart(Process::Relay).await;
    system.restart(Process::Projections).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Once more mid-stream, the worker only: it dies between batches or in one.
    system.kill9(Process::Projections);
    system.restart(Process::Projections).await;
    system.restart(Process::StandbyRelay).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let (mut total, mut resolved) = (0, 0);
    for writer in writers {
        let (opened, closed) = writer.await.expect("a writer panicked");
        total += opened;
        resolved += closed;
    }
    assert!(total >= WRITERS, "the writers wrote while processes died");
    eprintln!("{total} conversations opened, {resolved} resolved");

    let pool = PgPool::connect(&system.database_url())
        .await
        .expect("connecting to the system's database");
    wait_caught_up(&pool).await;

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

    // What clients see: each write counted once.
    let path = |rest: &str| format!("/api/v1/accounts/{account_id}{rest}");
    let all = api.get(&path("/conversations?status=all"), &token).await;
    assert_eq!(count(&all.body), &json!(total), "{}", all.body);
    let done = api
        .get(&path("/conversations?status=resolved"), &token)
        .await;
    assert_eq!(count(&done.body), &json!(resolved), "{}", done.body);
    let open = api.get(&path("/conversations?status=open"), &token).await;
    assert_eq!(count(&open.body), &json!(total - resolved), "{}", open.body);
    let contacts = api.get(&path("/contacts"), &token).await;
    assert_eq!(
        contacts.body["meta"]["count"],
        json!(total),
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
