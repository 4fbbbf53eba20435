//! Agent bots: the platform API's (`/platform/api/v1/agent_bots`, bots the
//! app created or was granted), an account's (`/api/v1/accounts/{a}/agent_bots`,
//! administrators, own bots only: global bots are read-only there), and the
//! bot connected to an inbox (`POST .../inboxes/{id}/set_agent_bot`).
//!
//! Deleting a bot disconnects it from its inboxes in the same unit of work
//! (an `InboxAgentBotSet` to `None` on each inbox's stream), and never
//! touches its account (Chatwoot v1.17's `dependent: :destroy` bug).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::agent_bot::{
    AgentBot, AgentBotChanges, AgentBotCommand, BotType, InboxAgentBot, SetAgentBot,
};
use domain::platform_app::Permissible;
use domain::StreamId;
use infra::tokens::{self, OwnerType};
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, Bots, Principal};
use crate::body::Body;
use crate::error::ApiError;
use crate::event_store::{Committed, UnitOfWork};
use crate::write_model::{self, agent_bots as wm};
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let not_found = || web::to(infra::http::not_found);
    cfg.service(
        web::resource("/platform/api/v1/agent_bots")
            .route(web::post().to(platform_create))
            .default_service(not_found()),
    )
    .service(
        web::resource("/platform/api/v1/agent_bots/{id}")
            .route(web::patch().to(platform_update))
            .route(web::put().to(platform_update))
            .route(web::delete().to(platform_delete))
            .default_service(not_found()),
    )
    .service(
        web::resource("/api/v1/accounts/{account_id}/agent_bots")
            .route(web::post().to(account_create))
            .default_service(not_found()),
    )
    .service(
        web::resource("/api/v1/accounts/{account_id}/agent_bots/{id}")
            .route(web::patch().to(account_update))
            .route(web::put().to(account_update))
            .route(web::delete().to(account_delete))
            .default_service(not_found()),
    )
    .service(
        web::resource("/api/v1/accounts/{account_id}/inboxes/{inbox_id}/set_agent_bot")
            .route(web::post().to(set_agent_bot))
            .default_service(not_found()),
    );
}

fn changes(b: &Body) -> Result<AgentBotChanges, ApiError> {
    let bot_type = b
        .string("bot_type")?
        .filter(|t| !t.trim().is_empty())
        .map(|t| BotType::parse(&t))
        .transpose()?;
    Ok(AgentBotChanges {
        name: b.string("name")?,
        description: b.nullable_string("description")?,
        outgoing_url: b.nullable_string("outgoing_url")?,
        bot_type,
        bot_config: b.object("bot_config")?,
    })
}

/// Creates a bot (its token and, for a platform app, its grant) in one unit of work.
async fn create(
    state: &AppState,
    req: &HttpRequest,
    principal: Principal,
    account_id: Option<i64>,
    changes: AgentBotChanges,
) -> Result<Committed<i64>, ApiError> {
    let secret = state.settings.token_secret.clone();
    let ctx = state.context(req, principal);
    state
        .store
        .execute(&ctx, async |uow| {
            let bot_id = write_model::next_id(uow.conn().await?, "agent_bot_ids").await?;
            let token_hash = tokens::hash(&tokens::derive(&secret, OwnerType::AgentBot, bot_id));
            let mut bot = uow.new_stream::<AgentBot>(StreamId::agent_bot(bot_id));
            let command = AgentBotCommand::Create {
                agent_bot_id: bot_id,
                account_id,
                changes: changes.clone(),
                access_token_hash: token_hash.clone(),
            };
            uow.decide(&mut bot, &command).await?;
            wm::insert_bot(uow.conn().await?, bot_id, account_id).await?;
            write_model::insert_token(uow.conn().await?, &token_hash, "agent_bot", bot_id).await?;
            if let Principal::PlatformApp(app_id) = principal {
                super::platform::grant(uow, app_id, Permissible::AgentBot(bot_id)).await?;
            }
            Ok(bot_id)
        })
        .await
}

async fn update(
    state: &AppState,
    req: &HttpRequest,
    principal: Principal,
    bot_id: i64,
    changes: AgentBotChanges,
) -> Result<Committed<AgentBot>, ApiError> {
    let ctx = state.context(req, principal);
    state
        .store
        .execute(&ctx, async |uow| {
            let mut bot = uow.load::<AgentBot>(StreamId::agent_bot(bot_id)).await?;
            uow.decide(&mut bot, &AgentBotCommand::Update(changes.clone()))
                .await?;
            Ok(bot.state)
        })
        .await
}

/// Disconnects the bot from every inbox, then deletes it.
async fn delete(
    state: &AppState,
    req: &HttpRequest,
    principal: Principal,
    bot_id: i64,
) -> Result<Committed<()>, ApiError> {
    let ctx = state.context(req, principal);
    state
        .store
        .execute(&ctx, async |uow| {
            let mut bot = uow.load::<AgentBot>(StreamId::agent_bot(bot_id)).await?;
            let inbox_ids = wm::inboxes_of_bot(uow.conn().await?, bot_id).await?;
            // Load every stream before the first write (see event_store).
            let mut inboxes = Vec::with_capacity(inbox_ids.len());
            for inbox_id in &inbox_ids {
                inboxes.push(
                    uow.load::<InboxAgentBot>(StreamId::inbox(*inbox_id))
                        .await?,
                );
            }
            uow.decide(&mut bot, &AgentBotCommand::Delete).await?;
            for (inbox, inbox_id) in inboxes.iter_mut().zip(&inbox_ids) {
                uow.decide(inbox, &SetAgentBot(None)).await?;
                wm::set_inbox_bot(uow.conn().await?, *inbox_id, None).await?;
            }
            wm::delete_bot(uow.conn().await?, bot_id).await?;
            Ok(())
        })
        .await
}

