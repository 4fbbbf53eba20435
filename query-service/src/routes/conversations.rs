//! Conversation reads: the list with its counters, the counters alone, and
//! one conversation by display id. Administrators see every inbox, agents
//! their member inboxes; the counters come from the projection-maintained
//! `conversation_counts`, never from counting conversations. All three keep
//! their rendered bodies in the page cache ([`crate::cache`]).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::conversation::ConversationStatus;
use serde::Serialize;

use super::{get, id, Params};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::repo::conversations::{Assignee, ConversationFilter, ConversationRow, Counts, Seen};
use crate::{auth, render, repo, AppState};

/// Conversations per page.
const PER_PAGE: i64 = 25;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `meta` before `{id}`: the first matching resource serves.
    cfg.service(get("/api/v1/accounts/{account_id}/conversations", list))
        .service(get(
            "/api/v1/accounts/{account_id}/conversations/meta",
            meta,
        ))
        .service(get(
            "/api/v1/accounts/{account_id}/conversations/{id}",
            show,
        ));
}

/// `status`: today's names, the seed's `bot` for pending, `all`; open by default.
fn status(params: &Params) -> Result<Option<&'static str>, ApiError> {
    match params.get("status") {
        None => Ok(Some(ConversationStatus::Open.as_str())),
        Some("all") => Ok(None),
        Some(raw) => ConversationStatus::parse(raw)
            .map(|s| Some(s.as_str()))
            .map_err(|_| {
                ApiError::Unprocessable(format!(
                    "Status '{raw}' is not a valid status (open, resolved, pending, snoozed, all)"
                ))
            }),
    }
}

/// `assignee_type`: me, unassigned, assigned; anything else means all.
fn assignee(params: &Params, caller: &Caller) -> Assignee {
    match params.get("assignee_type") {
        Some("me") => Assignee::User(caller.user_id),
        Some("unassigned") => Assignee::Nobody,
        Some("assigned") => Assignee::Somebody,
        _ => Assignee::Any,
    }
}

fn filter(params: &Params, caller: &Caller) -> Result<ConversationFilter, ApiError> {
    let q = params.get("q").map(str::to_owned);
    Ok(ConversationFilter {
        scope: caller.scope(),
        // Chatwoot skips the status filter when searching.
        status: if q.is_some() { None } else { status(params)? },
        inbox_id: params.id("inbox_id")?,
        team_id: params.id("team_id")?,
        labels: params.all(&["labels[]", "labels"]),
        q,
    })
}

/// The list counters for the filter; a `team_id` filter must name a team
/// of the account (Chatwoot: 404).
async fn counts(
    state: &AppState,
    caller: &Caller,
    filter: &ConversationFilter,
) -> Result<Counts, ApiError> {
    if let Some(team_id) = filter.team_id {
        if repo::teams::team(&state.pool, caller.account_id, team_id, 0)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound);
        }
    }
    Ok(repo::conversations::counts(&state.pool, caller.account_id, filter, caller.user_id).await?)
}

/// The page's rows: read at its first row's key once the list keeps keys
/// for it ([`crate::page_keys`]), else at its offset; none past the end.
async fn rows(
    state: &AppState,
    caller: &Caller,
    filter: &ConversationFilter,
    assignee: Assignee,
    offset: i64,
) -> Result<Vec<ConversationRow>, ApiError> {
    let start = state
        .page_keys
        .start(&state.pool, caller, filter, assignee, PER_PAGE, offset)
        .await?;
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    let rows = repo::conversations::list(
        &state.pool,
        caller.account_id,
        filter,
        assignee,
        PER_PAGE,
        start,
    )
    .await?;
    Ok(rows)
}

/// The list's counters (`meta`).
#[derive(Serialize)]
struct CountsView {
    mine_count: i64,
    unassigned_count: i64,
    assigned_count: i64,
    all_count: i64,
}

impl From<Counts> for CountsView {
    fn from(c: Counts) -> Self {
        CountsView {
            mine_count: c.mine_count,
            unassigned_count: c.unassigned_count,
            assigned_count: c.all_count - c.unassigned_count,
            all_count: c.all_count,
        }
    }
}

/// `{"data": {"meta": counters, "payload": conversations}}`.
#[derive(Serialize)]
struct ListBody {
    data: ListData,
}

#[derive(Serialize)]
struct ListData {
    meta: CountsView,
    payload: render::Conversations,
}

/// `{"meta": counters}`.
#[derive(Serialize)]
struct MetaBody {
    meta: CountsView,
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
    let filter = filter(&params, &caller)?;
    let assignee = assignee(&params, &caller);
    let offset = params.page().offset(PER_PAGE);
    let state = &state;
    state
        .pages
        .page(&caller, &req, || async move {
            let (counts, rows) = futures::try_join!(
                counts(state, &caller, &filter),
                rows(state, &caller, &filter, assignee, offset)
            )?;
            let payload = render::conversation_list(&state.pool, rows).await?;
            Ok(ListBody {
                data: ListData {
                    meta: counts.into(),
                    payload,
                },
            })
        })
        .await
}

#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn meta(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let params = Params::new(query);
    let filter = filter(&params, &caller)?;
    let state = &state;
    state
        .pages
        .page(&caller, &req, || async move {
            let counts = counts(state, &caller, &filter).await?;
            Ok(MetaBody {
                meta: counts.into(),
            })
        })
        .await
}

/// One conversation; an agent who is not a member of its inbox gets
/// Chatwoot's policy 401.
#[tracing::instrument(skip_all, fields(account = %path.0, display_id = %path.1))]
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::account_caller(&req, &state, &path.0).await?;
    let display_id = id(&path.1)?;
    // ---- audit ----
    if let Some(raw) = Params::new(query).get("as_of") {
        return super::history::conversation_as_of(&state, &caller, display_id, raw).await;
    }
    let state = &state;
    state
        .pages
        .page(&caller, &req, || async move {
            let row = visible(state, &caller, display_id).await?;
            Ok(render::single_conversation(&state.pool, row).await?)
        })
        .await
}

/// The conversation by display id, if the caller may see it: 404 for one
/// the account does not have, Chatwoot's policy 401 for an agent outside
/// its inbox. Showing it, its messages, labels and history all ask this.
pub(super) async fn visible(
    state: &AppState,
    caller: &Caller,
    display_id: i64,
) -> Result<ConversationRow, ApiError> {
    match repo::conversations::seen_by(&state.pool, caller.account_id, display_id, caller.scope())
        .await?
    {
        Some(Seen { row, visible: true }) => Ok(row),
        Some(Seen { visible: false, .. }) => Err(ApiError::NOT_ALLOWED),
        None => Err(ApiError::NotFound),
    }
}
