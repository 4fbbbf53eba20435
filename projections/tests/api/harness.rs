//! The test harness's own promises.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::helpers::{TestEnv, ADMIN_URL};

/// `cleanup` returns, and drops the database, while the test still holds
/// connections of its pool (a transaction it did not end, say). Waiting
/// for the pool to close waits for every checked-out connection: a test
/// that cleaned up before its transaction went out of scope hung whenever
/// the pool had no idle connection left to close.
#[tokio::test]
async fn cleanup_returns_while_the_test_still_holds_every_connection() {
    let env = TestEnv::new().await;
    let mut held = Vec::new();
    for _ in 0..env.settings.database_pool_size {
        held.push(env.pool.acquire().await.unwrap());
    }
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&mut *held[0])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), env.cleanup())
        .await
        .expect("cleanup returned while connections were checked out");
    let mut admin = PgConnection::connect(ADMIN_URL).await.unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from pg_database where datname = $1")
        .bind(&db)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "{db} was dropped");
    drop(held);
}
