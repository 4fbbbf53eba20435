//! The query service's page cache (docs/adr/0009), through the front door:
//! a conversation page is served again from the cache only while its
//! account's read model and the rows of no account (users) are unchanged,
//! and only to the caller it was rendered for. `X-Read-Cache` tells a hit
//! from a miss.

use serde_json::{json, Value};

use crate::harness::{Client, Reply, System};

fn cache(reply: &Reply) -> Option<&str> {
    reply.header("x-read-cache")
}

/// A user of the platform with their access token.
async fn user(api: &Client, platform: &str, name: &str, email: &str) -> (i64, String) {
    let user = api
        .post(
            "/platform/api/v1/users",
            platform,
            json!({"name": name, "email": email, "password": "Password1!"}),
        )
        .await;
    assert_eq!(user.status, 200, "{}", user.body);
    let token = user.body["access_token"].as_str().expect("a token");
    (user.body["id"].as_i64().expect("an id"), token.to_owned())
}

async fn account(api: &Client, platform: &str, name: &str) -> i64 {
    let account = api
        .post("/platform/api/v1/accounts", platform, json!({"name": name}))
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    account.body["id"].as_i64().expect("an id")
}

async fn member(api: &Client, platform: &str, account_id: i64, user_id: i64, role: &str) {
    let membership = api
        .post(
            &format!("/platform/api/v1/accounts/{account_id}/account_users"),
            platform,
            json!({"user_id": user_id, "role": role}),
        )
        .await;
    assert_eq!(membership.status, 200, "{}", membership.body);
}

fn first(list: &Reply) -> &Value {
    &list.body["data"]["payload"][0]
}

#[tokio::test]
async fn a_cached_page_is_served_only_while_nothing_it_shows_has_changed() {
    let system = System::start().await;
    let api = system.client();
    let platform = system.platform_token();
    let account_id = account(&api, platform, "Cached Support").await;
    let other_account = account(&api, platform, "Elsewhere").await;
    let (admin_id, admin) = user(&api, platform, "Jane Admin", "jane@cache.test").await;
    let (agent_id, agent) = user(&api, platform, "Sam Agent", "sam@cache.test").await;
    member(&api, platform, account_id, admin_id, "administrator").await;
    member(&api, platform, account_id, agent_id, "agent").await;
    let path = |rest: &str| format!("/api/v1/accounts/{account_id}{rest}");

    let inbox = api
        .post(
            &path("/inboxes"),
            &admin,
            json!({"name": "API", "channel": {"type": "api", "webhook_url": ""}}),
        )
        .await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let inbox_id = inbox.body["id"].as_i64().expect("an inbox id");
    let contact = api
        .post(
            &path("/contacts"),
            &admin,
            json!({"name": "Ada Customer", "inbox_id": inbox_id}),
        )
        .await;
    assert_eq!(contact.status, 200, "{}", contact.body);
    let source_id = contact.body["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .expect("a source id")
        .to_owned();
    let conversation = api
        .post(
            &path("/conversations"),
            &admin,
            json!({"source_id": source_id, "inbox_id": inbox_id}),
        )
        .await;
    assert_eq!(conversation.status, 200, "{}", conversation.body);
    let display_id = conversation.body["id"].as_i64().expect("a display id");

    // Rendered once, then served from the cache as it was.
    let list = path("/conversations");
    let rendered = api.get(&list, &admin).await;
    assert_eq!(rendered.status, 200, "{}", rendered.body);
    assert_eq!(cache(&rendered), Some("miss"));
    assert_eq!(rendered.body["data"]["meta"]["all_count"], 1);
    let again = api.get(&list, &admin).await;
    assert_eq!(cache(&again), Some("hit"));
    assert_eq!(again.body, rendered.body);
    let one = path(&format!("/conversations/{display_id}"));
    assert_eq!(cache(&api.get(&one, &admin).await), Some("miss"));
    assert_eq!(cache(&api.get(&one, &admin).await), Some("hit"));

    // Another caller of the same page gets their own: the agent is in no
    // inbox and sees nothing.
    let theirs = api.get(&list, &agent).await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    assert_eq!(cache(&theirs), Some("miss"));
    assert_eq!(
        theirs.body["data"]["meta"]["all_count"], 0,
        "{}",
        theirs.body
    );

    // A change in another account leaves this account's pages cached.
    let renamed = api
        .patch(
            &format!("/platform/api/v1/accounts/{other_account}"),
            platform,
            json!({"name": "Elsewhere Ltd"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(cache(&api.get(&list, &admin).await), Some("hit"));

    // A change in the account (read-your-writes): the next read renders.
    let assigned = api
        .post(
            &path(&format!("/conversations/{display_id}/assignments")),
            &admin,
            json!({"assignee_id": admin_id}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    let after = api.get(&list, &admin).await;
    assert_eq!(cache(&after), Some("miss"));
    assert_eq!(first(&after)["meta"]["assignee"]["name"], "Jane Admin");
    assert_eq!(cache(&api.get(&one, &admin).await), Some("miss"));

    let message = api
        .post(
            &path(&format!("/conversations/{display_id}/messages")),
            &admin,
            json!({"content": "We are on it"}),
        )
        .await;
    assert_eq!(message.status, 200, "{}", message.body);
    let after = api.get(&list, &admin).await;
    assert_eq!(cache(&after), Some("miss"));
    assert_eq!(first(&after)["messages"][0]["content"], "We are on it");

    // A change to a row of no account (the assignee's name) reaches every
    // account's pages.
    assert_eq!(cache(&api.get(&list, &admin).await), Some("hit"));
    let renamed = api
        .patch(
            &format!("/platform/api/v1/users/{admin_id}"),
            platform,
            json!({"name": "Jane Renamed"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let after = api.get(&list, &admin).await;
    assert_eq!(cache(&after), Some("miss"));
    assert_eq!(first(&after)["meta"]["assignee"]["name"], "Jane Renamed");
}
