//! Behaviour notes §4 conformance cases that had no test named after them,
//! through HTTP (one test per case, or per small group of related cases).

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};
use crate::teams::{api_inbox, conversation};

async fn grants(app: &TestApp, kind: &str, id: i64) -> i64 {
    sqlx::query_scalar(
        "select count(*) from write_model.platform_grants where target_kind = $1 and target_id = $2",
    )
    .bind(kind)
    .bind(id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap()
}

async fn other_platform_app(app: &TestApp) -> String {
    let store = command_service::event_store::EventStore::new(app.env.pool.clone());
    command_service::admin::create_platform_app(&store, &app.env.settings.token_secret, "other")
        .await
        .unwrap()
        .1
}

async fn contact(app: &TestApp, s: &Seeded, body: Value) -> Value {
    let (status, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    c["payload"]["contact"].clone()
}

#[tokio::test]
async fn cases_3_4_5_platform_account_create_grant_show_and_update() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let (s, account) = app
        .json(
            Method::POST,
            "/platform/api/v1/accounts",
            p,
            Some(json!({"name": "Test Account"})),
        )
        .await;
    assert_eq!((s, &account["name"]), (200, &json!("Test Account")));
    let id = account["id"].as_i64().unwrap();
    assert_eq!(grants(&app, "account", id).await, 1, "the app's grant");
    let path = format!("/platform/api/v1/accounts/{id}");
    // Case 4: no grant → 401; granted → 200 with the name.
    let other = other_platform_app(&app).await;
    let (s, _) = app.json(Method::GET, &path, Some(&other), None).await;
    assert_eq!(s, 401);
    let (s, shown) = app.json(Method::GET, &path, p, None).await;
    assert_eq!((s, &shown["name"]), (200, &json!("Test Account")));
    // Case 5: granted PATCH persists; without a grant 401.
    let (s, _) = app
        .json(
            Method::PATCH,
            &path,
            Some(&other),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = app
        .json(Method::PATCH, &path, p, Some(json!({"name": "New"})))
        .await;
    assert_eq!(s, 200);
    let (_, shown) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(shown["name"], "New");
}

#[tokio::test]
async fn cases_11_12_13_platform_users_create_existing_email_and_rename() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    // Case 11: a new email → 200, the email, and a grant.
    let (s, user) = app
        .json(
            Method::POST,
            "/platform/api/v1/users",
            p,
            Some(json!({"name": "New", "email": "new@example.com", "password": "Password1!"})),
        )
        .await;
    assert_eq!(
        (s, &user["email"]),
        (200, &json!("new@example.com")),
        "{user}"
    );
    let id = user["id"].as_i64().unwrap();
    assert_eq!(grants(&app, "user", id).await, 1);
    // Case 12: an existing user's email (another app) → that user, and a grant.
    let other = other_platform_app(&app).await;
    let (_, _) = app
        .json(
            Method::PATCH,
            &format!("/platform/api/v1/users/{id}"),
            p,
            Some(json!({"name": "old test"})),
        )
        .await;
    let (s, again) = app
        .json(
            Method::POST,
            "/platform/api/v1/users",
            Some(&other),
            Some(json!({"name": "Another", "email": "new@example.com", "password": "Password1!"})),
        )
        .await;
    assert_eq!((s, &again["name"]), (200, &json!("old test")), "{again}");
    assert_eq!(again["id"], user["id"]);
    assert_eq!(
        grants(&app, "user", id).await,
        2,
        "a grant for the second app"
    );
    // Case 13: a granted user is renamed.
    let (s, renamed) = app
        .json(
            Method::PATCH,
            &format!("/platform/api/v1/users/{id}"),
            Some(&other),
            Some(json!({"name": "test123"})),
        )
        .await;
    assert_eq!((s, &renamed["name"]), (200, &json!("test123")));
}

#[tokio::test]
async fn cases_14_15_16_platform_account_users_list_upsert_and_delete() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let s = app.with_account().await;
    let path = format!("/platform/api/v1/accounts/{}/account_users", s.account_id);
    // Case 14: the list holds the existing memberships.
    let (status, list) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(status, 200, "{list}");
    let users: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|au| au["user_id"].as_i64().unwrap())
        .collect();
    assert!(
        users.contains(&s.agent_id) && users.contains(&s.admin_id),
        "{list}"
    );
    // Case 15: a new user is echoed; an existing agent becomes administrator.
    let (_, user) = app
        .json(
            Method::POST,
            "/platform/api/v1/users",
            p,
            Some(json!({"name": "N", "email": "n@example.com", "password": "Password1!"})),
        )
        .await;
    let new_id = user["id"].as_i64().unwrap();
    let (status, au) = app
        .json(
            Method::POST,
            &path,
            p,
            Some(json!({"user_id": new_id, "role": "administrator"})),
        )
        .await;
    assert_eq!(
        (status, au["user_id"].as_i64()),
        (200, Some(new_id)),
        "{au}"
    );
    let (status, au) = app
        .json(
            Method::POST,
            &path,
            p,
            Some(json!({"user_id": s.agent_id, "role": "administrator"})),
        )
        .await;
    assert_eq!((status, &au["role"]), (200, &json!("administrator")));
    // Case 16: deleting every membership leaves 0 account users.
    for user_id in [s.admin_id, s.agent_id, new_id] {
        let (status, _) = app
            .json(Method::DELETE, &path, p, Some(json!({"user_id": user_id})))
            .await;
        assert_eq!(status, 200);
    }
    let (_, list) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn case_18_a_bot_without_inbox_access_gets_401_on_assignments() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    let display_id = conversation(&app, &s, inbox).await;
    let (status, bot) = app
        .json(
            Method::POST,
            &s.path("/agent_bots"),
            Some(&s.admin),
            Some(json!({"name": "Unconnected"})),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    let token = bot["access_token"].as_str().unwrap();
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/assignments")),
            Some(token),
            Some(json!({"assignee_id": s.agent_id})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn cases_25_26_29_contacts_list_inboxes_conversation_count_and_show() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api inbox").await;
    let c = contact(
        &app,
        &s,
        json!({"name": "Ann", "email": "ann@example.com", "inbox_id": inbox, "source_id": "src-1"}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": id, "inbox_id": inbox})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    let (status, list) = app
        .json(Method::GET, &s.path("/contacts"), Some(&s.agent), None)
        .await;
    assert_eq!(status, 200, "{list}");
    let first = &list["payload"][0];
    assert_eq!(first["email"], "ann@example.com");
    assert_eq!(first["contact_inboxes"][0]["source_id"], "src-1", "{first}");
    assert_eq!(first["contact_inboxes"][0]["inbox"]["name"], "Api inbox");
    assert_eq!(first["conversations_count"], 1, "case 26: {first}");
    // Case 29.
    let (status, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/contacts/{id}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(shown.to_string().contains("ann@example.com"), "{shown}");
}

#[tokio::test]
async fn cases_27_28_contact_search_case_insensitive_and_q_required() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    contact(
        &app,
        &s,
        json!({"name": "First One", "email": "one@example.com"}),
    )
    .await;
    contact(
        &app,
        &s,
        json!({"name": "Second Two", "email": "test@test.com"}),
    )
    .await;
    let search = |q: &'static str| {
        let path = s.path(&format!("/contacts/search?q={q}"));
        let app = &app;
        let token = s.agent.clone();
        async move {
            let (status, body) = app.json(Method::GET, &path, Some(&token), None).await;
            assert_eq!(status, 200, "{body}");
            body["payload"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("test%40test.com").await, ["Second Two"]);
    assert_eq!(search("Test%40Test.com").await, ["Second Two"]);
    assert_eq!(search("sEcOnD").await, ["Second Two"]);
    // Case 28: no q → 422.
    let (status, body) = app
        .json(
            Method::GET,
            &s.path("/contacts/search"),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn cases_31_35_36_contact_inboxes_on_create_and_added_and_long_names() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from write_model.contact_inboxes")
            .fetch_one(&app.env.pool)
            .await
            .unwrap()
    };
    // Case 31: with inbox_id, one more contact inbox.
    let before = count().await;
    let c = contact(&app, &s, json!({"name": "A", "inbox_id": inbox})).await;
    assert_eq!(count().await, before + 1);
    // Case 35: a name over 255 characters.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "a".repeat(256)})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "Name is too long (maximum is 255 characters)"
    );
    // Case 36: POST contact_inboxes with an API inbox → 200 and listed.
    // (Twilio SMS inboxes are not served: only web_widget and api channels.)
    let b = contact(&app, &s, json!({"name": "B"})).await;
    let b_id = b["id"].as_i64().unwrap();
    let (status, ci) = app
        .json(
            Method::POST,
            &s.path(&format!("/contacts/{b_id}/contact_inboxes")),
            Some(&s.admin),
            Some(json!({"inbox_id": inbox})),
        )
        .await;
    assert_eq!(status, 200, "{ci}");
    let (_, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/contacts/{b_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    let inboxes: Vec<i64> = shown["payload"]["contact_inboxes"]
        .as_array()
        .unwrap_or_else(|| panic!("{shown}"))
        .iter()
        .map(|ci| ci["inbox"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(inboxes, [inbox]);
    let _ = c;
}

#[tokio::test]
async fn case_37_contact_conversations_follow_the_callers_inboxes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (a, b) = (
        api_inbox(&app, &s, "A").await,
        api_inbox(&app, &s, "B").await,
    );
    crate::teams::add_inbox_members(&app, &s, a, &[s.agent_id]).await;
    let c = contact(&app, &s, json!({"name": "C"})).await;
    let id = c["id"].as_i64().unwrap();
    for inbox in [a, a, b, b] {
        let (status, conv) = app
            .json(
                Method::POST,
                &s.path("/conversations"),
                Some(&s.admin),
                Some(json!({"contact_id": id, "inbox_id": inbox})),
            )
            .await;
        assert_eq!(status, 200, "{conv}");
    }
    let path = s.path(&format!("/contacts/{id}/conversations"));
    let count = |token: String| {
        let path = path.clone();
        let app = &app;
        async move {
            let (status, body) = app.json(Method::GET, &path, Some(&token), None).await;
            (status, body["payload"].as_array().map(Vec::len))
        }
    };
    assert_eq!(count(s.admin.clone()).await, (200, Some(4)));
    assert_eq!(count(s.agent.clone()).await, (200, Some(2)));
    // "A user with no role" (no membership of the account): Chatwoot answers
    // 0; we refuse a non-member of the account outright (401, notes §1.1),
    // which shows nothing either.
    let other = app.with_account().await;
    assert_eq!(count(other.admin.clone()).await.0, 401);
}

#[tokio::test]
async fn cases_40_44_45_counts_first_message_and_contact_inbox_on_create() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let c = contact(
        &app,
        &s,
        json!({"name": "C", "inbox_id": inbox, "source_id": "src-44"}),
    )
    .await;
    let contact_id = c["id"].as_i64().unwrap();
    // Case 44: source_id + message → additional_attributes {} and the first
    // (outgoing) message, found through display_id == response.id.
    let before = app.event_count().await;
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"source_id": "src-44", "message": {"content": "hi"}})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["additional_attributes"], json!({}));
    let display_id = conv["id"].as_i64().unwrap();
    assert_eq!(conv["messages"][0]["content"], "hi", "{conv}");
    let (status, messages) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}/messages")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{messages}");
    let payload = messages["payload"].as_array().unwrap();
    assert_eq!(payload.len(), 1, "{messages}");
    assert_eq!(payload[0]["content"], "hi");
    assert_eq!(payload[0]["message_type"], 1, "outgoing");
    assert_eq!(payload[0]["sender"]["id"], s.admin_id, "{messages}");
    assert!(app.event_count().await > before);
    // A bad first message writes nothing: not the conversation either.
    let before = app.event_count().await;
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"source_id": "src-44", "message": {"content": "x".repeat(150_001)}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"source_id": "src-44", "message": "hi"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(app.event_count().await, before);
    // Case 40: meta counts the one open conversation.
    let (status, meta) = app
        .json(
            Method::GET,
            &s.path("/conversations/meta"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        (status, &meta["meta"]["all_count"]),
        (200, &json!(1)),
        "{meta}"
    );
    // Case 45: contact_id + inbox_id on another inbox builds a contact inbox.
    let other_inbox = api_inbox(&app, &s, "Other").await;
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id, "inbox_id": other_inbox})),
        )
        .await;
    assert_eq!(
        (status, &conv["inbox_id"]),
        (200, &json!(other_inbox)),
        "{conv}"
    );
    let (_, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/contacts/{contact_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    let inboxes: Vec<i64> = shown["payload"]["contact_inboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ci| ci["inbox"]["id"].as_i64().unwrap())
        .collect();
    assert!(inboxes.contains(&other_inbox), "{shown}");
}

#[tokio::test]
async fn case_44_a_connected_bot_creates_a_conversation_with_a_first_message() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let (_, bot) = app
        .json(
            Method::POST,
            &s.path("/agent_bots"),
            Some(&s.admin),
            Some(json!({"name": "Bot"})),
        )
        .await;
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/inboxes/{inbox}/set_agent_bot")),
            Some(&s.admin),
            Some(json!({"agent_bot": bot["id"]})),
        )
        .await;
    assert_eq!(status, 200);
    contact(
        &app,
        &s,
        json!({"name": "C", "inbox_id": inbox, "source_id": "b-1"}),
    )
    .await;
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(bot["access_token"].as_str().unwrap()),
            Some(json!({"source_id": "b-1", "message": {"content": "Hello from the bot"}})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(
        conv["messages"][0]["content"], "Hello from the bot",
        "{conv}"
    );
    assert_eq!(conv["messages"][0]["sender"]["id"], bot["id"], "{conv}");
}

async fn toggle(app: &TestApp, s: &Seeded, token: &str, display_id: i64, body: Value) -> Value {
    let (status, r) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/toggle_status")),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    r["payload"].clone()
}

async fn show(app: &TestApp, s: &Seeded, display_id: i64) -> Value {
    let (status, c) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{c}");
    c
}

#[tokio::test]
async fn case_50_empty_status_pending_to_open_snoozed_and_bot_tokens() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    crate::teams::add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;
    let d = conversation(&app, &s, inbox).await;
    // {status: ""} on an open conversation → resolved.
    let r = toggle(&app, &s, &s.admin, d, json!({"status": ""})).await;
    assert_eq!(r["current_status"], "resolved");
    // An administrator moving pending → open is not self-assigned.
    toggle(&app, &s, &s.admin, d, json!({"status": "pending"})).await;
    let r = toggle(&app, &s, &s.admin, d, json!({"status": "open"})).await;
    assert_eq!(r["current_status"], "open");
    assert!(show(&app, &s, d).await["meta"]["assignee"].is_null());
    // An agent doing the same takes the conversation.
    toggle(&app, &s, &s.admin, d, json!({"status": "pending"})).await;
    let r = toggle(&app, &s, &s.agent, d, json!({"status": "open"})).await;
    assert_eq!(r["current_status"], "open");
    let shown = show(&app, &s, d).await;
    assert_eq!(shown["meta"]["assignee"]["id"], s.agent_id, "{shown}");
    // snoozed with snoozed_until stores both.
    let until = 4_102_444_800_i64;
    let r = toggle(
        &app,
        &s,
        &s.admin,
        d,
        json!({"status": "snoozed", "snoozed_until": until}),
    )
    .await;
    assert_eq!(
        (&r["current_status"], &r["snoozed_until"]),
        (&json!("snoozed"), &json!(until))
    );
    // A connected bot's token can set any status.
    let (_, bot) = app
        .json(
            Method::POST,
            &s.path("/agent_bots"),
            Some(&s.admin),
            Some(json!({"name": "Bot"})),
        )
        .await;
    app.json(
        Method::POST,
        &s.path(&format!("/inboxes/{inbox}/set_agent_bot")),
        Some(&s.admin),
        Some(json!({"agent_bot": bot["id"]})),
    )
    .await;
    let token = bot["access_token"].as_str().unwrap();
    for status in ["pending", "resolved", "snoozed", "open"] {
        let r = toggle(&app, &s, token, d, json!({"status": status})).await;
        assert_eq!(r["current_status"], status);
    }
    // Not served: Chatwoot's `conversation.bot_handoff` dispatch (no
    // webhook/realtime dispatch of it here; docs/compatibility.md).
}

