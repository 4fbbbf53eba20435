//! Contact reads: list and search (15 a page, "resolved" contacts only), one
//! contact, the inboxes a contact can be reached through, and a contact's
//! conversations. Any member may read contacts; a contact of another account
//! is a 404.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::inbox::Channel;
use serde_json::{json, Value};

use super::{get, id, Params};
use crate::error::ApiError;
use crate::repo::contacts::{ContactQuery, SortKey};
use crate::{auth, render, repo, AppState};

/// Contacts per page.
const PER_PAGE: i64 = 15;
/// How many of a contact's conversations are listed (today's Chatwoot).
const CONTACT_CONVERSATIONS: i64 = 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `search` before `{id}`: the first matching resource serves.
    cfg.service(get("/api/v1/accounts/{account_id}/contacts", list))
        .service(get("/api/v1/accounts/{account_id}/contacts/search", search))
        .service(get("/api/v1/accounts/{account_id}/contacts/{id}", show))
        .service(get(
            "/api/v1/accounts/{account_id}/contacts/{id}/contactable_inboxes",
            contactable_inboxes,
        ))
        .service(get(
            "/api/v1/accounts/{account_id}/contacts/{id}/conversations",
            conversations,
        ));
}

/// Chatwoot's `sort`: a key, `-` in front for descending; unknown keys are ignored.
fn sort(params: &Params) -> Option<(SortKey, bool)> {
    let raw = params.get("sort")?;
    let (descending, key) = match raw.strip_prefix('-') {
        Some(key) => (true, key),
        None => (false, raw),
    };
    let key = match key {
        "name" => SortKey::Name,
        "email" => SortKey::Email,
        "phone_number" => SortKey::PhoneNumber,
        "last_activity_at" => SortKey::LastActivityAt,
        _ => return None,
    };
    Some((key, descending))
}

/// One page of contacts with the total count: `{meta:{count,current_page}, payload}`.
async fn page(
    state: &AppState,
    account_id: i64,
    params: &Params,
    query: ContactQuery,
) -> Result<HttpResponse, ApiError> {
    let page = params.page();
    let count = repo::contacts::count(&state.pool, account_id, &query).await?;
    let rows = repo::contacts::list(
        &state.pool,
        account_id,
        &query,
        PER_PAGE,
        page.offset(PER_PAGE),
    )
    .await?;
    let payload = render::contacts_with_inboxes(&state.pool, rows).await?;
    Ok(HttpResponse::Ok().json(json!({
        "meta": {"count": count, "current_page": page.echo},
        "payload": payload,
    })))
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let params = Params::new(query);
    let query = ContactQuery {
        search: None,
        sort: sort(&params),
    };
    page(&state, caller.account_id, &params, query).await
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let params = Params::new(query);
    let Some(q) = params.get("q") else {
        return Err(ApiError::Unprocessable(
            "Specify search string with parameter q".into(),
        ));
    };
    let query = ContactQuery {
        search: Some(q.to_owned()),
        sort: sort(&params),
    };
    page(&state, caller.account_id, &params, query).await
}

#[tracing::instrument(skip_all, fields(account = %path.0, contact = %path.1))]
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let contact_id = id(&path.1)?;
    let contact = render::contact(&state.pool, caller.account_id, contact_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(json!({ "payload": contact })))
}

/// The inboxes the contact can be reached through, among those the caller
/// sees: an API inbox always (its existing source id, or a fresh UUID that is
/// not stored), a web widget only where a contact inbox already exists.
#[tracing::instrument(skip_all, fields(account = %path.0, contact = %path.1))]
async fn contactable_inboxes(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let contact_id = id(&path.1)?;
    if repo::contacts::contact(&state.pool, caller.account_id, contact_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let existing = repo::contacts::contact_inboxes(&state.pool, &[contact_id]).await?;
    let inboxes = repo::inboxes::visible(&state.pool, caller.account_id, caller.scope()).await?;
    let payload: Vec<Value> = inboxes
        .iter()
        .filter_map(|inbox| {
            let source = existing
                .iter()
                .find(|ci| ci.inbox.id == inbox.id)
                .map(|ci| ci.source_id.clone());
            let source = match inbox.channel.0 {
                Channel::Api { .. } => {
                    Some(source.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()))
                }
                Channel::WebWidget { .. } => source,
            }?;
            Some(render::contact_inbox_shape(&source, inbox))
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "payload": payload })))
}

/// The contact's latest conversations in the inboxes the caller sees.
#[tracing::instrument(skip_all, fields(account = %path.0, contact = %path.1))]
async fn conversations(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let contact_id = id(&path.1)?;
    if repo::contacts::contact(&state.pool, caller.account_id, contact_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let rows = repo::conversations::of_contact(
        &state.pool,
        caller.account_id,
        contact_id,
        caller.scope(),
        CONTACT_CONVERSATIONS,
    )
    .await?;
    let payload = render::conversation_list(&state.pool, rows).await?;
    Ok(HttpResponse::Ok().json(ConversationsBody { payload }))
}

/// `{"payload": [conversations]}`.
#[derive(serde::Serialize)]
struct ConversationsBody {
    payload: render::Conversations,
}
