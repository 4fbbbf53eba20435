use std::time::Duration;

use infra::settings::Secret;
use infra::Settings;
use sqlx::{Connection, Executor, PgConnection, PgPool};

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database with the migrations applied, and a NATS stream of its own.
pub struct TestEnv {
    pub settings: Settings,
    pub pool: PgPool,
    db: String,
}

/// The database and the stream go with the test, on a thread of their own:
/// `Drop` runs inside the test's runtime, which is blocked meanwhile, so
/// nothing here may wait for the test's tasks (closing the pool would wait
/// for the connections they hold; `drop database ... with (force)` ends
/// them instead).
impl Drop for TestEnv {
    fn drop(&mut self) {
        let db = self.db.clone();
        let settings = self.settings.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let connect = infra::nats::connect(&settings);
                if let Ok(Ok(js)) = tokio::time::timeout(Duration::from_secs(5), connect).await {
                    let _ = js.delete_stream(&settings.nats_stream).await;
                }
                let mut admin = PgConnection::connect(ADMIN_URL).await.ok()?;
                admin
                    .execute(format!(r#"drop database if exists "{db}" with (force)"#).as_str())
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
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
        TestEnv { settings, pool, db }
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

/// Returns once a session of the test's database waits on an advisory lock
/// (a command queued behind a stream's lock), or fails after 20 seconds.
pub async fn someone_waits_on_an_advisory_lock(pool: &PgPool, what: &str) {
    eventually(what, Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event = 'advisory'",
        )
        .fetch_one(pool)
        .await
        .is_ok_and(|n| n > 0)
    })
    .await
}
