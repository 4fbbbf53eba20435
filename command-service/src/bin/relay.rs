//! The relay process: publishes the committed event log to JetStream.
//! Run several; one leads, the others stand by (see `command_service::relay`).

use actix_web::{web, App, HttpServer};
use infra::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("info,sqlx=warn");
    let settings = Settings::from_env(3003)?;
    let pool = infra::db::connect(&settings).await?;
    infra::db::migrate(&pool).await?;
    let js = infra::nats::connect(&settings).await?;
    infra::nats::ensure_stream(&js, &settings).await?;

    let pool_data = web::Data::new(pool.clone());
    let health = HttpServer::new(move || {
        App::new()
            .app_data(pool_data.clone())
            .route("/health", web::get().to(infra::http::health))
            .route("/ready", web::get().to(infra::http::ready))
    })
    .disable_signals()
    .bind((settings.host.as_str(), settings.port))?
    .run();
    let health_handle = health.handle();
    tokio::spawn(health);
    tracing::info!(port = settings.port, "relay starting");

    command_service::relay::run(settings, pool, js, infra::shutdown::signal()).await?;
    health_handle.stop(true).await;
    Ok(())
}
