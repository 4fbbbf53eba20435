//! Message and label reads of one conversation. Like showing the
//! conversation, an agent who is not a member of its inbox gets Chatwoot's
//! policy 401; another account's conversation is a 404.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};

use super::conversations::visible;
use super::{get, id, Params};
use crate::error::ApiError;
use crate::repo::messages::Window;
use crate::{auth, render, repo, AppState};

/// Messages per page without `after` (Chatwoot: the last 20).
const PER_PAGE: i64 = 20;
/// Messages after a cursor (today's Chatwoot).
const AFTER_LIMIT: i64 = 100;
/// Messages between two cursors (today's Chatwoot).
const BETWEEN_LIMIT: i64 = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get(
        "/api/v1/accounts/{account_id}/conversations/{id}/messages",
        list,
    ))
    .service(get(
        "/api/v1/accounts/{account_id}/conversations/{id}/labels",
        labels,
    ));
}

fn flag(params: &Params, key: &str) -> bool {
    matches!(params.get(key), Some("true" | "1"))
}

#[tracing::instrument(skip_all, fields(account = %path.0, display_id = %path.1))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let conversation = visible(&state, &caller, id(&path.1)?).await?;
    let params = Params::new(query);
    let window = Window {
        before: params.id("before")?,
        after: params.id("after")?,
        no_internal: flag(&params, "filter_internal_messages"),
    };
    let limit = match (window.before, window.after) {
        (Some(_), Some(_)) => BETWEEN_LIMIT,
        (None, Some(_)) => AFTER_LIMIT,
        _ => PER_PAGE,
    };
    // The window and the contact side by side: opening a conversation is
    // this request, and each statement is a round trip.
    let (rows, contact) = futures::try_join!(
        repo::messages::window(&state.pool, conversation.id, window, limit),
        repo::contacts::contact(&state.pool, caller.account_id, conversation.contact_id),
    )?;
    let mut payload: Vec<_> = rows.iter().map(render::message_shape).collect();
    render::blobs::with_attachments(&state.pool, &state.blob_urls, &mut payload).await?;
    Ok(HttpResponse::Ok().json(MessagesBody {
        meta: MessagesMeta {
            labels: &conversation.labels,
            additional_attributes: &conversation.additional_attributes,
            contact: contact.as_ref().map(render::contact_push_shape),
            assignee: render::assignee_shape(&conversation),
            agent_last_seen_at: conversation.agent_last_seen_at.map(render::iso_time),
        },
        payload,
    }))
}

/// A conversation's messages with what a thread view shows beside them.
#[derive(Serialize)]
struct MessagesBody<'a> {
    meta: MessagesMeta<'a>,
    payload: Vec<render::MessageView<'a>>,
}

#[derive(Serialize)]
struct MessagesMeta<'a> {
    labels: &'a [String],
    additional_attributes: &'a Value,
    contact: Option<render::ContactView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<render::AgentView<'a>>,
    agent_last_seen_at: Option<String>,
}

#[tracing::instrument(skip_all, fields(account = %path.0, display_id = %path.1))]
async fn labels(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let conversation = visible(&state, &caller, id(&path.1)?).await?;
    Ok(HttpResponse::Ok().json(json!({"payload": conversation.labels})))
}
