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
        .connect_with(named(options))
        .await
        .context("connecting to Postgres")
}

/// `options` with `application_name` set to the running program's name
/// (`command-service`, `relay`, `projections`, ...), unless the URL named
/// one: `pg_stat_activity` and the server's log (`%a` in
/// `log_line_prefix`) then tell which service a session or a statement
/// belongs to.
pub fn named(options: PgConnectOptions) -> PgConnectOptions {
    if options.get_application_name().is_some() {
        return options;
    }
    match program_name() {
        Some(name) => options.application_name(&name),
        None => options,
    }
}

/// The running executable's file name.
fn program_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.file_stem()?.to_string_lossy().into_owned())
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

    #[test]
    fn connections_are_named_after_the_program_unless_the_url_names_them() {
        let unnamed: PgConnectOptions = "postgres://u@localhost/db".parse().unwrap();
        let program = program_name().expect("a test binary has a name");
        assert_eq!(
            named(unnamed).get_application_name(),
            Some(program.as_str())
        );
        let given: PgConnectOptions = "postgres://u@localhost/db?application_name=mine"
            .parse()
            .unwrap();
        assert_eq!(named(given).get_application_name(), Some("mine"));
    }
}
