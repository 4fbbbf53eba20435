//! Load shapes: closed loops of N clients for a duration, and latency
//! histograms merged from them.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed (non-2xx or transport error).
    pub failed: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Latencies of the successful calls, in microseconds.
    pub latency: Histogram<u64>,
    /// The first few failures, for the report.
    pub errors: Vec<String>,
}

impl Stats {
    fn new() -> Self {
        Stats {
            ok: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            latency: histogram(),
            errors: Vec::new(),
        }
    }

    /// Successful calls per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A percentile of the latency, in milliseconds.
    pub fn ms(&self, percentile: f64) -> f64 {
        self.latency.value_at_quantile(percentile / 100.0) as f64 / 1000.0
    }

    /// One line for the tool's log: rate, p50, p99 and failures.
    pub fn summary(&self) -> String {
        format!(
            "{:.0}/s p50 {:.1} ms p99 {:.1} ms, {} failed",
            self.rate(),
            self.ms(50.0),
            self.ms(99.0),
            self.failed
        )
    }

    fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        self.failed += other.failed;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for e in other.errors {
            if self.errors.len() < 5 {
                self.errors.push(e);
            }
        }
    }
}

/// A histogram of microseconds from 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid histogram bounds")
}

/// Runs `clients` loops for `duration`; each call of `op(client, i)` is
/// timed. `Err` counts as a failure.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut stats = Stats::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match op(client, i).await {
                        Ok(()) => {
                            stats.ok += 1;
                            let us = t.elapsed().as_micros().max(1) as u64;
                            let _ = stats.latency.record(us.min(60_000_000));
                        }
                        Err(e) => {
                            stats.failed += 1;
                            if stats.errors.len() < 5 {
                                stats.errors.push(e);
                            }
                        }
                    }
                    i += 1;
                }
                stats
            })
        })
        .collect();
    let mut total = Stats::new();
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(e) => {
                total.failed += 1;
                total.errors.push(format!("a client task died: {e}"));
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}
