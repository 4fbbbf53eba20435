//! Account webhooks (administrators only): the list, as Chatwoot answers it
//! (`{payload: {webhooks: [...]}}`), and our addition, a webhook's delivery
//! log (`{meta, payload}`, newest first, 25 per page, optional `status`).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::account::Role;
use serde_json::{json, Value};

use super::{get, id, Params};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::{render, repo, AppState};

/// Deliveries per page of the log.
const PER_PAGE: i64 = 25;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v1/accounts/{account_id}/webhooks", list))
        .service(get(
            "/api/v1/accounts/{account_id}/webhooks/{id}/deliveries",
            deliveries,
        ));
}

async fn admin(state: &AppState, req: &HttpRequest, account: &str) -> Result<Caller, ApiError> {
    let caller = auth::account_caller(req, &state.pool, account).await?;
    if caller.role != Role::Administrator {
        return Err(ApiError::NOT_ALLOWED);
    }
    Ok(caller)
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let rows = repo::webhooks::webhooks(&state.pool, caller.account_id).await?;
    let list: Vec<Value> = rows.iter().map(render::webhook_shape).collect();
    Ok(HttpResponse::Ok().json(json!({"payload": {"webhooks": list}})))
}

#[tracing::instrument(skip_all, fields(account = %path.0, webhook = %path.1))]
async fn deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let webhook_id = id(&path.1)?;
    repo::webhooks::webhook(&state.pool, caller.account_id, webhook_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let params = Params::new(query);
    let status = params.get("status");
    if let Some(s) = status {
        if !["pending", "delivered", "failed"].contains(&s) {
            return Err(ApiError::BadRequest(
                "status must be one of pending, delivered, failed".into(),
            ));
        }
    }
    let page = params.page();
    let rows = repo::webhooks::deliveries(
        &state.pool,
        caller.account_id,
        webhook_id,
        status,
        PER_PAGE,
        page.offset(PER_PAGE),
    )
    .await?;
    let list: Vec<Value> = rows.iter().map(render::delivery_shape).collect();
    Ok(HttpResponse::Ok().json(json!({
        "meta": {"current_page": page.echo, "per_page": PER_PAGE},
        "payload": list,
    })))
}
