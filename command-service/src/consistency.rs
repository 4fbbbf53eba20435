//! Read-your-writes: a write answers once the read models reflect it.
//!
//! After a command commits, the handler waits until the projection has
//! applied the last version it wrote of every stream. The projection's
//! transaction sends `NOTIFY read_model_applied, '<stream id> <version>'`;
//! one listener connection per process turns those into wake-ups for the
//! waiting requests. A waiter registers first and then checks
//! `read_model.stream_versions` once, so a notification that arrived before
//! it registered cannot be missed; a slow re-check every
//! [`RECHECK`] covers notifications lost while the listener reconnects. The
//! wait is bounded: past it the write still succeeds (it is committed) and
//! the response says it is not yet visible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::oneshot;

/// The channel projections notify on.
pub const APPLIED_CHANNEL: &str = "read_model_applied";

/// How often a waiter re-checks the table in case a notification was lost.
pub const RECHECK: Duration = Duration::from_millis(200);

/// What a wait ended in, reported in the `X-Read-Your-Writes` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// The read models reflect the write.
    Visible,
    /// The bound passed first; the write is committed but may not show yet.
    Timeout,
    /// The client opted out (`X-Read-Your-Writes: off`).
    Off,
}

impl Visibility {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Visible => "visible",
            Visibility::Timeout => "timeout",
            Visibility::Off => "off",
        }
    }
}

type Waiters = HashMap<String, Vec<(i64, oneshot::Sender<()>)>>;

/// Waits for read models; cheap to clone.
#[derive(Clone)]
pub struct ReadYourWrites {
    pool: PgPool,
    waiters: Arc<Mutex<Waiters>>,
    timeout: Duration,
}

impl ReadYourWrites {
    /// Starts the listener task (it stops when `shutdown` resolves).
    pub async fn start(pool: PgPool, timeout: Duration) -> anyhow::Result<Self> {
        let waiters: Arc<Mutex<Waiters>> = Arc::default();
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(APPLIED_CHANNEL).await?;
        let task_waiters = waiters.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => wake(&task_waiters, n.payload()),
                    Err(e) => {
                        // PgListener reconnects on the next recv; waiters fall back to re-checks.
                        tracing::warn!(error = %e, "read-your-writes listener lost its connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(ReadYourWrites {
            pool,
            waiters,
            timeout,
        })
    }

    /// Waits until every `(stream id, version)` is applied, up to the bound.
    pub async fn wait(&self, written: &[(String, i64)]) -> Visibility {
        let deadline = tokio::time::Instant::now() + self.timeout;
        for (stream_id, version) in written {
            let seen = self.wait_one(stream_id, *version, deadline).await;
            self.forget_closed(stream_id);
            if !seen {
                return Visibility::Timeout;
            }
        }
        Visibility::Visible
    }

    fn forget_closed(&self, stream_id: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            if let Some(list) = w.get_mut(stream_id) {
                list.retain(|(_, tx)| !tx.is_closed());
                if list.is_empty() {
                    w.remove(stream_id);
                }
            }
        }
    }

    async fn wait_one(
        &self,
        stream_id: &str,
        version: i64,
        deadline: tokio::time::Instant,
    ) -> bool {
        loop {
            let (tx, mut rx) = oneshot::channel();
            if let Ok(mut w) = self.waiters.lock() {
                w.entry(stream_id.to_owned())
                    .or_default()
                    .push((version, tx));
            }
            if self.applied(stream_id).await >= version {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return self.applied(stream_id).await >= version;
            }
            let step = (deadline - now).min(RECHECK);
            if tokio::time::timeout(step, &mut rx)
                .await
                .is_ok_and(|r| r.is_ok())
            {
                return true;
            }
        }
    }

    async fn applied(&self, stream_id: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "select version from read_model.stream_versions where stream_id = $1",
        )
        .bind(stream_id)
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
    }
}

fn wake(waiters: &Mutex<Waiters>, payload: &str) {
    let Some((stream_id, version)) = payload.rsplit_once(' ') else {
        return;
    };
    let Ok(version) = version.parse::<i64>() else {
        return;
    };
    let Ok(mut w) = waiters.lock() else { return };
    if let Some(list) = w.get_mut(stream_id) {
        let mut i = 0;
        while i < list.len() {
            if list[i].0 <= version {
                let (_, tx) = list.swap_remove(i);
                let _ = tx.send(());
            } else {
                i += 1;
            }
        }
        // Drop waiters whose request has gone away, and empty entries.
        list.retain(|(_, tx)| !tx.is_closed());
        if list.is_empty() {
            w.remove(stream_id);
        }
    }
}
