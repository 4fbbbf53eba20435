//! `Idempotency-Key` (issue 4): a retried write answers the first answer and
//! writes nothing new; the same key with another request is a 422.

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;

/// POSTs `body` to `path` with an `Idempotency-Key`; returns the status,
/// whether the answer was replayed, and the body.
async fn post_keyed(
    app: &TestApp,
    token: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (u16, bool, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.command_url))
        .header("api_access_token", token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, replayed, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_retried_post_returns_the_first_answer_and_writes_nothing_new() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let path = format!("/api/v1/accounts/{}/contacts", seeded.account_id);
    let body = json!({"name": "Retry Customer", "email": "retry@example.com"});

    let (status, replayed, first) = post_keyed(&app, &seeded.admin, "k-1", &path, &body).await;
    assert_eq!((status, replayed), (200, false), "{first}");
    let events = app.event_count().await;

    for _ in 0..3 {
        let (status, replayed, again) = post_keyed(&app, &seeded.admin, "k-1", &path, &body).await;
        assert_eq!((status, replayed), (200, true), "{again}");
        assert_eq!(again, first, "the first answer, byte for byte");
    }
    assert_eq!(app.event_count().await, events, "no new event");

    // Without the key the same body is a new request (and a duplicate e-mail).
    let (status, _) = app
        .json(Method::POST, &path, Some(&seeded.admin), Some(body))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let path = format!("/api/v1/accounts/{}/contacts", seeded.account_id);
    let (status, _, _) =
        post_keyed(&app, &seeded.admin, "k-2", &path, &json!({"name": "One"})).await;
    assert_eq!(status, 200);
    let events = app.event_count().await;

    let (status, replayed, body) =
        post_keyed(&app, &seeded.admin, "k-2", &path, &json!({"name": "Two"})).await;
    assert_eq!((status, replayed), (422, false), "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Idempotency-Key"),
        "{body}"
    );
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn keys_belong_to_their_token() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let path = format!("/api/v1/accounts/{}/contacts", seeded.account_id);
    let (s1, _, a) = post_keyed(&app, &seeded.admin, "shared", &path, &json!({"name": "A"})).await;
    let (s2, replayed, b) =
        post_keyed(&app, &seeded.agent, "shared", &path, &json!({"name": "B"})).await;
    assert_eq!((s1, s2, replayed), (200, 200, false), "{a} {b}");
    assert_ne!(a["payload"]["contact"]["id"], b["payload"]["contact"]["id"]);
}

#[tokio::test]
async fn a_failed_request_does_not_use_up_its_key() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let path = format!("/api/v1/accounts/{}/contacts", seeded.account_id);
    // A 4xx answer is remembered like any other: the same request fails again
    // the same way, without running.
    let bad = json!({"name": "X", "email": "not-an-email"});
    let (status, replayed, _) = post_keyed(&app, &seeded.admin, "k-3", &path, &bad).await;
    assert_eq!((status, replayed), (422, false));
    let (status, replayed, _) = post_keyed(&app, &seeded.admin, "k-3", &path, &bad).await;
    assert_eq!((status, replayed), (422, true));
}

#[tokio::test]
async fn concurrent_retries_write_once() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let path = format!("/api/v1/accounts/{}/contacts", seeded.account_id);
    let body = json!({"name": "Racer", "email": "racer@example.com"});
    let before = app.event_count().await;
    let answers = futures::future::join_all(
        (0..8).map(|_| post_keyed(&app, &seeded.admin, "race", &path, &body)),
    )
    .await;
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let in_progress = answers.iter().filter(|(s, _, _)| *s == 409).count();
    assert_eq!(ok + in_progress, 8, "{answers:?}");
    assert!(ok >= 1);
    // One contact: its creation event(s) once, whatever the interleaving.
    let (status, list) = app
        .json(
            Method::GET,
            &format!("/api/v1/accounts/{}/contacts", seeded.account_id),
            Some(&seeded.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["count"], 1, "{list}");
    let after_one = app.event_count().await;
    assert!(after_one > before);
}

#[tokio::test]
async fn an_overlong_key_is_a_400() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let path = format!("/api/v1/accounts/{}/contacts", seeded.account_id);
    let key = "k".repeat(256);
    let (status, _, body) =
        post_keyed(&app, &seeded.admin, &key, &path, &json!({"name": "Y"})).await;
    assert_eq!(status, 400, "{body}");
}
