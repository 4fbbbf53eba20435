//! Operators' CLI.
//!
//! `chatwoot-admin create-platform-app --name NAME` registers a platform app
//! and prints its access token, once, alone on stdout.
//!
//! `chatwoot-admin export [--from T] [--to T] [--account ID] [--output FILE]`
//! writes the log as newline-delimited CloudEvents JSON (docs/feed.md).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use command_service::event_store::EventStore;
use command_service::export;
use infra::Settings;

#[derive(Parser)]
#[command(
    name = "chatwoot-admin",
    about = "Operator commands for the Chatwoot-compatible backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register a platform app and print its access token.
    CreatePlatformApp {
        /// The app's name.
        #[arg(long)]
        name: String,
    },
    /// Write the event log as newline-delimited CloudEvents JSON.
    Export {
        /// Only events that happened at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// Only events that happened before this time (RFC 3339).
        #[arg(long)]
        to: Option<DateTime<Utc>>,
        /// Only this account's events.
        #[arg(long)]
        account: Option<i64>,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Draw no progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("warn");
    let cli = Cli::parse();
    let settings = Settings::from_env(0)?;
    let pool = infra::db::connect(&settings).await?;
    infra::db::migrate(&pool).await?;
    match cli.command {
        Command::CreatePlatformApp { name } => {
            let store = EventStore::new(pool);
            let (_, token) =
                command_service::admin::create_platform_app(&store, &settings.token_secret, &name)
                    .await
                    .map_err(|e| anyhow::anyhow!("creating the platform app: {e}"))?;
            println!("{token}");
        }
        Command::Export {
            from,
            to,
            account,
            output,
            quiet,
        } => {
            let filter = export::Filter {
                from,
                to,
                account_id: account,
            };
            let count = match output {
                Some(path) => {
                    let file = File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    export::export(&pool, &filter, &mut BufWriter::new(file), !quiet).await?
                }
                None => {
                    let stdout = std::io::stdout().lock();
                    export::export(&pool, &filter, &mut BufWriter::new(stdout), !quiet).await?
                }
            };
            eprintln!("exported {count} events");
        }
    }
    Ok(())
}
