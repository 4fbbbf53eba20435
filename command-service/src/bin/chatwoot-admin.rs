//! Operators' CLI.
//!
//! `chatwoot-admin create-platform-app --name NAME` registers a platform app
//! and prints its access token, once, alone on stdout.

use clap::{Parser, Subcommand};
use command_service::event_store::EventStore;
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
    }
    Ok(())
}
