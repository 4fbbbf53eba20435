use command_service::Application;
use infra::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("info,sqlx=warn");
    let settings = Settings::from_env(3001)?;
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "command service listening");
    app.run().await?;
    Ok(())
}
