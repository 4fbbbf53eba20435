//! Platform API reads: accounts, their members, users. Platform-app tokens
//! only; an unknown id is a 404 before the grant is checked (401).

use actix_web::{web, HttpRequest, HttpResponse};

use super::{get, id};
use crate::error::ApiError;
use crate::{auth, render, repo, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/platform/api/v1/accounts/{id}", account))
        .service(get(
            "/platform/api/v1/accounts/{id}/account_users",
            account_users,
        ))
        .service(get("/platform/api/v1/users/{id}", user));
}

/// The account id of the path, once the app is known to be granted it.
async fn granted_account(state: &AppState, app_id: i64, segment: &str) -> Result<i64, ApiError> {
    let account_id = id(segment)?;
    if !repo::auth::account_exists(&state.pool, account_id).await? {
        return Err(ApiError::NotFound);
    }
    auth::require_grant(&state.pool, app_id, "account", account_id).await?;
    Ok(account_id)
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn account(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let account_id = granted_account(&state, app_id, &path.0).await?;
    let body = render::platform_account(&state.pool, account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn account_users(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let account_id = granted_account(&state, app_id, &path.0).await?;
    let body = render::account_users(&state.pool, account_id).await?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(user = %path.0))]
async fn user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let user_id = id(&path.0)?;
    if !repo::auth::user_exists(&state.pool, user_id).await? {
        return Err(ApiError::NotFound);
    }
    auth::require_grant(&state.pool, app_id, "user", user_id).await?;
    let body = render::platform_user(&state.pool, &state.token_secret, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(body))
}
