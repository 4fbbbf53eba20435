//! The command service's own connections to Postgres.

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

/// The admission statement every write runs goes over connections kept
/// outside the pool (`infra::spares`). One whose server end went away (a
/// Postgres restart, an administrator's `pg_terminate_backend`) costs no
/// write an error: the pool answers instead, and the broken one is closed.
#[tokio::test]
async fn a_kept_connection_that_broke_is_replaced_without_an_error() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let contacts = s.path("/contacts");
    let create = |name: &str| {
        app.json(
            Method::POST,
            &contacts,
            Some(&s.admin),
            Some(json!({"name": name})),
        )
    };
    let (status, body) = create("Before").await;
    assert_eq!(status, 200, "{body}");

    // Each has ended on return (pg_terminate_backend waits up to 5 s).
    let ended: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity \
         where datname = current_database() and application_name like '%' || $1",
    )
    .bind(infra::spares::KEPT)
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    assert!(!ended.is_empty() && ended.iter().all(|e| *e), "{ended:?}");

    for name in ["After 1", "After 2", "After 3"] {
        let (status, body) = create(name).await;
        assert_eq!(status, 200, "{body}");
    }
}
