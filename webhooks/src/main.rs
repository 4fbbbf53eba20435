//! The webhook delivery process: consumes the event feed into pending
//! deliveries and sends them (docs/webhooks.md). Serves `/health` and
//! `/ready` on `PORT` (default 3005).

use std::net::TcpListener;

use actix_web::{web, App, HttpServer};
use infra::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("info,sqlx=warn");
    let settings = Settings::from_env(3005)?;
    let config = webhooks::Config::from_env()?;
    let pool = infra::db::connect(&settings).await?;
    infra::db::migrate(&pool).await?;

    let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(pool.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/health", web::get().to(infra::http::health))
            .route("/ready", web::get().to(infra::http::ready))
            .default_service(web::to(infra::http::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    tracing::info!(port, "webhook delivery serving /health and /ready");
    let handle = server.handle();
    let server = tokio::spawn(server);
    let result = webhooks::run(settings, pool, config, infra::shutdown::signal()).await;
    handle.stop(true).await;
    let _ = server.await;
    result
}
