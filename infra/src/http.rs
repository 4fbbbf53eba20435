//! HTTP pieces every process shares: health and readiness, and the JSON error
//! for requests no route matches.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{web, HttpResponse};
use sqlx::PgPool;

/// How long the services keep an idle client connection open: longer than
/// the front door keeps an idle upstream connection for reuse
/// (`keepalive_timeout` in deploy/nginx.conf.template, 60 s). With actix's
/// default of 5 s, a connection the service closed just as nginx sent a
/// request on it failed that request (a 502, which the front door answers
/// as a 503; a write is not sent again).
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

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

/// Makes every error answer JSON: an error response whose body is not JSON
/// (actix's plain-text 413 for a body over the limit, an empty 405, ...)
/// gets `{"error": <reason>}` instead, keeping its status and headers.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(to_json_error)
}

fn to_json_error<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "The request body is too large"
    } else {
        status.canonical_reason().unwrap_or("Error")
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let res = res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        BoxBody::new(body)
    });
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

/// Middleware: a query string with a NUL character (`%00`) is a 400 JSON
/// error. Postgres cannot compare text with NUL in it, so such a filter
/// would otherwise end in a 500.
pub async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<EitherBody<impl MessageBody>>> {
    let query = req.query_string().as_bytes();
    if query.windows(3).any(|w| w.eq_ignore_ascii_case(b"%00")) {
        let res = HttpResponse::BadRequest().json(serde_json::json!({
            "error": "The query string must not contain NUL characters"
        }));
        return Ok(req.into_response(res).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
