//! The process's one `LISTEN` connection, for two channels: the
//! projection's `read_model_applied` (read-your-writes waits on it,
//! [`crate::consistency`]) and the write model's `admissions_changed`
//! (admissions kept between requests are forgotten on it,
//! [`crate::admissions`]).
//!
//! A notification sent while the connection is down is lost. Waiters cover
//! that with their own re-checks; the admissions kept cannot, so they are
//! forgotten when the connection is found lost, and none is kept or served
//! until the process listens again.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::admissions::{self, Admissions};
use crate::consistency::{ReadYourWrites, APPLIED_CHANNEL};

/// The pause between attempts to listen again. While Postgres is down an
/// attempt itself waits (the pool's acquire timeout); the pause only keeps
/// a failure that comes back at once from turning into a busy loop.
const RETRY: Duration = Duration::from_millis(100);

/// Listens (failing if it cannot), then passes notifications on from a
/// task of its own for as long as the pool is open.
pub async fn start(
    pool: PgPool,
    ryw: ReadYourWrites,
    admissions: Admissions,
) -> Result<(), sqlx::Error> {
    let listener = listen(&pool).await?;
    admissions.listening();
    tokio::spawn(pass_on(pool, listener, ryw, admissions));
    Ok(())
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([APPLIED_CHANNEL, admissions::CHANNEL])
        .await?;
    Ok(listener)
}

async fn pass_on(
    pool: PgPool,
    mut listener: PgListener,
    ryw: ReadYourWrites,
    admissions: Admissions,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) if n.channel() == APPLIED_CHANNEL => ryw.heard(n.payload()),
            Ok(Some(_)) => admissions.forget_all(),
            // The connection was lost and sqlx has listened again on a new
            // one: whatever was sent in between is lost.
            Ok(None) => {
                tracing::warn!("the listener lost its connection and listens again");
                admissions.forget_all();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the listener lost its connection");
                admissions.deaf();
                listener = loop {
                    if pool.is_closed() {
                        return;
                    }
                    tokio::time::sleep(RETRY).await;
                    match listen(&pool).await {
                        Ok(listener) => break listener,
                        Err(e) => tracing::warn!(error = %e, "the listener cannot listen yet"),
                    }
                };
                admissions.listening();
            }
        }
    }
}
