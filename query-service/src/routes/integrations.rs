//! Integration reads (any member of the account): the apps catalogue with the
//! account's hooks, and one app. Hook settings are shown to administrators only.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::account::Role;

use super::get;
use crate::error::ApiError;
use crate::{auth, render, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v1/accounts/{account_id}/integrations/apps", list))
        .service(get(
            "/api/v1/accounts/{account_id}/integrations/apps/{id}",
            show,
        ));
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let admin = caller.role == Role::Administrator;
    let body = render::apps(&state.pool, caller.account_id, admin).await?;
    Ok(HttpResponse::Ok().json(body))
}

#[tracing::instrument(skip_all, fields(account = %path.0, app = %path.1))]
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let admin = caller.role == Role::Administrator;
    let body = render::app(&state.pool, caller.account_id, &path.1, admin)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(body))
}
