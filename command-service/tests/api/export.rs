//! `chatwoot-admin export`: the log as newline-delimited CloudEvents, in the
//! feed's order, narrowed by time and account.

use std::collections::HashMap;

use command_service::export::{export, Filter};
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;

async fn lines(app: &TestApp, filter: &Filter) -> Vec<Value> {
    let mut out = Vec::new();
    let count = export(&app.env.pool, filter, &mut out, false)
        .await
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, count);
    lines
}

#[tokio::test]
async fn the_export_holds_every_event_once_in_stream_order() {
    let app = TestApp::spawn().await;
    let seeded = app.with_account().await;
    let other = app.with_account().await;
    for i in 0..5 {
        let (status, body) = app
            .json(
                Method::POST,
                &format!("/api/v1/accounts/{}/contacts", seeded.account_id),
                Some(&seeded.admin),
                Some(json!({"name": format!("C{i}"), "email": format!("c{i}@example.com")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let all = lines(&app, &Filter::default()).await;
    assert_eq!(all.len() as i64, app.event_count().await);
    let mut ids = std::collections::HashSet::new();
    let mut versions: HashMap<String, i64> = HashMap::new();
    for e in &all {
        assert_eq!(e["specversion"], "1.0");
        assert!(
            ids.insert(e["id"].as_str().unwrap().to_owned()),
            "once: {e}"
        );
        let stream = e["streamid"].as_str().unwrap().to_owned();
        let version = e["streamversion"].as_i64().unwrap();
        let last = versions.insert(stream, version).unwrap_or(0);
        assert_eq!(version, last + 1, "gapless, in stream order: {e}");
    }

    let one = lines(
        &app,
        &Filter {
            account_id: Some(seeded.account_id),
            ..Filter::default()
        },
    )
    .await;
    assert!(one.len() >= 6, "the account, its members and contacts");
    assert!(one.iter().all(|e| e["accountid"] == seeded.account_id));
    assert!(!one.iter().any(|e| e["accountid"] == other.account_id));

    let first_time: chrono::DateTime<chrono::Utc> =
        all[0]["time"].as_str().unwrap().parse().unwrap();
    let none = lines(
        &app,
        &Filter {
            to: Some(first_time),
            ..Filter::default()
        },
    )
    .await;
    assert!(none.is_empty(), "`to` is exclusive");
}
