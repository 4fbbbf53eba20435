//! Bad input on a representative set of write endpoints: each is a 4xx with
//! a JSON error body (`error`, `errors` or `message`) and writes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;
use crate::openapi::Fixture;

/// Sends a raw body to the command service: `(status, body)`.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let res = app
        .client
        .request(method, format!("{}{path}", app.command_url))
        .header("api_access_token", token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts every case is a 4xx with a JSON error body and no new event.
async fn refused(app: &TestApp, token: &str, cases: Vec<(Method, String, Vec<u8>, u16)>) {
    let mut failures = Vec::new();
    for (method, path, body, want) in cases {
        let before = app.event_count().await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        let (status, answer) = raw(app, method.clone(), &path, token, body).await;
        let error_body = ["error", "errors", "message"]
            .iter()
            .any(|k| answer.get(k).is_some());
        let after = app.event_count().await;
        if status != want || !error_body || after != before {
            failures.push(format!(
                "{method} {path} {shown}: want {want}, got {status} {answer} (events {before} -> {after})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn j(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn bad_bodies_are_4xx_json_errors_and_write_nothing() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let s = &f.seeded;
    let contacts = s.path("/contacts");
    let teams = s.path("/teams");
    let messages = s.path(&format!("/conversations/{}/messages", f.display_id));
    let toggle = s.path(&format!("/conversations/{}/toggle_status", f.display_id));
    let labels = s.path(&format!("/conversations/{}/labels", f.display_id));
    let members = s.path("/inbox_members");
    let huge = "x".repeat(300);
    let cases = vec![
        // Malformed JSON and bodies that are not objects.
        (Method::POST, contacts.clone(), b"{\"name\": ".to_vec(), 400),
        (Method::POST, teams.clone(), b"not json".to_vec(), 400),
        (Method::POST, messages.clone(), b"[1, 2]".to_vec(), 400),
        (Method::POST, toggle.clone(), b"\"open\"".to_vec(), 400),
        (
            Method::POST,
            contacts.clone(),
            vec![0xff, 0xfe, b'{', b'}'],
            400,
        ),
        // Lone surrogates cannot be decoded.
        (
            Method::POST,
            contacts.clone(),
            br#"{"name": "\ud800"}"#.to_vec(),
            400,
        ),
        (
            Method::POST,
            messages.clone(),
            br#"{"content": "a\udfffb"}"#.to_vec(),
            400,
        ),
        // Wrong types.
        (
            Method::POST,
            contacts.clone(),
            j(json!({"name": ["x"]})),
            422,
        ),
        (
            Method::POST,
            contacts.clone(),
            j(json!({"name": "x", "inbox_id": "abc"})),
            422,
        ),
        (
            Method::POST,
            teams.clone(),
            j(json!({"name": "t", "allow_auto_assign": "maybe"})),
            422,
        ),
        (
            Method::POST,
            messages.clone(),
            j(json!({"content": "hi", "private": {}})),
            422,
        ),
        (
            Method::POST,
            labels.clone(),
            j(json!({"labels": "a,b"})),
            422,
        ),
        (
            Method::POST,
            members.clone(),
            j(json!({"inbox_id": f.inbox_id, "user_ids": "all"})),
            422,
        ),
        // Unknown enum values.
        (
            Method::POST,
            toggle.clone(),
            j(json!({"status": "archived"})),
            422,
        ),
        (
            Method::POST,
            messages.clone(),
            j(json!({"content": "hi", "content_type": "video"})),
            422,
        ),
        (
            Method::POST,
            messages.clone(),
            j(json!({"content": "hi", "message_type": "activity"})),
            422,
        ),
        (
            Method::POST,
            messages.clone(),
            j(json!({"content": "hi", "message_type": 7})),
            422,
        ),
        (
            Method::POST,
            s.path("/inboxes"),
            j(json!({"name": "i", "channel": {"type": "sms"}})),
            422,
        ),
        // Huge strings.
        (
            Method::POST,
            contacts.clone(),
            j(json!({"name": huge})),
            422,
        ),
        (
            Method::POST,
            messages.clone(),
            j(json!({"content": "x".repeat(150_001)})),
            422,
        ),
        // Missing fields.
        (Method::POST, teams.clone(), j(json!({})), 422),
        (Method::POST, messages.clone(), j(json!({})), 422),
        (
            Method::POST,
            members.clone(),
            j(json!({"user_ids": [s.agent_id]})),
            422,
        ),
        // Negative and overflowing ids in bodies.
        (
            Method::POST,
            contacts.clone(),
            j(json!({"name": "n", "inbox_id": -1})),
            404,
        ),
        (
            Method::POST,
            contacts.clone(),
            j(json!({"name": "n", "inbox_id": 99_999_999_999_999_999_999.0})),
            422,
        ),
        (
            Method::POST,
            contacts.clone(),
            br#"{"name": "n", "inbox_id": 99999999999999999999}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            members.clone(),
            j(json!({"inbox_id": f.inbox_id, "user_ids": [-3]})),
            422,
        ),
        // Negative and overflowing ids in paths.
        (
            Method::POST,
            "/api/v1/accounts/-1/contacts".into(),
            j(json!({"name": "n"})),
            404,
        ),
        (
            Method::POST,
            "/api/v1/accounts/99999999999999999999/teams".into(),
            j(json!({"name": "n"})),
            404,
        ),
        (
            Method::POST,
            s.path("/conversations/-5/toggle_status"),
            j(json!({})),
            404,
        ),
        (
            Method::POST,
            s.path("/conversations/99999999999999999999/messages"),
            j(json!({"content": "x"})),
            404,
        ),
        (
            Method::DELETE,
            s.path(&format!("/conversations/{}/messages/-1", f.display_id)),
            vec![],
            404,
        ),
        (
            Method::PATCH,
            s.path("/teams/0"),
            j(json!({"name": "x"})),
            404,
        ),
    ];
    refused(&app, &s.admin, cases).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_json_error() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let limit = app.env.settings.max_body_bytes;
    let big = j(json!({"name": "x".repeat(limit + 1)}));
    refused(
        &app,
        &f.seeded.admin,
        vec![(Method::POST, f.seeded.path("/contacts"), big, 413)],
    )
    .await;
}

#[tokio::test]
async fn nul_characters_are_refused_and_rtl_and_emoji_round_trip() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let s = &f.seeded;
    let messages = s.path(&format!("/conversations/{}/messages", f.display_id));
    refused(
        &app,
        &s.admin,
        vec![
            (
                Method::POST,
                s.path("/contacts"),
                j(json!({"name": "a\u{0}b"})),
                422,
            ),
            (
                Method::POST,
                messages.clone(),
                j(json!({"content": "nul \u{0} here"})),
                422,
            ),
            (
                Method::POST,
                s.path("/teams"),
                j(json!({"name": "t\u{0}"})),
                422,
            ),
            (
                Method::POST,
                s.path("/contacts"),
                j(json!({"name": "n", "custom_attributes": {"k\u{0}": "v"}})),
                422,
            ),
        ],
    )
    .await;
    let text = "\u{202e}مرحبا \u{1F600} 👩‍👩‍👧 e\u{301}";
    let (status, message) = app
        .json(
            Method::POST,
            &messages,
            Some(&s.admin),
            Some(json!({"content": text})),
        )
        .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["content"], text);
}

#[tokio::test]
async fn nul_characters_in_query_strings_are_not_a_500() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let s = &f.seeded;
    let mut failures = Vec::new();
    for path in [
        s.path("/contacts/search?q=a%00b"),
        s.path("/contacts?sort=%00name"),
        s.path("/conversations?q=%00"),
        s.path("/conversations?labels[]=x%00"),
        s.path("/conversations/meta?q=%00&labels=%00"),
        s.path(&format!(
            "/conversations/{}/messages?before=%00",
            f.display_id
        )),
    ] {
        let (status, body) = app.json(Method::GET, &path, Some(&s.admin), None).await;
        if status >= 500 || (status >= 400 && body.get("error").is_none()) {
            failures.push(format!("GET {path}: {status} {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
