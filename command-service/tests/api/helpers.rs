use std::time::Duration;

use infra::settings::Secret;
use infra::Settings;
use sqlx::{Connection, Executor, PgConnection, PgPool};

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database with the migrations applied, and a NATS stream of its own.
pub struct TestEnv {
    pub settings: Settings,
    pub pool: PgPool,
}

impl TestEnv {
    pub async fn new() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let db = format!("cs_{tag}");
        let mut admin = PgConnection::connect(ADMIN_URL)
            .await
            .expect("postgres is reachable");
        admin
            .execute(format!(r#"create database "{db}""#).as_str())
            .await
            .unwrap();
        let mut settings = Settings::from_env(0).unwrap();
        settings.database_url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db}"));
        settings.nats_stream = format!("T_{tag}");
        settings.subject_prefix = format!("t{tag}.events");
        settings.token_secret = Secret::new(tag.clone());
        settings.blob_backend = infra::settings::BlobBackend::Local(
            std::env::temp_dir().join(format!("cs-blobs-{tag}")),
        );
        settings.port = 0;
        settings.read_your_writes_timeout = Duration::from_secs(5);
        let pool = infra::db::connect(&settings).await.unwrap();
        infra::db::migrate(&pool).await.unwrap();
        TestEnv { settings, pool }
    }
}

/// Polls `check` until it returns true or the deadline passes (a wait on a
/// real condition, not a fixed sleep).
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
