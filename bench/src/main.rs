//! The benchmark tool (issue 5): drives a running system through its front
//! door with real HTTP and writes `docs/benchmarks.md`.
//!
//! `deploy/bench.sh` is the usual way in: it starts a system on a clean
//! database of its own and runs this binary against it. Measured, in one
//! run and on one machine:
//!
//! - the raw Postgres limit: pgbench single-row inserts into an events-like
//!   table at 1, 8 and 32 connections;
//! - writes (create message, toggle status, assign, labels) at 1, 8 and 32
//!   clients, read-your-writes off and on: rate, p50, p99, and the ratio to
//!   the raw insert rate at the same concurrency;
//! - a steady 1,000 messages/s (open loop): the answer's p99 with
//!   read-your-writes on, and commit → visible (the `read_model_applied`
//!   notification after the answer) with it off, and commit → visible again
//!   at half that rate, below what a small box saturates at;
//! - a hot spot: 32 clients on 10 conversations;
//! - reads on a big account: the conversation list (25 a page, with counts)
//!   and one conversation, right after the seed and again once the read
//!   model is settled (the whole log applied; the read model and the log
//!   vacuumed and analyzed);
//! - the projection rebuild from the log, in events per second;
//! - each process' resident memory, idle and under load.
//!
//! Benchmarks are never assertions: the targets are reported as met or
//! missed, and the run succeeds either way.

mod api;
mod load;
mod system;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use reqwest::Method;
use serde_json::json;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::api::{Account, Api};
use crate::load::{closed_loop, histogram, Stats};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Benchmark a running system through its front door"
)]
struct Args {
    /// The front door.
    #[arg(long, env = "BASE_URL")]
    base_url: String,
    /// A platform-app token.
    #[arg(long, env = "PLATFORM_TOKEN")]
    platform_token: String,
    /// The system's database (notifications, pgbench, rebuild).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Where deploy/run.sh keeps the pid files.
    #[arg(long, default_value = ".run")]
    run_dir: PathBuf,
    /// The `projections` binary (for the rebuild).
    #[arg(long, default_value = "target/release/projections")]
    projections_bin: PathBuf,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Conversations of the big account.
    #[arg(long, default_value_t = 100_000)]
    conversations: u64,
    /// Messages per conversation of the big account.
    #[arg(long, default_value_t = 10)]
    messages_per_conversation: u64,
    /// The steady rate of the open-loop runs, per second.
    #[arg(long, default_value_t = 1000)]
    steady_rate: u64,
    /// NATS, to delete the run's stream at the end.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The run's stream, deleted at the end (deploy/bench.sh makes one per run).
    #[arg(long, env = "NATS_STREAM")]
    nats_stream: Option<String>,
    /// Where the report goes.
    #[arg(long, default_value = "docs/benchmarks.md")]
    output: PathBuf,
}

/// The writes measured.
#[derive(Debug, Clone, Copy)]
enum Write {
    Message,
    Toggle,
    Assign,
    Labels,
}

impl Write {
    const ALL: [Write; 4] = [Write::Message, Write::Toggle, Write::Assign, Write::Labels];

    fn name(self) -> &'static str {
        match self {
            Write::Message => "create message",
            Write::Toggle => "toggle status",
            Write::Assign => "assign",
            Write::Labels => "labels",
        }
    }

    /// The request for call `i` on conversation `display_id`.
    fn request(self, a: &Account, display_id: i64, i: u64) -> (String, serde_json::Value) {
        let conv = |rest: &str| a.path(&format!("/conversations/{display_id}{rest}"));
        match self {
            Write::Message => (
                conv("/messages"),
                json!({"content": format!("benchmark message {i}"), "message_type": "outgoing"}),
            ),
            Write::Toggle => (conv("/toggle_status"), json!({})),
            Write::Assign => (
                conv("/assignments"),
                json!({"assignee_id": a.members[(i % 2) as usize]}),
            ),
            Write::Labels => (
                conv("/labels"),
                json!({"labels": [format!("l{}", i % 3), "bench"]}),
            ),
        }
    }
}

async fn send(
    api: &Api,
    a: &Account,
    write: Write,
    display_id: i64,
    i: u64,
    wait: bool,
) -> Result<(), String> {
    let (path, body) = write.request(a, display_id, i);
    match api
        .fetch(Method::POST, &path, &a.admin, Some(&body), wait)
        .await
    {
        Ok((200, _)) => Ok(()),
        Ok((status, body)) => Err(format!("{status} {}", String::from_utf8_lossy(&body))),
        Err(e) => Err(e.to_string()),
    }
}