#[tokio::test]
async fn case_51_mute_unmute_and_update_last_seen_are_not_served() {
    // Not seed operations: not served (docs/compatibility.md); a clear 404.
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let d = conversation(&app, &s, inbox).await;
    for action in ["mute", "unmute", "update_last_seen"] {
        let (status, body) = app
            .json(
                Method::POST,
                &s.path(&format!("/conversations/{d}/{action}")),
                Some(&s.admin),
                None,
            )
            .await;
        assert_eq!(status, 404, "{action}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn cases_59_61_web_widget_inbox_create_and_inbox_delete_not_served() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let body =
        json!({"name": "test", "channel": {"type": "web_widget", "website_url": "test.com"}});
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.agent),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 401);
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    assert!(inbox.to_string().contains("test.com"), "{inbox}");
    let id = inbox["id"].as_i64().unwrap();
    // Case 61: deleting an inbox is not a seed operation and is not served
    // yet (docs/compatibility.md, "Conformance cases"): every caller gets a
    // JSON 404 and the inbox stays.
    let other = app.with_account().await;
    for (seeded, token) in [(&other, &other.admin), (&s, &s.agent), (&s, &s.admin)] {
        let (status, body) = app
            .json(
                Method::DELETE,
                &seeded.path(&format!("/inboxes/{id}")),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (_, list) = app
        .json(Method::GET, &s.path("/inboxes"), Some(&s.admin), None)
        .await;
    assert_eq!(list["payload"][0]["id"], id, "{list}");
}
