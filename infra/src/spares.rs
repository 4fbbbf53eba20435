//! Connections kept aside for the one statement every request runs.
//!
//! sqlx's pool sends `Sync` and waits for Postgres' answer each time a
//! connection goes back to it (`PoolConnection::return_to_pool` in
//! sqlx-core 0.8: a future dropped mid-statement may have left the
//! connection with an answer unread), and has no setting to skip it. For
//! the admission statement both services run once for every request, that
//! is a second round trip per request: without it, list reads served
//! 15–25 % more a second and message writes ~12 % more
//! (docs/performance.md, seventh session).
//!
//! [`Spares`] keeps such connections itself, and makes the pool's check
//! unneeded instead of skipping it: a connection goes back only through
//! [`Spare::keep`], called once its statement has been answered, so none
//! can come back mid-statement; one dropped with its future (or after an
//! error) is closed. At most `most` are open at once; past that, [`Spares::take`]
//! answers `None` and the caller uses the pool. They are opened with the
//! pool's own options, so they are what the pool's connections are (the
//! query service's are read-only), but for an `application_name` ending
//! in [`KEPT`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::query::QueryAs;
use sqlx::{Connection, FromRow, PgConnection, PgPool, Postgres};

/// Connections kept out of the pool; see the module documentation.
#[derive(Debug)]
pub struct Spares {
    idle: Mutex<Vec<PgConnection>>,
    open: AtomicUsize,
    most: usize,
}

/// A connection taken from [`Spares`]: closed when dropped, unless kept.
#[derive(Debug)]
pub struct Spare<'a> {
    conn: Option<PgConnection>,
    spares: &'a Spares,
    kept: bool,
}

impl Spares {
    /// Room for `most` connections (0: every caller uses the pool).
    pub fn new(most: usize) -> Self {
        Spares {
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            most,
        }
    }

    /// Room for as many connections as `pool` may open: beside it, a
    /// service holds at most twice its pool's size.
    pub fn beside(pool: &PgPool) -> Self {
        Spares::new(pool.options().get_max_connections() as usize)
    }

    /// An idle connection, or a new one while fewer than `most` are open
    /// (opened with `pool`'s options); `None` when all are in use.
    pub async fn take(&self, pool: &PgPool) -> Result<Option<Spare<'_>>, sqlx::Error> {
        if let Some(conn) = self.lock().pop() {
            return Ok(Some(Spare {
                conn: Some(conn),
                spares: self,
                kept: false,
            }));
        }
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.most {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Ok(None);
        }
        // From here the count includes this connection: the guard gives it
        // back if connecting fails (or this future is dropped).
        let mut spare = Spare {
            conn: None,
            spares: self,
            kept: false,
        };
        spare.conn = Some(PgConnection::connect_with(&kept_options(pool)).await?);
        Ok(Some(spare))
    }

    /// `query`'s row, if any, run on a kept connection (put back once
    /// answered), or on the pool when none is free, or when the kept one
    /// turns out broken (a server restart: it is closed, and this request
    /// is not failed for it). `query` builds the statement, so that it can
    /// be built again for the pool.
    pub async fn fetch_optional<'q, O, F>(
        &self,
        pool: &PgPool,
        query: F,
    ) -> Result<Option<O>, sqlx::Error>
    where
        F: Fn() -> QueryAs<'q, Postgres, O, PgArguments>,
        O: Send + Unpin + for<'r> FromRow<'r, PgRow>,
    {
        // Opening a kept connection can fail like any other; the pool says so then.
        if let Ok(Some(mut spare)) = self.take(pool).await {
            match query().fetch_optional(spare.conn()).await {
                Ok(found) => {
                    spare.keep();
                    return Ok(found);
                }
                Err(e) if crate::db::is_unavailable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        query().fetch_optional(pool).await
    }

    /// Connections open now, in use or idle.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        // A panic elsewhere while holding the lock leaves a plain Vec behind.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The pool's options, named so that `pg_stat_activity` tells kept
/// connections apart: `application_name` ends in [`KEPT`].
fn kept_options(pool: &PgPool) -> PgConnectOptions {
    let options = (*pool.connect_options()).clone();
    let name = match options.get_application_name() {
        Some(name) => format!("{name} {KEPT}"),
        None => KEPT.to_owned(),
    };
    options.application_name(&name)
}

/// How a kept connection's `application_name` ends.
pub const KEPT: &str = "(kept)";

impl Spare<'_> {
    /// The connection, to run a statement on.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a taken spare holds its connection until kept or dropped")
    }

    /// Puts the connection back for the next caller. Only for a connection
    /// whose statement has been answered in full.
    pub fn keep(mut self) {
        if let Some(conn) = self.conn.take() {
            self.spares.lock().push(conn);
            self.kept = true;
        }
    }
}

