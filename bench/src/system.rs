//! What the benchmark reads from around the system: the machine, Postgres'
//! settings and raw insert rate (pgbench), the processes' memory, and the
//! projection rebuild.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::PgPool;

/// The machine, in one line.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    format!(
        "{cores} cores ({model}), {:.0} GiB RAM, {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        std::env::consts::OS
    )
}

/// The machine's CPU time so far, in clock ticks (`/proc/stat`'s `cpu`
/// line): all of it, and the part a hypervisor gave to other guests
/// (`steal`). On a shared virtual machine that part swings from a few per
/// cent to a third within the hour, and every figure of a run with it.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    total: u64,
    stolen: u64,
}

impl CpuTime {
    /// Now; `None` where `/proc/stat` cannot be read.
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(&stat)
    }

    fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        // user nice system idle iowait irq softirq steal (guest time is
        // already counted in user and nice).
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let stolen = *ticks.get(7)?;
        Some(CpuTime {
            total: ticks.iter().sum(),
            stolen,
        })
    }

    /// The share of the CPU time since `earlier` that was stolen, 0 to 1.
    pub fn stolen_since(self, earlier: CpuTime) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let stolen = self.stolen.checked_sub(earlier.stolen)?;
        (total > 0).then(|| stolen as f64 / total as f64)
    }
}

/// Postgres' version and the settings that matter for speed.
pub async fn postgres_settings(pool: &PgPool) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let version: String = sqlx::query_scalar("show server_version")
        .fetch_one(pool)
        .await?;
    out.push(("server_version".to_owned(), version));
    for name in [
        "shared_buffers",
        "synchronous_commit",
        "fsync",
        "wal_level",
        "max_connections",
        "commit_delay",
        "autovacuum",
    ] {
        let value: String = sqlx::query_scalar(&format!("show {name}"))
            .fetch_one(pool)
            .await?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// The raw limit: pgbench doing single-row durable inserts into an
/// events-like table (bigserial key, stream id, jsonb payload, a unique
/// (stream, version) key) with `clients` connections for `duration`.
/// Returns transactions per second.
pub async fn raw_insert_rate(
    pool: &PgPool,
    database_url: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    sqlx::raw_sql(
        "create table if not exists bench_raw_events (
             position bigserial primary key,
             stream_id text not null,
             stream_version bigint not null,
             payload jsonb not null,
             recorded_at timestamptz not null default now(),
             unique (stream_id, stream_version));
         truncate bench_raw_events;",
    )
    .execute(pool)
    .await?;
    let script = std::env::temp_dir().join(format!("bench-insert-{}.sql", std::process::id()));
    // A random version over the whole int64 range: over 1..10^9, ~20k
    // inserts per client collided on the unique key about once in five runs
    // (a birthday bound), and pgbench aborts on the first.
    std::fs::write(
        &script,
        "\\set v random(1, 9000000000000000000)\n\
         insert into bench_raw_events (stream_id, stream_version, payload) \
         values ('conversation:' || :client_id, :v, '{\"content\": \"a message of ordinary length\", \"private\": false}');\n",
    )?;
    let threads = clients.min(std::thread::available_parallelism().map_or(1, usize::from));
    let output = tokio::process::Command::new("pgbench")
        .arg("-n")
        .arg("-f")
        .arg(&script)
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg(threads.max(1).to_string())
        .arg("-T")
        .arg(duration.as_secs().max(1).to_string())
        .arg(database_url)
        .output()
        .await
        .context("running pgbench (Debian package postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .with_context(|| format!("no tps line in pgbench's output: {stdout}"))
}

/// Resident memory of each process `deploy/run.sh` started, in MiB, from
/// `.run/<name>.pid`.
pub fn memory(run_dir: &Path) -> Vec<(String, Option<f64>)> {
    [
        "command-service",
        "query-service",
        "projections",
        "relay-1",
        "relay-2",
        "nginx",
    ]
    .iter()
    .map(|name| {
        let rss = std::fs::read_to_string(run_dir.join(format!("{name}.pid")))
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned))
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0);
        ((*name).to_owned(), rss)
    })
    .collect()
}