/// Everything one run measured, for the report.
#[derive(Default)]
struct Results {
    machine: String,
    settings: Vec<(String, String)>,
    raw: Vec<(usize, f64)>,
    writes: Vec<(Write, usize, bool, Stats)>,
    steady_on: Option<(f64, Stats)>,
    visible: Option<(f64, Stats, u64)>,
    /// Commit → visible at half the steady rate: the pipeline's own latency
    /// when the box is not saturated (the full rate may be beyond it).
    visible_half: Option<(u64, f64, Stats, u64)>,
    hot: Option<Stats>,
    /// The reads right after the seed, while Postgres still does the
    /// upkeep a bulk load leaves (autovacuum of the grown tables).
    reads_fresh: Option<Reads>,
    /// The reads once the read model is settled: the whole log applied,
    /// the read model and the log vacuumed and analyzed.
    reads: Option<Reads>,
    /// What settling took: seconds, and the autovacuum workers busy on the
    /// database when the fresh reads began.
    settle: Option<(f64, i64)>,
    /// Messages on any of the big account's conversations, where the
    /// writes above stay on 64: a desk's whole working set.
    writes_spread: Option<Stats>,
    rebuild: Option<system::Rebuilt>,
    memory_idle: Vec<(String, Option<f64>)>,
    memory_load: Vec<(String, Option<f64>)>,
    seeded: (u64, u64),
    /// The share of each phase's CPU time that the hypervisor gave to
    /// other guests.
    stolen: Vec<(&'static str, Option<f64>)>,
}

impl Results {
    /// Notes the CPU time stolen since `mark` as phase `name`'s, and moves
    /// `mark` to now.
    fn end_phase(&mut self, name: &'static str, mark: &mut Option<system::CpuTime>) {
        let now = system::CpuTime::now();
        let stolen = now
            .zip(*mark)
            .and_then(|(now, then)| now.stolen_since(then));
        self.stolen.push((name, stolen));
        *mark = now;
    }
}

/// The reads measured on the big account.
struct Reads {
    /// The list on its first pages (what agents' dashboards poll).
    list_first: Stats,
    /// The list on any page.
    list: Stats,
    /// One conversation, any of them.
    show: Stats,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs(args.seconds);
    let api = Api::new(&args.base_url)?;
    let pool = PgPool::connect(&args.database_url)
        .await
        .context("connecting to the system's database")?;
    let mut r = Results {
        machine: system::machine(),
        settings: system::postgres_settings(&pool).await?,
        ..Results::default()
    };
    r.memory_idle = system::memory(&args.run_dir);
    let mut mark = system::CpuTime::now();

    eprintln!("== raw Postgres insert rate (pgbench)");
    for clients in [1, 8, 32] {
        let tps = system::raw_insert_rate(&pool, &args.database_url, clients, duration).await?;
        eprintln!("   {clients:>2} connections: {tps:.0}/s");
        r.raw.push((clients, tps));
    }

    eprintln!("== setting up the write account");
    let writes = api::account(&api, &args.platform_token, "Bench writes").await?;
    let mut pool_convs = Vec::new();
    for n in 0..64 {
        pool_convs.push(api::conversation(&api, &writes, n, true).await?);
    }
    let pool_convs = Arc::new(pool_convs);

