//! Team writes (administrators only): create, update, delete; and team
//! members: add (`POST`), replace (`PATCH`), remove (`DELETE`) by `user_ids`.
//!
//! Deleting a team clears it from its conversations: each conversation gets
//! its own `ConversationTeamChanged` in the same transaction as the
//! `TeamDeleted`, and the write model stops knowing the team at once.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::conversation::{Conversation, ConversationCommand};
use domain::members::MembersChange;
use domain::team::{normalize_name, Team, TeamChanges, TeamCommand};
use domain::StreamId;
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, AccountCaller, Bots, Principal};
use crate::body::Body;
use crate::error::{on_constraint, ApiError};
use crate::write_model::teams as wm;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/teams")
            .route("", web::post().to(create))
            .route("/", web::post().to(create))
            .route("/{id}", web::patch().to(update))
            .route("/{id}", web::put().to(update))
            .route("/{id}", web::delete().to(delete))
            .route("/{id}/team_members", web::post().to(add_members))
            .route("/{id}/team_members", web::patch().to(replace_members))
            .route("/{id}/team_members", web::put().to(replace_members))
            .route("/{id}/team_members", web::delete().to(remove_members)),
    );
}

/// The caller's user id (0 for anything else), for `is_member`.
pub(super) fn user_id(caller: &AccountCaller) -> i64 {
    match caller.principal {
        Principal::User(id) => id,
        _ => 0,
    }
}

/// `user_ids`: a required array of ids (numbers or numeric strings).
pub(super) fn user_ids(b: &Body) -> Result<Vec<i64>, ApiError> {
    let invalid = || ApiError::invalid("user_ids", "User ids must be an array of user ids");
    let Some(Value::Array(items)) = b.0.get("user_ids") else {
        return Err(invalid());
    };
    items
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .map(|id| id.filter(|id| *id > 0).ok_or_else(invalid))
        .collect()
}

/// 422 unless every id names a member of the account.
pub(super) async fn require_account_members(
    state: &AppState,
    account_id: i64,
    ids: &[i64],
) -> Result<(), ApiError> {
    let strangers = wm::not_account_members(&state.pool, account_id, ids).await?;
    if strangers.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "user_ids",
            format!("Users {strangers:?} are not members of the account"),
        ))
    }
}

fn changes(b: &Body) -> Result<TeamChanges, ApiError> {
    Ok(TeamChanges {
        name: b.string("name")?,
        description: b.nullable_string("description")?,
        allow_auto_assign: b.boolean("allow_auto_assign")?,
    })
}

fn fallback(team: &Team) -> Value {
    match team.ids {
        Some((id, account_id)) => json!({
            "id": id,
            "name": team.name,
            "description": team.description,
            "allow_auto_assign": team.allow_auto_assign,
            "account_id": account_id,
        }),
        None => json!({}),
    }
}

async fn admin(
    state: &AppState,
    req: &HttpRequest,
    account_segment: &str,
) -> Result<AccountCaller, ApiError> {
    let account_id = id(account_segment)?;
    let caller = auth::account_caller(req, state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    Ok(caller)
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path).await?;
    let account_id = caller.account_id;
    let changes = changes(&Body::parse(&body)?.unwrap_key("team"))?;
    let name = normalize_name(changes.name.as_deref().unwrap_or_default());
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let team_id = crate::write_model::next_id(uow.conn().await?, "team_ids").await?;
            let mut team = uow.new_stream::<Team>(StreamId::team(team_id));
            let name_taken =
                wm::team_name_taken(uow.conn().await?, account_id, &name, None).await?;
            let command = TeamCommand::Create {
                team_id,
                account_id,
                changes: changes.clone(),
                name_taken,
            };
            uow.decide(&mut team, &command).await?;
            let t = &team.state;
            wm::upsert_team(
                uow.conn().await?,
                team_id,
                account_id,
                &t.name,
                t.allow_auto_assign,
            )
            .await
            .map_err(taken)?;
            Ok(team.state)
        })
        .await?;
    let team_id = committed.value.ids.map(|(t, _)| t).unwrap_or_default();
    let render = query_service::render::team(&state.pool, account_id, team_id, user_id(&caller));
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}

/// A lost race on the unique name is the same 422 as a name found taken.
fn taken(e: sqlx::Error) -> ApiError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("teams_account_name_key") => {
            ApiError::invalid("name", "Name has already been taken")
        }
        _ => on_constraint(e),
    }
}