/// A rebuild as the bench saw it: the events, the wall-clock seconds of
/// the whole command, and where the rebuild says its time went.
#[derive(Debug, Clone, Copy)]
pub struct Rebuilt {
    pub events: u64,
    pub seconds: f64,
    /// The rebuild's own account, from its closing log line.
    pub parts: Option<RebuildParts>,
}

impl Rebuilt {
    /// Events per second of the whole command.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

/// The fields of the rebuild's closing log line
/// ([`projections::rebuild::REBUILT`]), in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildParts {
    /// From its start to the swap's end, as the rebuild timed itself.
    pub total: f64,
    pub applying: f64,
    pub waiting_for_reads: f64,
    pub waiting_for_side_rows: f64,
    pub indexing_and_vacuuming: f64,
}

impl RebuildParts {
    /// From the rebuild's log (JSON lines, `LOG_FORMAT=json`): its closing
    /// line, if there is one.
    pub fn from_log(log: &str) -> Option<Self> {
        let line = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["message"] == projections::rebuild::REBUILT)?;
        let seconds = |field: &str| Some(line[field].as_u64()? as f64 / 1000.0);
        Some(RebuildParts {
            total: seconds("duration_ms")?,
            applying: seconds("applying_ms")?,
            waiting_for_reads: seconds("waiting_for_reads_ms")?,
            waiting_for_side_rows: seconds("waiting_for_side_rows_ms")?,
            indexing_and_vacuuming: seconds("indexing_and_vacuuming_ms")?,
        })
    }
}

/// Runs `projections rebuild --quiet`.
pub async fn rebuild(projections_bin: &Path) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    let output = tokio::process::Command::new(projections_bin)
        .args(["rebuild", "--quiet"])
        .env("RUST_LOG", "warn,projections::rebuild=info")
        .env("LOG_FORMAT", "json")
        .output()
        .await
        .with_context(|| format!("running {}", projections_bin.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("rebuild failed: {stdout}{stderr}");
    }
    // "rebuilt: N events (A applied, P parked) in T"
    let events = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected rebuild output: {stdout}"))?;
    Ok(Rebuilt {
        events,
        seconds,
        parts: RebuildParts::from_log(&stderr),
    })
}

/// Autovacuum workers busy on this database now.
pub async fn autovacuum_workers(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from pg_stat_activity \
         where backend_type = 'autovacuum worker' and datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuilds_closing_line_gives_its_parts() {
        let log = concat!(
            "{\"timestamp\":\"t\",\"level\":\"INFO\",\"message\":\"replaying\"}\n",
            "not json\n",
            "{\"timestamp\":\"t\",\"level\":\"INFO\",\"events\":10,\"applied\":10,",
            "\"parked\":0,\"duration_ms\":33100,\"applying_ms\":20500,",
            "\"waiting_for_reads_ms\":250,\"waiting_for_side_rows_ms\":1200,",
            "\"indexing_and_vacuuming_ms\":9000,",
            "\"message\":\"read model rebuilt and swapped in\"}\n"
        );
        assert_eq!(
            RebuildParts::from_log(log),
            Some(RebuildParts {
                total: 33.1,
                applying: 20.5,
                waiting_for_reads: 0.25,
                waiting_for_side_rows: 1.2,
                indexing_and_vacuuming: 9.0,
            })
        );
        assert_eq!(RebuildParts::from_log("{\"message\":\"other\"}"), None);
    }

    #[test]
    fn the_stolen_share_is_read_from_proc_stat() {
        let before = CpuTime::parse("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n").unwrap();
        let after = CpuTime::parse("cpu  200 0 100 1445 10 0 10 235 0 0\n").unwrap();
        // 1,000 ticks went by, 200 of them stolen.
        assert_eq!(after.stolen_since(before), Some(0.2));
        assert!(CpuTime::parse("intr 1 2 3\n").is_none());
    }
}
