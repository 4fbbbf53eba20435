//! `/health` and `/ready` for the worker process, so the runner can tell a
//! live worker from a stuck one.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use infra::Settings;
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

/// Binds `settings.host:settings.port` (0 picks a port) and returns the
/// server, not yet running, with the port it bound. Signals are left to the
/// process's one shutdown owner; stop it through its handle.
pub fn serve(settings: &Settings, pool: PgPool) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
    let port = listener.local_addr()?.port();
    let pool = web::Data::new(pool);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(TracingLogger::default())
            .app_data(pool.clone())
            .route("/health", web::get().to(infra::http::health))
            .route("/ready", web::get().to(infra::http::ready))
            .default_service(web::to(infra::http::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok((server, port))
}
