//! Integration hooks (administrators only): create for an app of the
//! catalogue, change `status`/`settings`, delete.
//!
//! The body may be flat or under `hook`. `app_id` must name an app of the
//! catalogue, `inbox_id` an inbox of the account when the app's hooks are
//! per inbox (else 422), and `settings` must fit the app's schema (422 listing
//! each problem). An app that allows one hook per account refuses a second
//! (422); the unique index `hooks_single_app_key` settles a race the same way.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::integration::{Hook, HookCommand};
use domain::StreamId;
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, AccountCaller, Bots};
use crate::body::Body;
use crate::error::{on_constraint, ApiError};
use crate::write_model;
use crate::write_model::hooks as wm;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/integrations/hooks")
            .route("", web::post().to(create))
            .route("/", web::post().to(create))
            .route("/{id}", web::patch().to(update))
            .route("/{id}", web::put().to(update))
            .route("/{id}", web::delete().to(delete)),
    );
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

/// `status`: a boolean, 0/1, or Chatwoot's enum names `"enabled"`/`"disabled"`.
fn status(b: &Body) -> Result<Option<bool>, ApiError> {
    match b.0.get("status") {
        Some(Value::String(s)) if s == "enabled" => Ok(Some(true)),
        Some(Value::String(s)) if s == "disabled" => Ok(Some(false)),
        _ => b.boolean("status"),
    }
}

fn fallback(hook: &Hook) -> Value {
    match hook.ids {
        Some((id, account_id)) => json!({
            "id": id,
            "app_id": hook.app_id,
            "status": hook.status,
            "account_id": account_id,
            "settings": hook.settings,
        }),
        None => json!({}),
    }
}

/// A lost race on the one-hook-per-account index is the same 422 as a hook found.
fn single(e: sqlx::Error) -> ApiError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("hooks_single_app_key") => {
            ApiError::invalid("app_id", "App allows only one hook per account")
        }
        _ => on_constraint(e),
    }
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path).await?;
    let account_id = caller.account_id;
    let b = Body::parse(&body)?.unwrap_key("hook");
    let app_id = b.string("app_id")?.unwrap_or_default();
    let inbox_id = b.id("inbox_id")?;
    let status = status(&b)?;
    let settings = b.object("settings")?.unwrap_or_default();
    let single_hook = domain::integration::app(&app_id).is_some_and(|a| !a.allow_multiple_hooks);
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            if let Some(inbox_id) = inbox_id {
                if write_model::inbox_in_account(uow.conn().await?, account_id, inbox_id)
                    .await?
                    .is_none()
                {
                    return Err(ApiError::invalid("inbox", "Inbox must exist"));
                }
            }
            let hook_id = write_model::next_id(uow.conn().await?, "hook_ids").await?;
            let mut hook = uow.new_stream::<Hook>(StreamId::hook(hook_id));
            let app_has_hook = wm::app_has_hook(uow.conn().await?, account_id, &app_id).await?;
            let command = HookCommand::Create {
                hook_id,
                account_id,
                app_id: app_id.clone(),
                inbox_id,
                status,
                settings: settings.clone(),
                app_has_hook,
            };
            uow.decide(&mut hook, &command).await?;
            let h = &hook.state;
            wm::insert_hook(
                uow.conn().await?,
                hook_id,
                account_id,
                &h.app_id,
                h.inbox_id,
                single_hook,
            )
            .await
            .map_err(single)?;
            Ok(hook.state)
        })
        .await?;
    let hook_id = committed.value.ids.map(|(h, _)| h).unwrap_or_default();
    let render = query_service::render::hook(&state.pool, account_id, hook_id);
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}

/// Loads a hook of the account, or 404 (another account's hook does not exist).
async fn load_hook(
    uow: &mut crate::event_store::UnitOfWork,
    account_id: i64,
    hook_id: i64,
) -> Result<crate::event_store::Loaded<Hook>, ApiError> {
    let hook = uow.load::<Hook>(StreamId::hook(hook_id)).await?;
    if hook.state.live_ids().map(|(_, a)| a) != Some(account_id) {
        return Err(ApiError::NotFound);
    }
    Ok(hook)
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let account_id = caller.account_id;
    let hook_id = id(&path.1)?;
    let b = Body::parse(&body)?.unwrap_key("hook");
    let command = HookCommand::Update {
        status: status(&b)?,
        settings: b.object("settings")?,
    };
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut hook = load_hook(uow, account_id, hook_id).await?;
            uow.decide(&mut hook, &command).await?;
            Ok(hook.state)
        })
        .await?;
    let render = query_service::render::hook(&state.pool, account_id, hook_id);
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
    let hook_id = id(&path.1)?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut hook = load_hook(uow, account_id, hook_id).await?;
            uow.decide(&mut hook, &HookCommand::Delete).await?;
            wm::delete_hook(uow.conn().await?, hook_id).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}
