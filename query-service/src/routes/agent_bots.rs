//! Agent-bot reads: the platform API's (bots the app created or was
//! granted), an account's (its own bots and the global ones, any member),
//! and the bot connected to an inbox (any member).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::account::Role;
use serde_json::Value;

use super::{get, id};
use crate::error::ApiError;
use crate::render::BotView;
use crate::{auth, render, repo, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/platform/api/v1/agent_bots", platform_list))
        .service(get("/platform/api/v1/agent_bots/{id}", platform_show))
        .service(get("/api/v1/accounts/{account_id}/agent_bots", list))
        .service(get("/api/v1/accounts/{account_id}/agent_bots/{id}", show))
        .service(get(
            "/api/v1/accounts/{account_id}/inboxes/{inbox_id}/agent_bot",
            inbox_bot,
        ));
}

#[tracing::instrument(skip_all)]
async fn platform_list(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let rows = repo::agent_bots::granted(&state.pool, app_id).await?;
    let body: Vec<Value> = rows
        .iter()
        .map(|b| render::agent_bot_shape(b, BotView::Platform, &state.token_secret))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(agent_bot = %path.0))]
async fn platform_show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let bot_id = id(&path.0)?;
    let Some(body) = render::platform_agent_bot(&state.pool, &state.token_secret, bot_id).await?
    else {
        return Err(ApiError::NotFound);
    };
    auth::require_grant(&state.pool, app_id, "agent_bot", bot_id).await?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let view = BotView::Account {
        reveal_token: caller.role == Role::Administrator,
    };
    let rows = repo::agent_bots::visible(&state.pool, caller.account_id).await?;
    let body: Vec<Value> = rows
        .iter()
        .map(|b| render::agent_bot_shape(b, view, &state.token_secret))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0, agent_bot = %path.1))]
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let bot_id = id(&path.1)?;
    let body = render::account_agent_bot(
        &state.pool,
        &state.token_secret,
        caller.account_id,
        bot_id,
        caller.role == Role::Administrator,
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0, inbox = %path.1))]
async fn inbox_bot(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let inbox_id = id(&path.1)?;
    if repo::inboxes::inbox(&state.pool, caller.account_id, inbox_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let body = render::inbox_agent_bot(
        &state.pool,
        &state.token_secret,
        caller.account_id,
        inbox_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