    for write in Write::ALL {
        for wait in [false, true] {
            for clients in [1, 8, 32] {
                // Each run starts from a caught-up read model: otherwise a
                // read-your-writes run would measure the backlog the run
                // before it left (writes can outpace the projection).
                caught_up(&pool).await?;
                let (api2, a, convs) = (api.clone(), writes.clone(), pool_convs.clone());
                let sample_memory = matches!(write, Write::Message) && clients == 32 && !wait;
                let sampler = sample_memory.then(|| {
                    let run_dir = args.run_dir.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(duration / 2).await;
                        system::memory(&run_dir)
                    })
                });
                let stats = closed_loop(clients, duration, move |client, i| {
                    let (api, a, convs) = (api2.clone(), a.clone(), convs.clone());
                    async move { send(&api, &a, write, convs[client % convs.len()], i, wait).await }
                })
                .await;
                if let Some(sampler) = sampler {
                    r.memory_load = sampler.await.unwrap_or_default();
                }
                eprintln!(
                    "== {} x{clients} ryw {}: {}",
                    write.name(),
                    if wait { "on" } else { "off" },
                    stats.summary()
                );
                r.writes.push((write, clients, wait, stats));
            }
        }
    }

    r.end_phase("raw inserts and writes", &mut mark);
    eprintln!("== steady {} messages/s", args.steady_rate);
    caught_up(&pool).await?;
    let steady_on = steady(
        &api,
        &writes,
        &pool_convs,
        args.steady_rate,
        duration,
        true,
        &pool,
    )
    .await?;
    eprintln!(
        "   read-your-writes on, the answer: {}",
        steady_on.1.summary()
    );
    r.steady_on = Some(steady_on);
    let (rate, stats) = steady(
        &api,
        &writes,
        &pool_convs,
        args.steady_rate,
        duration,
        false,
        &pool,
    )
    .await?;
    eprintln!("   commit → visible: {}", stats.summary());
    r.visible = Some(visible_from(rate, stats));
    caught_up(&pool).await?;
    let half = (args.steady_rate / 2).max(1);
    eprintln!("== steady {half} messages/s (commit → visible)");
    let (rate, stats) = steady(&api, &writes, &pool_convs, half, duration, false, &pool).await?;
    eprintln!("   commit → visible: {}", stats.summary());
    let (rate, stats, missing) = visible_from(rate, stats);
    r.visible_half = Some((half, rate, stats, missing));
    caught_up(&pool).await?;

    eprintln!("== hot spot: 32 clients on 10 conversations");
    let (api2, a, convs) = (api.clone(), writes.clone(), pool_convs.clone());
    let hot = closed_loop(32, duration, move |client, i| {
        let (api, a, convs) = (api2.clone(), a.clone(), convs.clone());
        let write = Write::ALL[(client + i as usize) % 4];
        async move { send(&api, &a, write, convs[client % 10], i, true).await }
    })
    .await;
    eprintln!("   {}", hot.summary());
    r.hot = Some(hot);
    r.end_phase("steady load and hot spot", &mut mark);

    eprintln!(
        "== seeding the big account: {} conversations, {} messages each",
        args.conversations, args.messages_per_conversation
    );
    let big = api::account(&api, &args.platform_token, "Bench reads").await?;
    let seeded = seed(
        &api,
        &big,
        args.conversations,
        args.messages_per_conversation,
    )
    .await?;
    r.seeded = (
        args.conversations,
        args.conversations * args.messages_per_conversation,
    );
    let seeded = Arc::new(seeded);
    r.end_phase("seed", &mut mark);
    let busy = system::autovacuum_workers(&pool).await?;
    eprintln!("== reads right after the seed ({busy} autovacuum workers busy)");
    r.reads_fresh = Some(reads(&api, &big, args.conversations, &seeded, duration).await);
    eprintln!("== settling the read model (the whole log applied, vacuum and analyze)");
    let settling = Instant::now();
    caught_up(&pool).await?;
    // What autovacuum does after a bulk load, in its own time: to the read
    // model, and to the log (an insert-only table is vacuumed once it has
    // grown by a fifth), which sets its rows' hint bits. Without it, the
    // rebuild below was the log's first full read since the bulk load, and
    // took nearly twice as long as later ones on the same log (52.5 s vs
    // 28.0 s; docs/performance.md).
    projections::schema::vacuum_analyze(&pool, projections::schema::LIVE_SCHEMA).await?;
    projections::schema::vacuum_analyze_tables(&pool, "event_store", &["events"]).await?;
    r.settle = Some((settling.elapsed().as_secs_f64(), busy));
    eprintln!("== reads on the settled read model");
    r.reads = Some(reads(&api, &big, args.conversations, &seeded, duration).await);
    r.end_phase("reads and settling", &mut mark);

    eprintln!("== create message x32 ryw off, on any of the big account's conversations");
    let spread = messages_anywhere(&api, &big, &seeded, duration).await;
    eprintln!("   {}", spread.summary());
    r.writes_spread = Some(spread);
    r.end_phase("writes on the big account", &mut mark);
    eprintln!("== projection rebuild");
    r.rebuild = Some(system::rebuild(&args.projections_bin).await?);
    r.end_phase("rebuild", &mut mark);

    let report = report(&r, &args);
    std::fs::write(&args.output, &report)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("wrote {}", args.output.display());
    if let Some(stream) = &args.nats_stream {
        // Best effort: the run's messages are of no use once measured.
        if let Ok(client) = async_nats::connect(args.nats_url.as_str()).await {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(stream)
                .await;
        }
    }
    Ok(())
}

