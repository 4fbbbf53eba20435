//! Inbox members (administrators only): add (`POST`), replace (`PATCH`),
//! remove (`DELETE`) by `inbox_id` and `user_ids` in the body. Chatwoot
//! answers additions and replacements with `{"payload": [agents]}` (all
//! members), removals with an empty 200.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::inbox_member::{InboxMembers, InboxMembersCommand};
use domain::members::MembersChange;
use domain::StreamId;
use serde_json::json;

use super::id;
use super::teams::{require_account_members, user_ids};
use crate::auth::{self, Bots};
use crate::body::Body;
use crate::error::ApiError;
use crate::write_model::teams as wm;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/accounts/{account_id}/inbox_members")
            .route(web::post().to(add))
            .route(web::patch().to(replace))
            .route(web::put().to(replace))
            .route(web::delete().to(remove)),
    );
}

async fn change_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    change: fn(Vec<i64>) -> MembersChange,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let b = Body::parse(&body)?;
    let inbox_id = b
        .id("inbox_id")?
        .ok_or_else(|| ApiError::invalid("inbox_id", "Inbox must exist"))?;
    let change = change(user_ids(&b)?);
    if !matches!(change, MembersChange::Remove(_)) {
        require_account_members(&state, account_id, change.user_ids()).await?;
    }
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut inbox = uow.load::<InboxMembers>(StreamId::inbox(inbox_id)).await?;
            // Another account's inbox does not exist for this caller.
            if inbox.state.ids.map(|(_, a)| a) != Some(account_id) {
                return Err(ApiError::NotFound);
            }
            let (added, removed) = change.diff(&inbox.state.members);
            let command = InboxMembersCommand::Change(change.clone());
            uow.decide(&mut inbox, &command).await?;
            wm::change_inbox_members(uow.conn().await?, inbox_id, account_id, &added, &removed)
                .await?;
            Ok(())
        })
        .await?;
    if matches!(change, MembersChange::Remove(_)) {
        return Ok(state.respond_empty(&req, &committed.written).await);
    }
    let render = query_service::render::inbox_members(&state.pool, account_id, inbox_id);
    state
        .respond(&req, &committed.written, render, json!({"payload": []}))
        .await
}

async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    change_members(state, req, path, body, MembersChange::Add).await
}

async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    change_members(state, req, path, body, MembersChange::Replace).await
}

async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    change_members(state, req, path, body, MembersChange::Remove).await
}
