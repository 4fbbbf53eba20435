//! Inbox writes: create (web widget and API channels) and update; administrators only.
//! Both take JSON or multipart with an `avatar` image; `DELETE …/{id}/avatar`
//! removes it.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::inbox::{ChannelChanges, Inbox, InboxChanges, InboxCommand, NewChannel};
use domain::StreamId;
use infra::tokens::random_hex;
use serde_json::json;

use super::id;
use crate::auth::{self, Bots};
use crate::blobs::{self, Stored};
use crate::body::Body;
use crate::error::ApiError;
use crate::event_store::{Committed, Loaded, UnitOfWork};
use crate::write_model;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/inboxes")
            .route("", web::post().to(create))
            .route("/", web::post().to(create))
            .route("/{id}", web::patch().to(update))
            .route("/{id}", web::put().to(update))
            .route("/{id}/avatar", web::delete().to(delete_avatar)),
    );
}

fn inbox_changes(b: &Body) -> Result<InboxChanges, ApiError> {
    Ok(InboxChanges {
        name: b.string("name")?,
        greeting_enabled: b.boolean("greeting_enabled")?,
        greeting_message: b.nullable_string("greeting_message")?,
        enable_auto_assignment: b.boolean("enable_auto_assignment")?,
        working_hours_enabled: b.boolean("working_hours_enabled")?,
        out_of_office_message: b.nullable_string("out_of_office_message")?,
        timezone: b.string("timezone")?,
        working_hours: b.typed("working_hours")?,
    })
}

fn channel_changes(c: &Body) -> Result<ChannelChanges, ApiError> {
    Ok(ChannelChanges {
        website_url: c.string("website_url")?,
        widget_color: c.string("widget_color")?,
        welcome_title: c.nullable_string("welcome_title")?,
        welcome_tagline: c.nullable_string("welcome_tagline")?,
        reply_time: c.string("reply_time")?,
        webhook_url: c.nullable_string("webhook_url")?,
    })
}

fn fallback(inbox: &Inbox) -> serde_json::Value {
    match (inbox.ids, &inbox.channel, &inbox.settings) {
        (Some((id, account_id)), Some(channel), Some(settings)) => json!({
            "id": id,
            "account_id": account_id,
            "name": settings.name,
            "channel_type": channel.channel_type(),
        }),
        _ => json!({}),
    }
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let (b, avatar) = read_body(&state, &req, body).await?;
    let b = b.unwrap_key("inbox");
    let changes = inbox_changes(&b)?;
    let channel_body = b.nested("channel")?;
    let channel_changes = channel_changes(&channel_body)?;
    let (channel, sequence) = match channel_body.string("type")?.as_deref() {
        Some("web_widget") => (
            NewChannel::WebWidget {
                website_token: random_hex(12),
                hmac_token: random_hex(12),
            },
            "web_widget_channel_ids",
        ),
        Some("api") => (
            NewChannel::Api {
                hmac_token: random_hex(12),
            },
            "api_channel_ids",
        ),
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "Channel type '{other}' is not supported (web_widget, api)"
            )))
        }
        None => return Err(ApiError::invalid("channel", "Channel must exist")),
    };
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let inbox_id = write_model::next_id(uow.conn().await?, "inbox_ids").await?;
            let channel_id = write_model::next_id(uow.conn().await?, sequence).await?;
            let mut inbox = uow.new_stream::<Inbox>(StreamId::inbox(inbox_id));
            let command = InboxCommand::Create {
                inbox_id,
                account_id,
                channel_id,
                channel: channel.clone(),
                channel_changes: channel_changes.clone(),
                changes: changes.clone(),
            };
            uow.decide(&mut inbox, &command).await?;
            let channel_type = inbox
                .state
                .channel
                .as_ref()
                .map(|c| c.channel_type())
                .unwrap_or_default();
            write_model::insert_inbox(uow.conn().await?, inbox_id, account_id, channel_type)
                .await?;
            if avatar.is_some() {
                set_avatar(uow, &mut inbox, avatar.as_ref()).await?;
            }
            Ok(inbox.state)
        })
        .await;
    let committed = avatar_outcome(&state, committed, avatar.as_ref()).await?;
    let inbox_id = committed.value.ids.map(|(i, _)| i).unwrap_or_default();
    let render = query_service::render::inbox(&state.pool, &state.blob_urls, account_id, inbox_id);
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let inbox_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let (b, avatar) = read_body(&state, &req, body).await?;
    let b = b.unwrap_key("inbox");
    let changes = inbox_changes(&b)?;
    let channel_changes = channel_changes(&b.nested("channel")?)?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut inbox = uow.load::<Inbox>(StreamId::inbox(inbox_id)).await?;
            // Another account's inbox does not exist for this caller.
            if inbox.state.ids.map(|(_, a)| a) != Some(account_id) {
                return Err(ApiError::NotFound);
            }
            let command = InboxCommand::Update {
                changes: changes.clone(),
                channel_changes: channel_changes.clone(),
            };
            uow.decide(&mut inbox, &command).await?;
            if avatar.is_some() {
                set_avatar(uow, &mut inbox, avatar.as_ref()).await?;
            }
            Ok(inbox.state)
        })
        .await;
    let committed = avatar_outcome(&state, committed, avatar.as_ref()).await?;
    let render = query_service::render::inbox(&state.pool, &state.blob_urls, account_id, inbox_id);
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}

