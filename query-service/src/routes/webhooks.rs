//! Account webhooks (administrators only): the list, as Chatwoot answers it
//! (`{payload: {webhooks: [...]}}`), and our addition, the delivery logs
//! (`{meta, payload}`, newest first, 25 per page, optional `status`) of a
//! webhook, of an agent bot's `outgoing_url` and of an API inbox's
//! `webhook_url`.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::account::Role;
use serde_json::{json, Value};

use super::{get, id, Params};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::repo::webhooks::Receiver;
use crate::{render, repo, AppState};

/// Deliveries per page of the log.
const PER_PAGE: i64 = 25;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v1/accounts/{account_id}/webhooks", list))
        .service(get(
            "/api/v1/accounts/{account_id}/webhooks/{id}/deliveries",
            webhook_deliveries,
        ))
        .service(get(
            "/api/v1/accounts/{account_id}/agent_bots/{id}/deliveries",
            agent_bot_deliveries,
        ))
        .service(get(
            "/api/v1/accounts/{account_id}/inboxes/{id}/deliveries",
            inbox_deliveries,
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
async fn webhook_deliveries(
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
    log(&state, &caller, Receiver::Webhook(webhook_id), query).await
}

/// A bot the account sees (its own or a global one): its deliveries for
/// this account's conversations.
#[tracing::instrument(skip_all, fields(account = %path.0, agent_bot = %path.1))]
async fn agent_bot_deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let bot_id = id(&path.1)?;
    repo::agent_bots::visible_bot(&state.pool, caller.account_id, bot_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    log(&state, &caller, Receiver::AgentBot(bot_id), query).await
}

#[tracing::instrument(skip_all, fields(account = %path.0, inbox = %path.1))]
async fn inbox_deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let inbox_id = id(&path.1)?;
    repo::inboxes::inbox(&state.pool, caller.account_id, inbox_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    log(&state, &caller, Receiver::ApiInbox(inbox_id), query).await
}

async fn log(
    state: &AppState,
    caller: &Caller,
    receiver: Receiver,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
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
        receiver,
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