fn fallback(bot_id: i64, account_id: Option<i64>, bot: Option<&AgentBot>) -> Value {
    match bot {
        Some(b) => json!({
            "id": bot_id,
            "name": b.fields.name,
            "description": b.fields.description,
            "outgoing_url": b.fields.outgoing_url,
            "bot_type": b.fields.bot_type.as_str(),
            "bot_config": b.fields.bot_config,
            "account_id": account_id,
        }),
        None => json!({"id": bot_id, "account_id": account_id}),
    }
}

// ---- platform ---------------------------------------------------------------

/// The bot id of the path, once the app is known to be granted it.
async fn granted_bot(state: &AppState, app_id: i64, segment: &str) -> Result<i64, ApiError> {
    let bot_id = id(segment)?;
    let mut conn = state.pool.acquire().await?;
    if wm::bot(&mut conn, bot_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    auth::require_grant(&state.pool, app_id, "agent_bot", bot_id).await?;
    Ok(bot_id)
}

async fn platform_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let b = Body::parse(&body)?.unwrap_key("agent_bot");
    let account_id = b.id("account_id")?;
    if let Some(account_id) = account_id {
        // A platform app places bots only in accounts it manages.
        if !write_model::account_exists(&state.pool, account_id).await? {
            return Err(ApiError::invalid("account", "Account must exist"));
        }
        auth::require_grant(&state.pool, app_id, "account", account_id).await?;
    }
    let changes = changes(&b)?;
    let committed = create(
        &state,
        &req,
        Principal::PlatformApp(app_id),
        account_id,
        changes,
    )
    .await?;
    let bot_id = committed.value;
    let mut fallback = fallback(bot_id, account_id, None);
    fallback["access_token"] = json!(tokens::derive(
        &state.settings.token_secret,
        OwnerType::AgentBot,
        bot_id
    ));
    let render = query_service::render::platform_agent_bot(
        &state.pool,
        &state.settings.token_secret,
        bot_id,
    );
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn platform_update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let bot_id = granted_bot(&state, app_id, &path).await?;
    let changes = changes(&Body::parse(&body)?.unwrap_key("agent_bot"))?;
    let committed = update(
        &state,
        &req,
        Principal::PlatformApp(app_id),
        bot_id,
        changes,
    )
    .await?;
    let bot = &committed.value;
    let fallback = fallback(bot_id, bot.account_id, Some(bot));
    let render = query_service::render::platform_agent_bot(
        &state.pool,
        &state.settings.token_secret,
        bot_id,
    );
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn platform_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let bot_id = granted_bot(&state, app_id, &path).await?;
    let committed = delete(&state, &req, Principal::PlatformApp(app_id), bot_id).await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}

// ---- account ----------------------------------------------------------------

/// The account's own live bot of the path segment; a global bot, another
/// account's bot or no bot is a 404.
async fn own_bot(state: &AppState, account_id: i64, segment: &str) -> Result<i64, ApiError> {
    let bot_id = id(segment)?;
    let mut conn = state.pool.acquire().await?;
    match wm::bot(&mut conn, bot_id).await? {
        Some(Some(owner)) if owner == account_id => Ok(bot_id),
        _ => Err(ApiError::NotFound),
    }
}

async fn account_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let changes = changes(&Body::parse(&body)?.unwrap_key("agent_bot"))?;
    let committed = create(&state, &req, caller.principal, Some(account_id), changes).await?;
    let bot_id = committed.value;
    let render = query_service::render::account_agent_bot(
        &state.pool,
        &state.settings.token_secret,
        account_id,
        bot_id,
        true,
    );
    let fallback = fallback(bot_id, Some(account_id), None);
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn account_update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let bot_id = own_bot(&state, account_id, &path.1).await?;
    let changes = changes(&Body::parse(&body)?.unwrap_key("agent_bot"))?;
    let committed = update(&state, &req, caller.principal, bot_id, changes).await?;
    let fallback = fallback(bot_id, Some(account_id), Some(&committed.value));
    let render = query_service::render::account_agent_bot(
        &state.pool,
        &state.settings.token_secret,
        account_id,
        bot_id,
        true,
    );
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn account_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let bot_id = own_bot(&state, account_id, &path.1).await?;
    let committed = delete(&state, &req, caller.principal, bot_id).await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}

// ---- inbox ------------------------------------------------------------------

async fn set_agent_bot(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let inbox_id = id(&path.1)?;
    let b = Body::parse(&body)?;
    let wanted = b.id("agent_bot")?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow: &mut UnitOfWork| {
            if write_model::inbox_in_account(uow.conn().await?, account_id, inbox_id)
                .await?
                .is_none()
            {
                return Err(ApiError::NotFound);
            }
            if let Some(bot_id) = wanted {
                // The account's own bots and global bots; nothing of another account.
                match wm::bot(uow.conn().await?, bot_id).await? {
                    Some(None) => {}
                    Some(Some(owner)) if owner == account_id => {}
                    _ => return Err(ApiError::NotFound),
                }
            }
            let mut inbox = uow.load::<InboxAgentBot>(StreamId::inbox(inbox_id)).await?;
            uow.decide(&mut inbox, &SetAgentBot(wanted)).await?;
            wm::set_inbox_bot(uow.conn().await?, inbox_id, wanted).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}