// ---- attachments and avatars ----

/// The body, JSON or multipart; a multipart `avatar` file is checked (it
/// must be an image, judged from its content) and put in the blob store.
async fn read_body(
    state: &AppState,
    req: &HttpRequest,
    body: web::Bytes,
) -> Result<(Body, Option<Stored>), ApiError> {
    if !blobs::is_multipart(req.headers()) {
        return Ok((Body::parse(&body)?, None));
    }
    let (b, uploads) =
        blobs::read_multipart(req.headers(), body, state.settings.max_file_bytes).await?;
    let files = blobs::files_of(&uploads, &["avatar", "inbox[avatar]"]);
    let Some(file) = files.first() else {
        return Ok((b, None));
    };
    if infra::blobs::sniff(&file.bytes).file_type != "image" {
        return Err(ApiError::invalid("avatar", "Avatar must be an image"));
    }
    let account_id = req
        .match_info()
        .get("account_id")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or_default();
    let stored = blobs::store(
        &state.pool,
        &state.blobs,
        &format!("avatars/{account_id}"),
        std::slice::from_ref(file),
    )
    .await?;
    Ok((b, stored.into_iter().next()))
}

/// Inside the unit of work: sets (or with `None` removes) the avatar,
/// keeps the new upload and records the old avatar's bytes as garbage due
/// once this commits.
async fn set_avatar(
    uow: &mut UnitOfWork,
    inbox: &mut Loaded<Inbox>,
    avatar: Option<&Stored>,
) -> Result<(), ApiError> {
    let old: Vec<String> = inbox.state.avatar.iter().map(|b| b.key.clone()).collect();
    let new = avatar.map(|s| s.blob.clone());
    let kept: Vec<String> = new.iter().map(|b| b.key.clone()).collect();
    let changed = !uow
        .decide(inbox, &InboxCommand::SetAvatar(new))
        .await?
        .is_empty();
    blobs::keep(uow.conn().await?, &kept).await?;
    if changed {
        blobs::drop_later(uow.conn().await?, &old).await?;
    }
    Ok(())
}

/// After the command: on failure the upload goes; on success the replaced
/// avatar's bytes go (they were recorded as garbage in the transaction).
async fn avatar_outcome<T>(
    state: &AppState,
    committed: Result<Committed<T>, ApiError>,
    avatar: Option<&Stored>,
) -> Result<Committed<T>, ApiError> {
    match committed {
        Ok(c) => {
            // A replaced avatar's bytes are due now: sweep them at once
            // (the periodic sweeper would otherwise, within a minute).
            if let Err(e) = blobs::sweep(&state.pool, &state.blobs).await {
                tracing::warn!(error = %e, "sweeping dropped blobs failed");
            }
            Ok(c)
        }
        Err(e) => {
            blobs::discard(
                &state.pool,
                &state.blobs,
                &avatar.cloned().into_iter().collect::<Vec<_>>(),
            )
            .await;
            Err(e)
        }
    }
}

/// `DELETE …/inboxes/{id}/avatar`: removes the avatar (administrators).
async fn delete_avatar(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let inbox_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut inbox = uow.load::<Inbox>(StreamId::inbox(inbox_id)).await?;
            if inbox.state.ids.map(|(_, a)| a) != Some(account_id) {
                return Err(ApiError::NotFound);
            }
            set_avatar(uow, &mut inbox, None).await?;
            Ok(inbox.state)
        })
        .await;
    let committed = avatar_outcome(&state, committed, None).await?;
    let render = query_service::render::inbox(&state.pool, &state.blob_urls, account_id, inbox_id);
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}
