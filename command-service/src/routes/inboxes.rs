//! Inbox writes: create (web widget and API channels) and update; administrators only.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::inbox::{ChannelChanges, Inbox, InboxChanges, InboxCommand, NewChannel};
use domain::StreamId;
use infra::tokens::random_hex;
use serde_json::json;

use super::id;
use crate::auth::{self, Bots};
use crate::body::Body;
use crate::error::ApiError;
use crate::write_model;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/inboxes")
            .route("", web::post().to(create))
            .route("/", web::post().to(create))
            .route("/{id}", web::patch().to(update))
            .route("/{id}", web::put().to(update)),
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
    let caller = auth::account_caller(&req, &state.pool, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let b = Body::parse(&body)?.unwrap_key("inbox");
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
            let inbox_id = write_model::next_id(uow.conn(), "inbox_ids").await?;
            let channel_id = write_model::next_id(uow.conn(), sequence).await?;
            let mut inbox = uow.load::<Inbox>(StreamId::inbox(inbox_id)).await?;
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
            write_model::insert_inbox(uow.conn(), inbox_id, account_id, channel_type).await?;
            Ok(inbox.state)
        })
        .await?;
    let inbox_id = committed.value.ids.map(|(i, _)| i).unwrap_or_default();
    let render = query_service::render::inbox(&state.pool, account_id, inbox_id);
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
    let caller = auth::account_caller(&req, &state.pool, account_id, Bots::Refused).await?;
    caller.require_administrator()?;
    let b = Body::parse(&body)?.unwrap_key("inbox");
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
            Ok(inbox.state)
        })
        .await?;
    let render = query_service::render::inbox(&state.pool, account_id, inbox_id);
    state
        .respond(&req, &committed.written, render, fallback(&committed.value))
        .await
}