/// Waits until the projection has applied every event of the log (its
/// `(txid, position)` checkpoint has reached the log's newest), up to five
/// minutes; reports how long the backlog took.
async fn caught_up(pool: &PgPool) -> anyhow::Result<()> {
    let started = Instant::now();
    // Every apply commits with a `read_model_applied` notification: check
    // the checkpoint, and again after each one (the listener is in place
    // before the first check, so none is missed).
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("read_model_applied").await?;
    let deadline = started + Duration::from_secs(300);
    loop {
        let done: bool = sqlx::query_scalar(
            "select coalesce((p.last_txid, p.last_position) >= \
                 (select e.txid, e.position from event_store.events e \
                  order by e.txid desc, e.position desc limit 1), true) \
             from read_model.projection_state p where p.id = 1",
        )
        .fetch_one(pool)
        .await
        .context("reading the projection's checkpoint")?;
        if done {
            let waited = started.elapsed();
            if waited > Duration::from_millis(500) {
                eprintln!(
                    "   (the projection caught up in {:.1} s)",
                    waited.as_secs_f64()
                );
            }
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            anyhow::bail!("the projection did not catch up within 5 minutes");
        }
        match tokio::time::timeout(left, listener.recv()).await {
            Ok(notification) => {
                notification.context("waiting for read_model_applied")?;
            }
            Err(_) => anyhow::bail!("the projection did not catch up within 5 minutes"),
        }
    }
}

/// Pages of the list a dashboard polls: the first ones.
const FIRST_PAGES: u64 = 10;

/// The list's first pages, any page, and any one conversation, 32 clients
/// each.
async fn reads(
    api: &Api,
    big: &Account,
    conversations: u64,
    ids: &Arc<Vec<i64>>,
    duration: Duration,
) -> Reads {
    let pages = (conversations / 25).max(1);
    let first = pages.min(FIRST_PAGES);
    eprintln!("== GET conversation list, 32 clients, the first {first} pages");
    let list_first = list_pages(api, big, first, duration).await;
    eprintln!("== GET conversation list, 32 clients, any of {pages} pages");
    let list = list_pages(api, big, pages, duration).await;
    eprintln!("== GET conversation, 32 clients");
    let (api, a, ids) = (api.clone(), big.clone(), ids.clone());
    let show = closed_loop(32, duration, move |client, i| {
        let (api, a, ids) = (api.clone(), a.clone(), ids.clone());
        let id = ids[((client as u64 * 31 + i * 7) % ids.len().max(1) as u64) as usize];
        async move { get_ok(&api, &a, &format!("/conversations/{id}")).await }
    })
    .await;
    Reads {
        list_first,
        list,
        show,
    }
}

/// 32 clients creating messages, read-your-writes off, each on any of the
/// conversations `ids`, none twice in a row.
async fn messages_anywhere(
    api: &Api,
    big: &Account,
    ids: &Arc<Vec<i64>>,
    duration: Duration,
) -> Stats {
    let (api, a, ids) = (api.clone(), big.clone(), ids.clone());
    closed_loop(32, duration, move |client, i| {
        let (api, a, ids) = (api.clone(), a.clone(), ids.clone());
        let id = ids[spread(client, i, ids.len() as u64) as usize];
        async move { send(&api, &a, Write::Message, id, i, false).await }
    })
    .await
}

/// Client `client`'s `i`-th pick of `0..n`: the clients' picks spread over
/// all of it, none twice in a row (0 when `n` is 0).
fn spread(client: usize, i: u64, n: u64) -> u64 {
    (client as u64 * 7919 + i * 104_729) % n.max(1)
}

/// 32 clients reading list pages spread over pages 1..=`pages`.
async fn list_pages(api: &Api, big: &Account, pages: u64, duration: Duration) -> Stats {
    let (api, a) = (api.clone(), big.clone());
    closed_loop(32, duration, move |client, i| {
        let (api, a) = (api.clone(), a.clone());
        let page = spread(client, i, pages) + 1;
        async move { get_ok(&api, &a, &format!("/conversations?status=open&page={page}")).await }
    })
    .await
}

