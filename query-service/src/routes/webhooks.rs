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
    let caller = auth::account_caller(req, state, account).await?;
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

async fn webhook_deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    deliveries(state, req, path, query, Receiver::Webhook).await
}

/// A bot the account sees (its own or a global one): its deliveries for
/// this account's conversations.
async fn agent_bot_deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    deliveries(state, req, path, query, Receiver::AgentBot).await
}

async fn inbox_deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    deliveries(state, req, path, query, Receiver::ApiInbox).await
}

/// The log of the receiver `path.1` names (`receiver` makes it of its
/// kind): administrators only, 404 unless the account has (or sees) it.
#[tracing::instrument(skip_all, fields(account = %path.0, receiver = %path.1))]
async fn deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
    receiver: fn(i64) -> Receiver,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let receiver = receiver(id(&path.1)?);
    let (pool, account_id) = (&state.pool, caller.account_id);
    let exists = match receiver {
        Receiver::Webhook(id) => repo::webhooks::webhook(pool, account_id, id)
            .await?
            .is_some(),
        Receiver::AgentBot(id) => repo::agent_bots::visible_bot(pool, account_id, id)
            .await?
            .is_some(),
        Receiver::ApiInbox(id) => repo::inboxes::inbox(pool, account_id, id).await?.is_some(),
    };
    if !exists {
        return Err(ApiError::NotFound);
    }
    log(&state, &caller, receiver, query).await
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
