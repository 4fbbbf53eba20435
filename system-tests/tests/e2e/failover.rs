//! The relays: one leads, one stands by. Killing either with SIGKILL must not
//! stop writes from reaching the read models (DESIGN §4, §7.1).

use serde_json::json;

use crate::harness::{Client, Process, System};

/// Creates an account through the front door; asserts the write was visible
/// to reads when it answered, and reads it back.
async fn create_visible_account(api: &Client, platform: &str, name: &str) {
    let created = api
        .post("/platform/api/v1/accounts", platform, json!({"name": name}))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.header("x-read-your-writes"),
        Some("visible"),
        "the account reached the read model through the surviving relay"
    );
    let id = created.body["id"].as_i64().expect("the account has an id");
    let read = api
        .get(&format!("/platform/api/v1/accounts/{id}"), platform)
        .await;
    assert_eq!(
        (read.status, &read.body["name"]),
        (200, &json!(name)),
        "{}",
        read.body
    );
}

#[tokio::test]
async fn writes_stay_visible_when_either_relay_is_killed_9() {
    let mut system = System::start().await;
    let api = system.client();
    let platform = system.platform_token().to_owned();
    create_visible_account(&api, &platform, "before").await;

    // Whichever relay leads, one of these two kills hits the leader.
    system.kill9(Process::Relay);
    assert_eq!(system.pid(Process::Relay), None);
    create_visible_account(&api, &platform, "without relay 1").await;

    system.restart(Process::Relay).await;
    assert!(system.pid(Process::Relay).is_some());
    let standby = system.pid(Process::StandbyRelay);
    system.kill9(Process::StandbyRelay);
    create_visible_account(&api, &platform, "without relay 2").await;

    system.restart(Process::StandbyRelay).await;
    assert_ne!(system.pid(Process::StandbyRelay), standby, "a new process");
    create_visible_account(&api, &platform, "both back").await;
}

#[tokio::test]
async fn a_dead_service_answers_a_json_503_with_retry_after_at_the_front_door() {
    let mut system = System::start().await;
    let api = system.client();
    let platform = system.platform_token().to_owned();
    system.kill9(Process::CommandService);
    let refused = api
        .post(
            "/platform/api/v1/accounts",
            &platform,
            json!({"name": "down"}),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.body["error"].is_string(),
        "JSON, not HTML: {}",
        refused.body
    );
    system.restart(Process::CommandService).await;
    create_visible_account(&api, &platform, "back").await;
}