/// Loads a team of the account, or 404 (another account's team does not exist).
async fn load_team(
    uow: &mut crate::event_store::UnitOfWork,
    account_id: i64,
    team_id: i64,
) -> Result<crate::event_store::Loaded<Team>, ApiError> {
    let team = uow.load::<Team>(StreamId::team(team_id)).await?;
    if team.state.live_ids().map(|(_, a)| a) != Some(account_id) {
        return Err(ApiError::NotFound);
    }
    Ok(team)
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let account_id = caller.account_id;
    let team_id = id(&path.1)?;
    let changes = changes(&Body::parse(&body)?.unwrap_key("team"))?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut team = load_team(uow, account_id, team_id).await?;
            let name_taken = match &changes.name {
                Some(n) => {
                    wm::team_name_taken(
                        uow.conn().await?,
                        account_id,
                        &normalize_name(n),
                        Some(team_id),
                    )
                    .await?
                }
                None => false,
            };
            let command = TeamCommand::Update {
                changes: changes.clone(),
                name_taken,
            };
            uow.decide(&mut team, &command).await?;
            let t = &team.state;
            wm::upsert_team(
                uow.conn().await?,
                team_id,
                account_id,
                &t.name,
                t.allow_auto_assign,
            )
            .await
            .map_err(taken)?;
            Ok(team.state)
        })
        .await?;
    let render = query_service::render::team(&state.pool, account_id, team_id, user_id(&caller));
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let account_id = caller.account_id;
    let team_id = id(&path.1)?;
    let ctx = state.context(&req, caller.principal);
    let actor = caller.principal.actor();
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            // Every stream is read before anything is written (docs/adr/0002).
            let mut team = load_team(uow, account_id, team_id).await?;
            let mut conversations = Vec::new();
            for id in wm::conversations_of_team(uow.conn().await?, account_id, team_id).await? {
                conversations.push(uow.load::<Conversation>(StreamId::conversation(id)).await?);
            }
            uow.decide(&mut team, &TeamCommand::Delete).await?;
            for conversation in &mut conversations {
                let command = ConversationCommand::ClearTeam { team_id, actor };
                uow.decide(conversation, &command).await?;
                wm::set_conversation_facts(uow.conn().await?, &conversation.state).await?;
            }
            wm::delete_team(uow.conn().await?, team_id).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}

async fn change_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    change: fn(Vec<i64>) -> MembersChange,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let account_id = caller.account_id;
    let team_id = id(&path.1)?;
    // The team first, as Chatwoot loads it before reading the body: another
    // account's team is a 404 whatever the body says.
    let mut conn = state.pool.acquire().await?;
    if wm::team_in_account(&mut conn, account_id, team_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    drop(conn);
    let ids = user_ids(&Body::parse(&body)?)?;
    let change = change(ids);
    if !matches!(change, MembersChange::Remove(_)) {
        require_account_members(&state, account_id, change.user_ids()).await?;
    }
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut team = load_team(uow, account_id, team_id).await?;
            let (added, removed) = change.diff(&team.state.members);
            uow.decide(&mut team, &TeamCommand::Members(change.clone()))
                .await?;
            wm::change_team_members(uow.conn().await?, team_id, &added, &removed).await?;
            Ok(added)
        })
        .await?;
    match change {
        // Chatwoot answers a removal with an empty 200 ...
        MembersChange::Remove(_) => Ok(state.respond_empty(&req, &committed.written).await),
        // ... an addition with the members it added, a replacement with all members.
        MembersChange::Add(_) => {
            let added = committed.value.clone();
            let render =
                query_service::render::team_members(&state.pool, account_id, team_id, Some(&added));
            state
                .respond(&req, &committed.written, render, json!([]))
                .await
        }
        MembersChange::Replace(_) => {
            let render =
                query_service::render::team_members(&state.pool, account_id, team_id, None);
            state
                .respond(&req, &committed.written, render, json!([]))
                .await
        }
    }
}

async fn add_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    change_members(state, req, path, body, MembersChange::Add).await
}

async fn replace_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    change_members(state, req, path, body, MembersChange::Replace).await
}

async fn remove_members(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    change_members(state, req, path, body, MembersChange::Remove).await
}
