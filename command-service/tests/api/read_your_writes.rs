//! The read-your-writes waiter on its own: a real listener on the test's
//! database, and notifications sent as the projection sends them.

use std::time::Duration;

use command_service::admissions::Admissions;
use command_service::consistency::{ReadYourWrites, Visibility, APPLIED_CHANNEL};
use sqlx::PgPool;

use crate::helpers::TestEnv;

async fn notify(pool: &PgPool, payloads: &[&str]) {
    sqlx::query("select count(pg_notify($1, n)) from unnest($2::text[]) as n")
        .bind(APPLIED_CHANNEL)
        .bind(payloads)
        .execute(pool)
        .await
        .unwrap();
}

/// A waiter over the test's read model.
async fn waiter(env: &TestEnv, timeout: Duration) -> ReadYourWrites {
    projections::schema::ensure(&env.pool).await.unwrap();
    let ryw = ReadYourWrites::new(env.pool.clone(), timeout);
    command_service::listener::start(env.pool.clone(), ryw.clone(), Admissions::new(0))
        .await
        .unwrap();
    ryw
}

fn written(stream_id: &str, version: i64) -> Vec<(String, i64)> {
    vec![(stream_id.to_owned(), version)]
}

#[tokio::test]
async fn a_notification_that_came_before_the_wait_is_not_missed() {
    let env = TestEnv::new().await;
    let ryw = waiter(&env, Duration::from_secs(3)).await;
    // A wait that only the second notification ends: once it has, the
    // listener has taken the first too (one sender's are delivered in order).
    let marker = tokio::spawn({
        let ryw = ryw.clone();
        async move { ryw.wait(&written("marker", 1)).await }
    });
    notify(&env.pool, &["conversation-7 3", "marker 1"]).await;
    assert_eq!(marker.await.unwrap(), Visibility::Visible);
    // No row in `stream_versions` says so: only the notification does.
    assert_eq!(
        ryw.wait(&written("conversation-7", 3)).await,
        Visibility::Visible
    );
    assert_eq!(
        ryw.wait(&written("conversation-7", 2)).await,
        Visibility::Visible
    );
}

#[tokio::test]
async fn a_wait_on_several_streams_hears_each_while_it_waits_for_the_first() {
    let env = TestEnv::new().await;
    let ryw = waiter(&env, Duration::from_secs(3)).await;
    let both = vec![
        ("message-1".to_owned(), 1),
        ("conversation-1".to_owned(), 5),
    ];
    let waiting = tokio::spawn({
        let ryw = ryw.clone();
        async move { ryw.wait(&both).await }
    });
    // The second stream is applied first, then the first.
    notify(&env.pool, &["conversation-1 5"]).await;
    notify(&env.pool, &["message-1 1"]).await;
    assert_eq!(waiting.await.unwrap(), Visibility::Visible);
}

#[tokio::test]
async fn a_wait_without_a_notification_finds_the_applied_version_in_the_table() {
    let env = TestEnv::new().await;
    let ryw = waiter(&env, Duration::from_secs(3)).await;
    sqlx::query(
        "insert into read_model.stream_versions (stream_id, version) values ('contact-4', 2)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        ryw.wait(&written("contact-4", 2)).await,
        Visibility::Visible
    );
}

#[tokio::test]
async fn a_version_never_applied_times_out() {
    let env = TestEnv::new().await;
    let ryw = waiter(&env, Duration::from_millis(300)).await;
    notify(&env.pool, &["contact-5 1"]).await;
    assert_eq!(
        ryw.wait(&written("contact-5", 2)).await,
        Visibility::Timeout
    );
}
