//! `GET /api-docs/openapi.yaml`: the OpenAPI document of every operation the
//! services serve (`docs/openapi.yaml`, compiled in).

use actix_web::{web, HttpResponse};

use super::get;

/// The document, as written in the repository.
pub const OPENAPI_YAML: &str = include_str!("../../../docs/openapi.yaml");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api-docs/openapi.yaml", show));
}

async fn show() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(OPENAPI_YAML)
}
