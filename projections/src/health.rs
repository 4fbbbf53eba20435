//! `/health` and `/ready` for the worker process, so the runner can tell a
//! live worker from a stuck one, and `/metrics`: the projection's progress
//! and its parked events in Prometheus' text format.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
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
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(infra::http::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok((server, port))
}

/// The projection's status as Prometheus gauges (see [`crate::status`]).
async fn metrics(pool: web::Data<PgPool>) -> HttpResponse {
    match crate::status::status(&pool).await {
        Ok(s) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(render(&s)),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "reading the projection status failed"
            );
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"error": "The projection status cannot be read"}))
        }
    }
}

/// The gauges of one status.
pub fn render(s: &crate::status::Status) -> String {
    let gauges = [
        (
            "projection_applied_events",
            "Events applied to the read model.",
            s.applied,
        ),
        (
            "projection_parked_events",
            "Events parked (poison and those held behind it).",
            s.parked,
        ),
        (
            "projection_pending_events",
            "Log events neither applied nor parked yet.",
            s.pending(),
        ),
        ("projection_log_events", "Events in the log.", s.log_events),
        (
            "projection_position_lag",
            "Log positions between the head and the last applied event.",
            s.position_lag(),
        ),
        (
            "projection_read_model_version",
            "The read model's shape version.",
            i64::from(s.version),
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
    out
}
