use infra::Settings;
use query_service::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("info,sqlx=warn");
    let settings = Settings::from_env(3002)?;
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "query service listening");
    app.run().await?;
    Ok(())
}
