//! Inbox reads: the list, sorted by lower(name); administrators see every
//! inbox of the account, agents the inboxes they are members of.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::get;
use crate::error::ApiError;
use crate::{auth, render, repo, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v1/accounts/{account_id}/inboxes", list));
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let rows = repo::inboxes::visible(&state.pool, caller.account_id, caller.scope()).await?;
    let mut payload: Vec<Value> = rows.iter().map(render::inbox_shape).collect();
    render::blobs::with_avatars(&state.pool, &state.blob_urls, &mut payload).await?;
    Ok(HttpResponse::Ok().json(json!({ "payload": payload })))
}
