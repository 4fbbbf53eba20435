//! Isolation (issue 4): every operation of `docs/openapi.yaml` that names
//! objects, called by one tenant with another tenant's ids, answers 401 or
//! 404 with an error body, and writes nothing. Tenants are accounts on the
//! account API (an administrator of account A, A's id in the path, B's
//! objects' ids) and platform apps on the platform API (an app calling
//! objects another app made).

use std::time::Duration;

use command_service::event_store::EventStore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;
use crate::helpers::eventually;
use crate::openapi::{document, operations, Fixture};

/// Path parameters that name no other tenant's object: a conversation's id
/// in a path is its display id, numbered per account (so the same number in
/// account A is A's own conversation); the apps catalogue's ids are the same
/// everywhere; blob URLs carry their own signature.
const SHARED: [&str; 7] = [
    "conversation_id",
    "app_id",
    "signature",
    "kind",
    "blob_account",
    "blob_id",
    "file_name",
];

fn params(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

#[tokio::test]
async fn no_tenant_reaches_another_tenants_objects_through_any_operation() {
    let app = TestApp::spawn().await;
    let mine = Fixture::new(&app).await;
    let theirs = Fixture::new(&app).await;
    // A second platform app, which made none of the fixtures' objects.
    let store = EventStore::new(app.env.pool.clone());
    let (_, other_app) = command_service::admin::create_platform_app(
        &store,
        &app.env.settings.token_secret,
        "other",
    )
    .await
    .unwrap();
    let hash = infra::tokens::hash(&other_app);
    eventually(
        "the second app's token on the read side",
        Duration::from_secs(10),
        || async {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from read_model.access_tokens where token_hash = $1",
            )
            .bind(&hash)
            .fetch_one(&app.env.pool)
            .await
            .is_ok_and(|n| n == 1)
        },
    )
    .await;

    let before = app.event_count().await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for op in operations(&document()) {
        let objects: Vec<&str> = params(&op.path)
            .into_iter()
            .filter(|p| *p != "account_id" && !SHARED.contains(p))
            .collect();
        let (path, token) = match op.auth.as_str() {
            "platform" if !params(&op.path).is_empty() => {
                (theirs.concrete(&op.path, None), other_app.as_str())
            }
            "administrator" | "agent" | "user" if !objects.is_empty() => (
                theirs.concrete(&op.path, Some(mine.seeded.account_id)),
                mine.seeded.admin.as_str(),
            ),
            _ => continue,
        };
        let body = (op.method != Method::GET).then(|| json!({}));
        let res = app.call(op.method.clone(), &path, Some(token), body).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let error_body = ["error", "errors", "message"]
            .iter()
            .any(|k| answer.get(k).is_some());
        checked += 1;
        if !matches!(status, 401 | 404) || !error_body {
            failures.push(format!(
                "{} {path} ({}): {status} {answer}",
                op.method, op.path
            ));
        }
    }
    assert!(checked >= 30, "only {checked} operations checked");
    assert!(
        failures.is_empty(),
        "reached another tenant:\n{}",
        failures.join("\n")
    );
    assert_eq!(app.event_count().await, before, "nothing was written");
}
