//! Creating the read model, and reading the projection's status.

use domain::StreamId;

use crate::helpers::*;

#[tokio::test]
async fn ensuring_the_read_model_from_several_starters_at_once_creates_it_once() {
    let env = TestEnv::bare().await;
    let starters: Vec<_> = (0..4)
        .map(|_| {
            let pool = env.pool.clone();
            tokio::spawn(async move { projections::schema::ensure(&pool).await })
        })
        .collect();
    for s in starters {
        s.await.unwrap().unwrap();
    }
    projections::schema::ensure(&env.pool).await.unwrap();
    let state: Vec<(i32, i64)> =
        sqlx::query_as("select version, applied from read_model.projection_state")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(state, vec![(projections::schema::READ_MODEL_VERSION, 0)]);
    env.cleanup().await;
}

#[tokio::test]
async fn status_reports_the_checkpoint_the_lag_and_parked_events() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let stream = StreamId::contact(1);
    let v1 = feed.append(&stream, &contact_created(1, 1, "a")).await;
    let v2 = feed.append(&stream, &contact_updated(1, 1, "b")).await;
    let v3 = feed.append(&stream, &contact_updated(1, 1, "c")).await;
    apply_one(&env.pool, &v1).await.unwrap();
    apply_one(&env.pool, &v2).await.unwrap();

    let status = projections::status::status(&env.pool).await.unwrap();
    assert_eq!(status.version, projections::schema::READ_MODEL_VERSION);
    assert_eq!(status.applied, 2);
    assert_eq!(status.last_position, v2.position);
    assert_eq!(status.last_txid, v2.txid);
    assert_eq!(status.log_events, 3);
    assert_eq!(status.log_max_position, v3.position);
    assert_eq!(status.position_lag(), v3.position - v2.position);
    assert_eq!(status.pending(), 1);
    assert_eq!(status.parked, 0);
    let shown = status.to_string();
    assert!(shown.contains("pending events      1"), "{shown}");

    sqlx::query(
        "insert into read_model.parked_events (position, stream_id, event_type, error, envelope) \
         values ($1, 'contact:1', 'ContactUpdated', 'test', '{}')",
    )
    .bind(v3.position)
    .execute(&env.pool)
    .await
    .unwrap();
    let status = projections::status::status(&env.pool).await.unwrap();
    assert_eq!(status.parked, 1);
    assert_eq!(status.pending(), 0);
    env.cleanup().await;
}

/// The query service's role reads the read model (after a rebuild too) and
/// nothing else, and writes nothing.
#[tokio::test]
async fn the_reader_role_reads_the_read_model_only() {
    let env = TestEnv::new().await;
    let reader_url = env.settings.database_url.expose().replacen(
        "postgres://postgres@",
        "postgres://chatwoot_reader@",
        1,
    );
    let check = |reader_url: String| async move {
        let reader = sqlx::PgPool::connect(&reader_url).await.unwrap();
        let accounts: i64 = sqlx::query_scalar("select count(*) from read_model.accounts")
            .fetch_one(&reader)
            .await
            .expect("the reader reads the read model");
        assert_eq!(accounts, 0);
        for refused in [
            "select count(*) from event_store.events",
            "select count(*) from write_model.access_tokens",
            "insert into read_model.accounts (id, name) values (1, 'x')",
            "delete from read_model.projection_state",
        ] {
            let err = sqlx::query(refused)
                .execute(&reader)
                .await
                .expect_err(refused);
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .unwrap_or_default();
            assert_eq!(code, "42501", "{refused}: permission denied, got {err}");
        }
        reader.close().await;
    };
    check(reader_url.clone()).await;
    projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap();
    check(reader_url).await;
    env.cleanup().await;
}
