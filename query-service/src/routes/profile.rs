//! The caller's own profile, at `/api/v1/profile` (Chatwoot's real path) and
//! `/profile` (the seed's).

use actix_web::{web, HttpRequest, HttpResponse};

use super::get;
use crate::error::ApiError;
use crate::{auth, render, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v1/profile", show))
        .service(get("/profile", show));
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let user_id = auth::user(&req, &state.pool).await?;
    tracing::Span::current().record("user_id", user_id);
    // A token whose user is gone authenticates nobody.
    let body = render::profile(&state.pool, &state.token_secret, user_id)
        .await?
        .ok_or(ApiError::INVALID_TOKEN)?;
    Ok(HttpResponse::Ok().json(body))
}
