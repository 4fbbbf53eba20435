//! Team reads (any member of the account): the list (a bare array), one team,
//! its members; and an inbox's members (administrators, and agents who are
//! members of that inbox).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::account::Role;
use serde_json::Value;

use super::{get, id};
use crate::error::ApiError;
use crate::{auth, render, repo, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v1/accounts/{account_id}/teams", list))
        .service(get("/api/v1/accounts/{account_id}/teams/{id}", show))
        .service(get(
            "/api/v1/accounts/{account_id}/teams/{id}/team_members",
            members,
        ))
        .service(get(
            "/api/v1/accounts/{account_id}/inbox_members/{inbox_id}",
            inbox_members,
        ));
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let rows = repo::teams::teams(&state.pool, caller.account_id, caller.user_id).await?;
    let body: Vec<Value> = rows.iter().map(|t| render::team_shape(t, true)).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0, team = %path.1))]
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let team_id = id(&path.1)?;
    let body = render::team(&state.pool, caller.account_id, team_id, caller.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0, team = %path.1))]
async fn members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let team_id = id(&path.1)?;
    if repo::teams::team(&state.pool, caller.account_id, team_id, caller.user_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let body = render::team_members(&state.pool, caller.account_id, team_id, None).await?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0, inbox = %path.1))]
async fn inbox_members(
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
    if caller.role != Role::Administrator
        && !repo::inboxes::is_member(&state.pool, inbox_id, caller.user_id).await?
    {
        return Err(ApiError::NOT_ALLOWED);
    }
    let body = render::inbox_members(&state.pool, caller.account_id, inbox_id).await?;
    Ok(HttpResponse::Ok().json(body))
}
