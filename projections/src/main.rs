use anyhow::Context;
use clap::{Parser, Subcommand};
use infra::Settings;

/// mimalloc instead of glibc's allocator: a rebuild parses and drops a JSON
/// tree per event, and glibc's `malloc` and `free` (with their chunk
/// consolidation) were a third of its projection's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The projection worker and its operator commands.
#[derive(Debug, Parser)]
#[command(name = "projections", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume the event feed into the read model (the default).
    Run,
    /// Rebuild the read model from the Postgres log and swap it in.
    Rebuild {
        /// Draw no progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Show the checkpoint, the lag behind the log, and parked events.
    Status,
    /// List the parked events with their errors.
    Parked,
    /// Process parked events again after a fix; what still fails is parked again.
    RetryParked {
        /// Only this stream (e.g. `conversation:42`); every stream by default.
        #[arg(long)]
        stream: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A rebuild is one connection's round trips, one after another: on a
    // single thread the wake-up of each answer stays on the thread waiting
    // for it (a quick bench's log: 18.7 s against 21.1 s on the default
    // multi-threaded runtime).
    let mut runtime = match cli.command {
        Some(Command::Rebuild { .. }) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    runtime.enable_all().build()?.block_on(start(cli))
}

async fn start(cli: Cli) -> anyhow::Result<()> {
    infra::telemetry::init("info,sqlx=warn");
    let settings = Settings::from_env(3004)?;
    let pool = infra::db::connect(&settings).await?;
    infra::db::migrate(&pool).await?;
    projections::schema::ensure(&pool).await?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(settings, pool).await,
        Command::Rebuild { quiet } => {
            let report = projections::rebuild::rebuild(&pool, !quiet).await?;
            println!(
                "rebuilt: {} events ({} applied, {} parked) in {:.1?}",
                report.events, report.applied, report.parked, report.duration
            );
            Ok(())
        }
        Command::Status => {
            println!("{}", projections::status::status(&pool).await?);
            Ok(())
        }
        Command::Parked => {
            let parked = projections::parked::list(&pool).await?;
            println!("{} parked event(s)", parked.len());
            for p in parked {
                println!("{p}");
            }
            Ok(())
        }
        Command::RetryParked { stream } => {
            let report = projections::parked::retry(&pool, stream.as_deref()).await?;
            println!(
                "retried {}: {} applied, {} parked again",
                report.retried, report.applied, report.parked
            );
            Ok(())
        }
    }
}

async fn run(settings: Settings, pool: sqlx::PgPool) -> anyhow::Result<()> {
    let (server, port) = projections::health::serve(&settings, pool.clone())?;
    tracing::info!(port, "projection worker serving /health and /ready");
    let handle = server.handle();
    let server = tokio::spawn(server);
    let worked = projections::worker::run(settings, pool, infra::shutdown::signal()).await;
    handle.stop(true).await;
    server.await.context("health server task")??;
    worked
}
