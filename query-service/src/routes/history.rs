//! The audit trail (our addition; Chatwoot has none): a conversation's
//! events with its messages', a contact's events, the account-wide audit
//! query for administrators, and a conversation as it was at a moment
//! (`GET .../conversations/{id}?as_of=`, answered from [`conversation_as_of`]).
//! Everything is read from the history projection (`read_model.history`).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::account::Role;
use domain::conversation::Conversation;
use domain::{Aggregate, Event, StreamId};
use serde_json::{json, Value};

use super::conversations::visible;
use super::{get, id, Params};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::repo::history::{HistoryFilter, Moment};
use crate::{auth, render, repo, AppState};

/// Events per page.
const PER_PAGE: i64 = 50;

/// Actor types the audit query may filter on.
const ACTOR_TYPES: [&str; 4] = ["user", "agent_bot", "platform_app", "system"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get(
        "/api/v1/accounts/{account_id}/conversations/{id}/history",
        conversation_history,
    ))
    .service(get(
        "/api/v1/accounts/{account_id}/contacts/{id}/history",
        contact_history,
    ))
    .service(get(
        "/api/v1/accounts/{account_id}/audit_events",
        audit_events,
    ));
}

/// An ISO-8601 (RFC 3339) time parameter; anything else is a 400.
fn time(params: &Params, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(key)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::BadRequest(format!("{key} must be an ISO-8601 time with a zone"))
                })
        })
        .transpose()
}

/// `as_of`: a log position (a positive integer) or an ISO-8601 time.
pub(super) fn moment(raw: &str) -> Result<Moment, ApiError> {
    if let Ok(position) = raw.parse::<i64>() {
        return if position > 0 {
            Ok(Moment::Position(position))
        } else {
            Err(ApiError::BadRequest(
                "as_of must be a positive event position or an ISO-8601 time".into(),
            ))
        };
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| Moment::Time(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::BadRequest(
                "as_of must be a positive event position or an ISO-8601 time".into(),
            )
        })
}

/// A page of events matching `filter`, with its paging meta. `after` (a log
/// position, from the previous page's `meta.next_after`) and `page` both work.
async fn page(
    state: &AppState,
    account_id: i64,
    params: &Params,
    mut filter: HistoryFilter,
) -> Result<HttpResponse, ApiError> {
    filter.after = params.id("after")?;
    let page = params.page();
    let total = repo::history::count(&state.pool, account_id, &filter).await?;
    let rows = repo::history::events(
        &state.pool,
        account_id,
        &filter,
        PER_PAGE,
        page.offset(PER_PAGE),
    )
    .await?;
    let next_after = if rows.len() as i64 == PER_PAGE {
        rows.last().map(|r| json!(r.position))
    } else {
        None
    };
    let payload: Vec<Value> = rows.iter().map(render::history_event_shape).collect();
    Ok(HttpResponse::Ok().json(json!({
        "meta": {
            "count": total,
            "current_page": page.echo,
            "per_page": PER_PAGE,
            "next_after": next_after.unwrap_or(Value::Null),
        },
        "payload": payload,
    })))
}

#[tracing::instrument(skip_all, fields(account = %path.0, display_id = %path.1))]
async fn conversation_history(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let display_id = id(&path.1)?;
    let conversation_id = visible(&state, &caller, display_id).await?.id;
    let params = Params::new(query);
    let filter = HistoryFilter {
        conversation_id: Some(conversation_id),
        ..HistoryFilter::default()
    };
    page(&state, caller.account_id, &params, filter).await
}

#[tracing::instrument(skip_all, fields(account = %path.0, contact = %path.1))]
async fn contact_history(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let contact_id = id(&path.1)?;
    if repo::contacts::contact(&state.pool, caller.account_id, contact_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let params = Params::new(query);
    let filter = HistoryFilter {
        contact_id: Some(contact_id),
        ..HistoryFilter::default()
    };
    page(&state, caller.account_id, &params, filter).await
}

/// The account's events, filtered; administrators only.
#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn audit_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    if caller.role != Role::Administrator {
        return Err(ApiError::NOT_ALLOWED);
    }
    let params = Params::new(query);
    let actor_type = match params.get("actor_type") {
        None => None,
        Some(t) if ACTOR_TYPES.contains(&t) => Some(t.to_owned()),
        Some(t) => {
            return Err(ApiError::Unprocessable(format!(
                "actor_type '{t}' is not one of user, agent_bot, platform_app, system"
            )))
        }
    };
    let filter = HistoryFilter {
        actor_type,
        actor_id: params.id("actor_id")?,
        event_type: params.get("event_type").map(str::to_owned),
        since: time(&params, "since")?,
        until: time(&params, "until")?,
        ..HistoryFilter::default()
    };
    page(&state, caller.account_id, &params, filter).await
}

/// `GET .../conversations/{id}?as_of=`: the conversation folded from its
/// stream's events up to the moment. 404 if it did not exist yet.
pub(super) async fn conversation_as_of(
    state: &AppState,
    caller: &Caller,
    display_id: i64,
    raw: &str,
) -> Result<HttpResponse, ApiError> {
    let moment = moment(raw)?;
    let row = visible(state, caller, display_id).await?;
    let stream = StreamId::conversation(row.id).to_string();
    let stored =
        repo::history::stream_until(&state.pool, caller.account_id, &stream, moment).await?;
    let mut folded = Conversation::default();
    for (event_type, version, payload) in stored {
        match Event::from_stored(&event_type, version, payload) {
            Ok(event) => folded = folded.evolve(&event),
            // A payload this code cannot read was parked by the projection
            // and never recorded; nothing else can fail here.
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable history event"),
        }
    }
    if folded.ids.is_none() {
        return Err(ApiError::NotFound);
    }
    let body = render::conversation_as_of(&state.pool, row, &folded)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(body))
}
