//! HTTP pieces every process shares: health and readiness, and the JSON error
//! for requests no route matches.

use actix_web::{web, HttpResponse};
use sqlx::PgPool;

/// `GET /health`: the process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /ready`: the process can reach Postgres.
pub async fn ready(pool: web::Data<PgPool>) -> HttpResponse {
    match sqlx::query("select 1").execute(pool.get_ref()).await {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

/// The header that marks [`not_found`]'s answer, so clients and the route
/// tests can tell an unknown route from an unknown id (both are 404s).
pub const ROUTE_HEADER: (&str, &str) = ("x-route", "unmatched");

/// The answer for a path (or a method on a path) no route serves: Chatwoot's
/// 404 body plus `X-Route: unmatched`.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header(ROUTE_HEADER)
        .json(serde_json::json!({"error": "Resource could not be found"}))
}