/// `GET` of an account path as its administrator; anything but a 200 fails.
async fn get_ok(api: &Api, a: &Account, rest: &str) -> Result<(), String> {
    match api
        .fetch(Method::GET, &a.path(rest), &a.admin, None, true)
        .await
    {
        Ok((200, _)) => Ok(()),
        Ok((s, b)) => Err(format!("{s} {}", String::from_utf8_lossy(&b))),
        Err(e) => Err(e.to_string()),
    }
}

/// Opens conversations with messages on the big account, 32 at a time,
/// without waiting for the read side; returns their display ids.
async fn seed(
    api: &Api,
    a: &Account,
    conversations: u64,
    messages: u64,
) -> anyhow::Result<Vec<i64>> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (api, a, next, ids) = (api.clone(), a.clone(), next.clone(), ids.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= conversations {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let id = api::conversation(&api, &a, n, false).await?;
                    for m in 0..messages {
                        send(&api, &a, Write::Message, id, m, false)
                            .await
                            .map_err(anyhow::Error::msg)?;
                    }
                    if let Ok(mut ids) = ids.lock() {
                        ids.push(id);
                    }
                    if n % 1000 == 0 {
                        eprintln!("   seeded {n}");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    // The reads are measured once the read side has everything.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, body) = api
            .call(
                Method::GET,
                &a.path("/conversations?status=open"),
                &a.admin,
                None,
                true,
            )
            .await?;
        if body["data"]["meta"]["all_count"].as_u64() >= Some(conversations)
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ids = ids.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(ids)
}

/// An open loop: `rate` message creations per second for `duration`,
/// whatever the answers' speed. With `wait`, the answers' latency; without,
/// commit → visible: from the answer (sent right after the commit) to the
/// `read_model_applied` notification of the message's stream.
async fn steady(
    api: &Api,
    a: &Account,
    convs: &Arc<Vec<i64>>,
    rate: u64,
    duration: Duration,
    wait: bool,
    pool: &PgPool,
) -> anyhow::Result<(f64, Stats)> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("read_model_applied").await?;
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen2 = seen.clone();
    let listening = tokio::spawn(async move {
        while let Ok(n) = listener.recv().await {
            if let Ok(mut seen) = seen2.lock() {
                seen.insert(n.payload().to_owned(), Instant::now());
            }
        }
    });
    let answered: Arc<Mutex<Vec<(i64, Instant, Duration)>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = rate * duration.as_secs();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let (api, a, convs, answered, failed) = (
            api.clone(),
            a.clone(),
            convs.clone(),
            answered.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (path, body) =
                Write::Message.request(&a, convs[(i % convs.len() as u64) as usize], i);
            let t = Instant::now();
            match api
                .call(Method::POST, &path, &a.admin, Some(&body), wait)
                .await
            {
                Ok((200, answer)) => {
                    if let (Some(id), Ok(mut answered)) = (answer["id"].as_i64(), answered.lock()) {
                        answered.push((id, Instant::now(), t.elapsed()));
                    }
                }
                _ => {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    futures::future::join_all(tasks).await;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    listening.abort();
    let answered = answered.lock().map(|v| v.clone()).unwrap_or_default();
    let seen = seen.lock().map(|m| m.clone()).unwrap_or_default();
    let mut stats = Stats {
        ok: answered.len() as u64,
        failed: failed.load(std::sync::atomic::Ordering::Relaxed),
        elapsed,
        latency: histogram(),
        errors: Vec::new(),
    };
    let mut missing = 0;
    for (id, answered_at, took) in answered {
        let us = if wait {
            took.as_micros() as u64
        } else {
            match seen.get(&format!("message:{id} 1")) {
                Some(at) => at.saturating_duration_since(answered_at).as_micros() as u64,
                None => {
                    missing += 1;
                    continue;
                }
            }
        };
        let _ = stats.latency.record(us.clamp(1, 60_000_000));
    }
    if missing > 0 {
        stats
            .errors
            .push(format!("{missing} writes were never seen applied"));
    }
    Ok((stats.ok as f64 / elapsed.as_secs_f64().max(1e-9), stats))
}

fn visible_from(rate: f64, stats: Stats) -> (f64, Stats, u64) {
    let missing = stats.ok.saturating_sub(stats.latency.len());
    (rate, stats, missing)
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

fn report(r: &Results, args: &Args) -> String {
    let mut s = String::new();
    let raw = |c: usize| r.raw.iter().find(|(n, _)| *n == c).map_or(0.0, |(_, t)| *t);
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `deploy/bench.sh` (the `bench` tool) on {}. Everything ran on one machine; \
         figures from one run, so compare ratios within it, not across machines. What each \
         change bought, and where the time goes: [performance.md](performance.md).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(s, "- Machine: {}", r.machine);
    let stolen: Vec<String> = r
        .stolen
        .iter()
        .map(|(phase, share)| match share {
            Some(share) => format!("{phase} {:.0} %", share * 100.0),
            None => format!("{phase} unknown"),
        })
        .collect();
    let _ = writeln!(
        s,
        "- CPU time the hypervisor gave to other guests (steal, from `/proc/stat`), per phase: {}",
        stolen.join(", ")
    );
    let settings: Vec<String> = r.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(s, "- Postgres: {}", settings.join(", "));
    let _ = writeln!(
        s,
        "- Command: `bench --seconds {} --conversations {} --messages-per-conversation {} --steady-rate {}`",
        args.seconds, args.conversations, args.messages_per_conversation, args.steady_rate
    );
    let _ = writeln!(
        s,
        "- Big account seeded through the API: {} conversations, {} messages\n",
        r.seeded.0, r.seeded.1
    );

    let _ = writeln!(
        s,
        "## Raw Postgres limit (pgbench, single-row durable inserts)\n"
    );
    let _ = writeln!(s, "| connections | inserts/s |\n|---:|---:|");
    for (c, tps) in &r.raw {
        let _ = writeln!(s, "| {c} | {tps:.0} |");
    }

    let _ = writeln!(s, "\n## Writes through the front door\n");
    let _ = writeln!(
        s,
        "| write | clients | read-your-writes | commands/s | p50 ms | p99 ms | failed | ratio to raw |\n|---|---:|---|---:|---:|---:|---:|---:|"
    );
    for (w, c, wait, st) in &r.writes {
        let _ = writeln!(
            s,
            "| {} | {c} | {} | {:.0} | {:.1} | {:.1} | {} | {:.2} |",
            w.name(),
            if *wait { "on" } else { "off" },
            st.rate(),
            st.ms(50.0),
            st.ms(99.0),
            st.failed,
            st.rate() / raw(*c).max(1e-9)
        );
    }

    let _ = writeln!(s, "\n## Steady load, hot spot, reads, rebuild\n");
    let _ = writeln!(
        s,
        "| measure | rate/s | p50 ms | p99 ms | failed |\n|---|---:|---:|---:|---:|"
    );
    let mut row = |name: &str, rate: f64, st: &Stats| {
        let _ = writeln!(
            s,
            "| {name} | {rate:.0} | {:.1} | {:.1} | {} |",
            st.ms(50.0),
            st.ms(99.0),
            st.failed
        );
    };
    if let Some((rate, st)) = &r.steady_on {
        row(
            "create message, steady, read-your-writes on (answer)",
            *rate,
            st,
        );
    }
    if let Some((rate, st, _)) = &r.visible {
        row("create message, steady: commit → visible", *rate, st);
    }
    if let Some((offered, rate, st, _)) = &r.visible_half {
        row(
            &format!("create message, steady at {offered}/s: commit → visible"),
            *rate,
            st,
        );
    }
    if let Some(st) = &r.hot {
        row(
            "hot spot: 32 clients, 10 conversations, mixed writes",
            st.rate(),
            st,
        );
    }
    if let Some(st) = &r.writes_spread {
        row(
            &format!(
                "create message, 32 clients, read-your-writes off, on any of the big account's {} conversations",
                r.seeded.0
            ),
            st.rate(),
            st,
        );
    }
    for (when, reads) in [
        (", settled", &r.reads),
        (", right after the seed", &r.reads_fresh),
    ] {
        let Some(reads) = reads else { continue };
        row(
            &format!("GET conversation list (25 a page, counts), big account, pages 1–{FIRST_PAGES}{when}"),
            reads.list_first.rate(),
            &reads.list_first,
        );
        row(
            &format!("GET conversation list (25 a page, counts), big account, any page{when}"),
            reads.list.rate(),
            &reads.list,
        );
        row(
            &format!("GET conversation, big account{when}"),
            reads.show.rate(),
            &reads.show,
        );
    }
    if let Some((seconds, busy)) = r.settle {
        let _ = writeln!(
            s,
            "\nThe reads ran twice: right after the seed ({busy} autovacuum workers busy as they \
             began), and settled: once the projection had applied the whole log and the tool had \
             vacuumed and analyzed the read model and the log ({seconds:.1} s), as autovacuum \
             does in its own time after a bulk load. The targets are judged on the settled reads, \
             and the rebuild reads the settled log."
        );
    }
    if let Some(rebuilt) = r.rebuild {
        let _ = write!(
            s,
            "\nRebuild from the log: {} events in {:.1} s = {:.0} events/s.",
            rebuilt.events,
            rebuilt.seconds,
            rebuilt.rate()
        );
        if let Some(p) = rebuilt.parts {
            let _ = write!(
                s,
                " By its own account ({:.1} s from its start to the swap): applying batches \
                 {:.1} s, waiting for the log's next batch {:.1} s, waiting for the side rows' \
                 writer {:.1} s, building the deferred indexes and vacuuming {:.1} s.",
                p.total,
                p.applying,
                p.waiting_for_reads,
                p.waiting_for_side_rows,
                p.indexing_and_vacuuming
            );
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "\n## Memory (RSS, MiB)\n");
    let _ = writeln!(
        s,
        "| process | idle | under load (32 clients creating messages) |\n|---|---:|---:|"
    );
    for (name, idle) in &r.memory_idle {
        let load = r
            .memory_load
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| *v);
        let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let _ = writeln!(s, "| {name} | {} | {} |", f(*idle), f(load));
    }

    let _ = writeln!(s, "\n## Targets (issue 5)\n");
    let message32 = r
        .writes
        .iter()
        .find(|(w, c, wait, _)| matches!(w, Write::Message) && *c == 32 && !*wait)
        .map(|(_, _, _, st)| st.rate());
    if let Some(rate) = message32 {
        let ratio = rate / raw(32).max(1e-9);
        let _ = writeln!(
            s,
            "- create message, 32 clients, read-your-writes off ≥ 0.5 × raw: {ratio:.2} × — {}",
            verdict(ratio >= 0.5)
        );
    }
    if let Some((rate, st)) = &r.steady_on {
        let _ = writeln!(
            s,
            "- read-your-writes on, p99 ≤ 25 ms at {} commands/s (achieved {rate:.0}/s): {:.1} ms — {}",
            args.steady_rate,
            st.ms(99.0),
            verdict(st.ms(99.0) <= 25.0 && st.failed == 0)
        );
    }
    if let Some((_, st, missing)) = &r.visible {
        let _ = writeln!(
            s,
            "- commit → visible p99 ≤ 50 ms: {:.1} ms ({missing} not seen) — {}",
            st.ms(99.0),
            verdict(st.ms(99.0) <= 50.0 && *missing == 0)
        );
    }
    let settled = r.reads.as_ref();
    for (pages, st) in [
        (
            format!("pages 1–{FIRST_PAGES}"),
            settled.map(|r| &r.list_first),
        ),
        ("any page".to_owned(), settled.map(|r| &r.list)),
    ] {
        if let Some(st) = st {
            let _ = writeln!(
                s,
                "- conversation list ({pages}) ≥ 10,000 requests/s, p99 ≤ 10 ms: {:.0}/s, {:.1} ms — {}",
                st.rate(),
                st.ms(99.0),
                verdict(st.rate() >= 10_000.0 && st.ms(99.0) <= 10.0)
            );
        }
    }
    if let Some(st) = &r.hot {
        let _ = writeln!(
            s,
            "- hot conversation p99 ≤ 50 ms, no failed commands: {:.1} ms, {} failed — {}",
            st.ms(99.0),
            st.failed,
            verdict(st.ms(99.0) <= 50.0 && st.failed == 0)
        );
    }
    if let Some(rebuilt) = r.rebuild {
        let rate = rebuilt.rate();
        let _ = writeln!(
            s,
            "- rebuild ≥ 50,000 events/s: {rate:.0}/s — {}",
            verdict(rate >= 50_000.0)
        );
    }
    let errors: Vec<&String> = r
        .writes
        .iter()
        .flat_map(|(_, _, _, st)| st.errors.iter())
        .take(5)
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(s, "\n## First failures\n");
        for e in errors {
            let _ = writeln!(s, "- `{}`", e.chars().take(200).collect::<String>());
        }
    }
    s
}
