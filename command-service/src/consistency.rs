//! Read-your-writes: a write answers once the read models reflect it.
//!
//! After a command commits, the handler waits until the projection has
//! applied the last version it wrote of every stream. The projection sends
//! `NOTIFY read_model_applied, '<stream id> <version>'` after each batch
//! commits; the process's listener connection ([`crate::listener`]) turns
//! those into wake-ups for the waiting requests, and remembers the latest
//! version of the streams it last heard of. A waiter registers and looks at
//! what was remembered in one step under a lock, so a notification that
//! came before it registered is not missed, and a wait asks Postgres
//! nothing. A re-check of `read_model.stream_versions` after every
//! [`RECHECK`] without word covers notifications lost while the listener
//! reconnects, or forgotten. The wait is bounded: past it the write still
//! succeeds (it is committed) and the response says it is not yet visible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::generations::Generations;

/// The channel projections notify on.
pub const APPLIED_CHANNEL: &str = "read_model_applied";

/// How long a waiter goes without word before it asks the table, in case
/// a notification was lost.
pub const RECHECK: Duration = Duration::from_millis(200);

/// How many streams' latest notified versions are remembered, at most. A
/// notification only needs remembering from the projection's commit until
/// a waiter that committed before it registers: microseconds, unless the
/// box is very busy.
const REMEMBERED: usize = 20_000;

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

/// Who waits for which version of a stream, and what the listener heard
/// last: under one lock, so registering and looking are one step.
struct Board {
    waiters: HashMap<String, Vec<(i64, oneshot::Sender<()>)>>,
    /// The latest applied version of streams notified lately.
    seen: Generations<String, i64>,
}

impl Board {
    fn new() -> Self {
        Board {
            waiters: HashMap::new(),
            seen: Generations::new(REMEMBERED),
        }
    }

    fn heard(&self, stream_id: &str) -> i64 {
        self.seen.peek(stream_id).copied().unwrap_or(0)
    }

    /// A wake-up for when `version` of the stream is applied, or `None`
    /// when it is known to be already.
    fn register(&mut self, stream_id: &str, version: i64) -> Option<oneshot::Receiver<()>> {
        if self.heard(stream_id) >= version {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let list = self.waiters.entry(stream_id.to_owned()).or_default();
        list.push((version, tx));
        Some(rx)
    }

    /// Notes a notification and wakes whoever it satisfies.
    fn hear(&mut self, stream_id: &str, version: i64) {
        if self.heard(stream_id) < version {
            self.seen.insert(stream_id.to_owned(), version);
        }
        if let Some(list) = self.waiters.get_mut(stream_id) {
            for (_, tx) in list.extract_if(.., |(wanted, _)| *wanted <= version) {
                let _ = tx.send(());
            }
        }
        self.forget_gone(stream_id);
    }

    /// Drops the waiters of a stream whose request has gone away, and the
    /// stream's entry once empty.
    fn forget_gone(&mut self, stream_id: &str) {
        if let Some(list) = self.waiters.get_mut(stream_id) {
            list.retain(|(_, tx)| !tx.is_closed());
            if list.is_empty() {
                self.waiters.remove(stream_id);
            }
        }
    }
}

/// Waits for read models; cheap to clone.
#[derive(Clone)]
pub struct ReadYourWrites {
    pool: PgPool,
    board: Arc<Mutex<Board>>,
    timeout: Duration,
}

impl ReadYourWrites {
    /// A waiter that hears nothing until [`crate::listener::start`] passes
    /// it the notifications of its connection.
    pub fn new(pool: PgPool, timeout: Duration) -> Self {
        ReadYourWrites {
            pool,
            board: Arc::new(Mutex::new(Board::new())),
            timeout,
        }
    }

    /// A notification on [`APPLIED_CHANNEL`]: `'<stream id> <version>'`.
    pub(crate) fn heard(&self, payload: &str) {
        if let Some((stream_id, version)) = parse(payload) {
            lock(&self.board).hear(stream_id, version);
        }
    }

    /// Waits until every `(stream id, version)` is applied, up to the bound.
    pub async fn wait(&self, written: &[(String, i64)]) -> Visibility {
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Every stream registers before any is waited for: a later stream's
        // notification may come while an earlier one is waited for.
        let pending: Vec<_> = {
            let mut board = lock(&self.board);
            written
                .iter()
                .filter_map(|(stream_id, version)| {
                    let rx = board.register(stream_id, *version)?;
                    Some((stream_id.as_str(), *version, rx))
                })
                .collect()
        };
        let mut visibility = Visibility::Visible;
        for (stream_id, version, rx) in pending {
            if !self.wait_one(stream_id, version, rx, deadline).await {
                visibility = Visibility::Timeout;
                break;
            }
        }
        // Every receiver is dropped by now; their senders go too.
        let mut board = lock(&self.board);
        for (stream_id, _) in written {
            board.forget_gone(stream_id);
        }
        visibility
    }

    async fn wait_one(
        &self,
        stream_id: &str,
        version: i64,
        mut woken: oneshot::Receiver<()>,
        deadline: tokio::time::Instant,
    ) -> bool {
        loop {
            let step = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(RECHECK);
            match tokio::time::timeout(step, &mut woken).await {
                Ok(Ok(())) => return true,
                // Nothing drops a live waiter's sender unsent; were one
                // dropped, register again rather than spin on the table.
                Ok(Err(_)) => match lock(&self.board).register(stream_id, version) {
                    Some(rx) => woken = rx,
                    None => return true,
                },
                Err(_) => {}
            }
            // No word for a while: the notification may have been lost.
            if self.applied(stream_id).await >= version {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
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

fn lock(board: &Mutex<Board>) -> MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(|e| e.into_inner())
}

/// `'<stream id> <version>'`.
fn parse(payload: &str) -> Option<(&str, i64)> {
    let (stream_id, version) = payload.rsplit_once(' ')?;
    Some((stream_id, version.parse().ok()?))
}
