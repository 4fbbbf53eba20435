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

/// The answer for a path no route serves.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({"error": "Resource could not be found"}))
}