impl Drop for Spare<'_> {
    fn drop(&mut self) {
        // Kept, it is still open; otherwise dropping the connection (if it
        // was ever opened) closes it.
        if !self.kept {
            self.spares.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::PgPoolOptions;

    use super::*;

    async fn pool() -> PgPool {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("Postgres at DATABASE_URL")
    }

    /// A connection from `spares`, which must have room for one.
    async fn taken<'a>(spares: &'a Spares, pool: &PgPool) -> Spare<'a> {
        spares
            .take(pool)
            .await
            .expect("connecting")
            .expect("room for a connection")
    }

    async fn backend(spare: &mut Spare<'_>) -> i32 {
        sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(spare.conn())
            .await
            .expect("a spare answers")
    }

    #[tokio::test]
    async fn a_kept_connection_serves_the_next_caller() {
        let pool = pool().await;
        let spares = Spares::new(2);
        let mut first = taken(&spares, &pool).await;
        let pid = backend(&mut first).await;
        first.keep();
        let mut second = taken(&spares, &pool).await;
        assert_eq!(backend(&mut second).await, pid);
        assert_eq!(spares.open(), 1);
    }

    #[tokio::test]
    async fn past_the_limit_callers_are_sent_to_the_pool() {
        let pool = pool().await;
        let spares = Spares::new(1);
        let held = taken(&spares, &pool).await;
        assert!(spares.take(&pool).await.unwrap().is_none());
        drop(held);
        assert_eq!(spares.open(), 0);
        assert!(spares.take(&pool).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_connection_dropped_mid_statement_is_closed_not_reused() {
        let pool = pool().await;
        let spares = Spares::new(2);
        let mut spare = taken(&spares, &pool).await;
        let pid = backend(&mut spare).await;
        // A lock another session holds keeps the statement unanswered.
        let mut holder = pool.begin().await.unwrap();
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(i64::from(pid))
            .execute(&mut *holder)
            .await
            .unwrap();
        {
            let blocked = sqlx::query("select pg_advisory_lock($1)")
                .bind(i64::from(pid))
                .execute(spare.conn());
            tokio::pin!(blocked);
            // Driven until Postgres shows it waiting on that lock, then dropped.
            loop {
                tokio::select! {
                    biased;
                    answer = &mut blocked => panic!("answered past a held lock: {answer:?}"),
                    waiting = waits_on_a_lock(&pool, pid) => if waiting { break },
                }
            }
        }
        drop(spare);
        assert_eq!(spares.open(), 0);
        holder.rollback().await.unwrap();

        // The next caller gets a fresh connection whose answers are its own.
        let mut next = taken(&spares, &pool).await;
        assert_ne!(backend(&mut next).await, pid);
        let answer: String = sqlx::query_scalar("select 'mine'")
            .fetch_one(next.conn())
            .await
            .unwrap();
        assert_eq!(answer, "mine");
    }

    async fn waits_on_a_lock(pool: &PgPool, pid: i32) -> bool {
        sqlx::query_scalar(
            "select exists(select 1 from pg_stat_activity \
             where pid = $1 and wait_event_type = 'Lock')",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_kept_connection_whose_server_end_went_away_gives_way_to_the_pool() {
        let pool = pool().await;
        let spares = Spares::new(1);
        let mut spare = taken(&spares, &pool).await;
        let pid = backend(&mut spare).await;
        spare.keep();
        // Waits up to 5 s for the backend to end.
        sqlx::query("select pg_terminate_backend($1, 5000)")
            .bind(pid)
            .execute(&pool)
            .await
            .unwrap();

        let answer: Option<(i32,)> = spares
            .fetch_optional(&pool, || sqlx::query_as("select 7"))
            .await
            .unwrap();
        assert_eq!(answer, Some((7,)));
        assert_eq!(spares.open(), 0);
    }

    #[tokio::test]
    async fn kept_connections_are_named_in_pg_stat_activity() {
        let pool = pool().await;
        let spares = Spares::new(1);
        let mut spare = taken(&spares, &pool).await;
        let name: String = sqlx::query_scalar("select current_setting('application_name')")
            .fetch_one(spare.conn())
            .await
            .unwrap();
        assert!(name.ends_with(KEPT), "{name}");
    }
}
