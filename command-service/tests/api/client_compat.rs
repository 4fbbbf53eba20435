//! Behaviour notes §7, "What real Chatwoot clients send and expect": one test
//! per point (contacts, conversations, messages JSON, inboxes, profile, teams),
//! each sending what the published clients send.

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};
use crate::teams::{api_inbox, conversation};

/// A request with the headers the clients send: `Content-Type` with a charset
/// (also on GETs and DELETEs), and optionally `Authorization: Bearer`.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    bearer_only: bool,
    body: Option<Value>,
) -> (u16, Value) {
    let base = if method == Method::GET {
        &app.query_url
    } else {
        &app.command_url
    };
    let mut req = app
        .client
        .request(method, format!("{base}{path}"))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Authorization", format!("Bearer {token}"));
    if !bearer_only {
        req = req.header("api_access_token", token);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn contact(app: &TestApp, s: &Seeded, inbox_id: i64) -> i64 {
    let (status, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "email": "c@example.com", "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    c["payload"]["contact"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn compat_bearer_authorization_is_accepted_alongside_or_instead_of_the_header() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, body) = raw(&app, Method::GET, &s.path("/inboxes"), &s.admin, true, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = raw(
        &app,
        Method::POST,
        &s.path("/teams"),
        &s.admin,
        false,
        Some(json!({"name": "Ops"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn compat_json_with_charset_on_gets_and_deletes_with_an_empty_object_body() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, body) = raw(
        &app,
        Method::GET,
        &s.path("/contacts"),
        &s.admin,
        false,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, team) = raw(
        &app,
        Method::POST,
        &s.path("/teams"),
        &s.admin,
        false,
        Some(json!({"name": "Ops"})),
    )
    .await;
    let (status, body) = raw(
        &app,
        Method::DELETE,
        &s.path(&format!("/teams/{}", team["id"])),
        &s.admin,
        false,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn compat_ids_as_strings_on_conversation_create_and_the_full_conversation_back() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let contact_id = contact(&app, &s, inbox).await;
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"inbox_id": inbox.to_string(), "contact_id": contact_id.to_string()})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["status"], "open");
    assert_eq!(conv["inbox_id"], inbox);
    assert!(conv["meta"]["sender"].is_object(), "{conv}");
    assert!(conv["messages"].is_array(), "{conv}");
}

#[tokio::test]
async fn compat_bot_status_is_accepted_and_answered_as_pending() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let display_id = conversation(&app, &s, inbox).await;
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/toggle_status")),
            Some(&s.admin),
            Some(json!({"status": "bot"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["current_status"], "pending");
    let (_, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?status=bot"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(list["data"]["payload"][0]["status"], "pending", "{list}");
}

#[tokio::test]
async fn compat_query_arrays_as_repeated_keys_and_with_brackets() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let first = conversation(&app, &s, inbox).await;
    let second = conversation(&app, &s, inbox).await;
    for (display_id, label) in [(first, "a"), (second, "b")] {
        let (status, body) = app
            .json(
                Method::POST,
                &s.path(&format!("/conversations/{display_id}/labels")),
                Some(&s.admin),
                Some(json!({"labels": [label]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for query in [
        "labels=a&labels=b",
        "labels[]=a&labels[]=b",
        "labels%5B%5D=a&labels=b",
    ] {
        let (status, list) = app
            .json(
                Method::GET,
                &s.path(&format!("/conversations?{query}")),
                Some(&s.admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["data"]["meta"]["all_count"], 2, "{query}: {list}");
    }
}

#[tokio::test]
async fn compat_inbox_create_with_trailing_slash_and_list_with_channel_fields() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes/"),
            Some(&s.admin),
            Some(json!({"name": "Slash", "channel": {"type": "api"}})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    let (status, list) = app
        .json(Method::GET, &s.path("/inboxes"), Some(&s.admin), None)
        .await;
    assert_eq!(status, 200, "{list}");
    let first = &list["payload"][0];
    assert_eq!(first["channel_type"], "Channel::Api", "{list}");
    assert!(first["channel_id"].is_i64(), "{list}");
}

#[tokio::test]
async fn compat_profile_at_both_paths_with_the_access_token() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    for path in ["/api/v1/profile", "/profile"] {
        let (status, me) = app.json(Method::GET, path, Some(&s.admin), None).await;
        assert_eq!(status, 200, "{path}: {me}");
        assert_eq!(me["id"], s.admin_id);
        assert_eq!(me["access_token"], s.admin.as_str());
    }
}

#[tokio::test]
async fn compat_contact_create_and_show_envelopes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let (status, created) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert!(created["payload"]["contact"]["id"].is_i64(), "{created}");
    assert!(created["payload"]["contact_inbox"].is_object(), "{created}");
    let id = created["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/contacts/{id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["payload"]["id"], id);
    let (status, updated) = app
        .json(
            Method::PUT,
            &s.path(&format!("/contacts/{id}")),
            Some(&s.admin),
            Some(json!({"name": "D"})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["payload"]["name"], "D");
}

#[tokio::test]
async fn compat_messages_list_envelope_and_message_fields() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let display_id = conversation(&app, &s, inbox).await;
    let messages = s.path(&format!("/conversations/{display_id}/messages"));
    let (status, sent) = app
        .json(
            Method::POST,
            &messages,
            Some(&s.admin),
            Some(json!({"content": "hi", "private": "false"})),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["message_type"], 1);
    let (status, list) = app.json(Method::GET, &messages, Some(&s.admin), None).await;
    assert_eq!(status, 200, "{list}");
    assert!(list["meta"].is_object(), "{list}");
    let m = &list["payload"][0];
    assert_eq!(m["message_type"], 1, "{list}");
    assert_eq!(m["inbox_id"], inbox);
    assert!(m["status"].is_string(), "{list}");
    assert_eq!(m["content_type"], "text");
    assert!(m["content_attributes"].is_object(), "{list}");
}

#[tokio::test]
async fn compat_team_names_lowercased_and_absent_description_is_null() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, team) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&s.admin),
            Some(json!({"name": "Sales Team"})),
        )
        .await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["name"], "sales team");
    assert_eq!(team["description"], Value::Null);
    let (_, me) = app
        .json(Method::GET, "/api/v1/profile", Some(&s.admin), None)
        .await;
    assert_eq!(me["display_name"], Value::Null, "{me}");
}
