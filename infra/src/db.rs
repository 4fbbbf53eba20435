//! Postgres: the pool and the migrations.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::Settings;

/// The migrations of the event store and the write model, embedded in every binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool on the configured database.
pub async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = settings
        .database_url
        .expose()
        .parse()
        .context("DATABASE_URL is not a valid Postgres URL")?;
    pool_options(settings)
        .connect_with(options)
        .await
        .context("connecting to Postgres")
}

/// The pool settings every service uses. No ping before each acquire
/// (sqlx's default): it was the most frequent statement of a benchmark run
/// (131k `select 1` for 62k events), a round trip on every request and every
/// projection batch. A connection that broke meanwhile fails its first
/// statement instead, which the services answer with 503 (`is_unavailable`)
/// and sqlx then drops.
pub fn pool_options(settings: &Settings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.database_pool_size)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
}

/// Applies the migrations (idempotent; serialised by sqlx's own lock).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")
}

/// Whether `e` means the database cannot be reached right now (the pool
/// timed out or closed, the connection broke, or the server is shutting
/// down or starting), as opposed to a fault of the request or the code.
/// The services answer these with 503 and `Retry-After`, so clients retry.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01..57P03: shutdown, crash, starting up.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// The message of a 503 for an unavailable database.
pub const UNAVAILABLE: &str = "The database is unavailable; retry shortly";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_and_broken_connections_are_unavailability() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::other(
            "reset"
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("bad".into())));
    }
}
