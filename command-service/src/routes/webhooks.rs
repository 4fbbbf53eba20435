//! Account webhooks (administrators only): create, update, delete.
//!
//! The body may be flat or under `webhook`: `url` (http or https, unique in
//! the account), `subscriptions` (event names; Chatwoot's default list when
//! absent), `name`. Bad values are 422 and nothing is written. The answers
//! are Chatwoot's `{payload: {webhook: {...}}}`; the create answer alone
//! carries the signing `secret` (docs/webhooks.md), which is kept in the
//! write model only and never shown again.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::webhook::{Webhook, WebhookCommand};
use domain::StreamId;
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, AccountCaller, Bots};
use crate::body::Body;
use crate::error::{on_constraint, ApiError};
use crate::write_model;
use crate::write_model::webhooks as wm;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/webhooks")
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

fn shape(w: &Webhook) -> Value {
    match w.ids {
        Some((id, account_id)) => json!({
            "id": id,
            "name": w.name,
            "url": w.url,
            "account_id": account_id,
            "subscriptions": w.subscriptions,
        }),
        None => json!({}),
    }
}

/// A lost race on the per-account URL index is the same 422 as a URL found.
fn unique(e: sqlx::Error) -> ApiError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("webhooks_account_url_key") => {
            ApiError::invalid("url", "Url has already been taken")
        }
        _ => on_constraint(e),
    }
}

/// Chatwoot's envelope `{payload: {webhook: ...}}`, with the secret on create.
fn envelope(mut webhook: Value, secret: Option<&str>) -> Value {
    if let (Some(secret), Value::Object(map)) = (secret, &mut webhook) {
        map.insert("secret".into(), json!(secret));
    }
    json!({"payload": {"webhook": webhook}})
}

/// The rendered webhook (after the read-your-writes wait), in its envelope.
async fn rendered(
    state: &AppState,
    account_id: i64,
    webhook_id: i64,
    secret: Option<&str>,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(
        query_service::render::webhook(&state.pool, account_id, webhook_id)
            .await?
            .map(|w| envelope(w, secret)),
    )
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path).await?;
    let account_id = caller.account_id;
    let b = Body::parse(&body)?.unwrap_key("webhook");
    let url = b.string("url")?.unwrap_or_default();
    let name = b.string("name")?;
    let subscriptions = b.typed::<Vec<String>>("subscriptions")?;
    let secret = infra::tokens::random_hex(32);
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let webhook_id = write_model::next_id(uow.conn().await?, "webhook_ids").await?;
            let mut webhook = uow.new_stream::<Webhook>(StreamId::webhook(webhook_id));
            let url_taken = wm::url_taken(uow.conn().await?, account_id, url.trim(), None).await?;
            let command = WebhookCommand::Create {
                webhook_id,
                account_id,
                url: url.clone(),
                name: name.clone(),
                subscriptions: subscriptions.clone(),
                url_taken,
            };
            uow.decide(&mut webhook, &command).await?;
            wm::insert(
                uow.conn().await?,
                webhook_id,
                account_id,
                &webhook.state.url,
                &secret,
            )
            .await
            .map_err(unique)?;
            Ok(webhook.state)
        })
        .await?;
    let webhook_id = committed.value.ids.map(|(w, _)| w).unwrap_or_default();
    let render = rendered(&state, account_id, webhook_id, Some(&secret));
    let fallback = envelope(shape(&committed.value), Some(&secret));
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

/// Loads a webhook of the account, or 404 (another account's does not exist).
async fn load(
    uow: &mut crate::event_store::UnitOfWork,
    account_id: i64,
    webhook_id: i64,
) -> Result<crate::event_store::Loaded<Webhook>, ApiError> {
    let webhook = uow.load::<Webhook>(StreamId::webhook(webhook_id)).await?;
    if webhook.state.live_ids().map(|(_, a)| a) != Some(account_id) {
        return Err(ApiError::NotFound);
    }
    Ok(webhook)
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let account_id = caller.account_id;
    let webhook_id = id(&path.1)?;
    let b = Body::parse(&body)?.unwrap_key("webhook");
    let url = b.string("url")?;
    let name = b.string("name")?;
    let subscriptions = b.typed::<Vec<String>>("subscriptions")?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut webhook = load(uow, account_id, webhook_id).await?;
            let url_taken = match &url {
                Some(u) => {
                    wm::url_taken(uow.conn().await?, account_id, u.trim(), Some(webhook_id)).await?
                }
                None => false,
            };
            let before = webhook.state.url.clone();
            let command = WebhookCommand::Update {
                url: url.clone(),
                name: name.clone(),
                subscriptions: subscriptions.clone(),
                url_taken,
            };
            uow.decide(&mut webhook, &command).await?;
            if webhook.state.url != before {
                wm::set_url(uow.conn().await?, webhook_id, &webhook.state.url)
                    .await
                    .map_err(unique)?;
            }
            Ok(webhook.state)
        })
        .await?;
    let render = rendered(&state, account_id, webhook_id, None);
    let fallback = envelope(shape(&committed.value), None);
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&state, &req, &path.0).await?;
    let account_id = caller.account_id;
    let webhook_id = id(&path.1)?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut webhook = load(uow, account_id, webhook_id).await?;
            uow.decide(&mut webhook, &WebhookCommand::Delete).await?;
            wm::delete(uow.conn().await?, webhook_id).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}
