//! Message writes: create (users and connected bots) and soft delete.
//!
//! A message is its own stream (`message:<id>`, id from
//! `write_model.message_ids`). An incoming message on a resolved or snoozed
//! conversation reopens it: the conversation's stream gets its status change
//! in the same unit of work.
//!
//! A create may be `multipart/form-data` with up to 15 `attachments[]`
//! files: their bytes are put in the blob store before the command runs and
//! `MessageCreated` carries their references (`attachments`). A delete drops
//! the attachments; their bytes go after `MessageDeleted` is committed (see
//! `crate::blobs` for how bytes and events stay consistent).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::attachment::{Attachment, MAX_ATTACHMENTS};
use domain::conversation::{Conversation, ConversationCommand};
use domain::message::{
    ContentType, Message, MessageCommand, MessageType, NewMessage, Sender, DELETED_CONTENT,
};
use domain::StreamId;
use query_service::render::Attachments;
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, Bots, Principal};
use crate::blobs;
use crate::body::Body;
use crate::error::ApiError;
use crate::event_store::{Loaded, UnitOfWork};
use crate::write_model;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/conversations/{display_id}/messages")
            .route("", web::post().to(create))
            .route("/{message_id}", web::delete().to(delete)),
    );
}

/// The body of a create, read leniently.
pub(super) struct Posted {
    content: Option<String>,
    message_type: MessageType,
    private: bool,
    content_type: ContentType,
    content_attributes: domain::Attributes,
    echo_id: Option<Value>,
    source_id: Option<String>,
}

/// Reads a message create body (also the `message` of a conversation create).
pub(super) fn posted(b: &Body) -> Result<Posted, ApiError> {
    let message_type = match b.0.get("message_type") {
        None | Some(Value::Null) => MessageType::Outgoing,
        Some(Value::String(s)) if s.trim().is_empty() => MessageType::Outgoing,
        Some(v) => MessageType::parse_postable(v)?,
    };
    let content_type = match b.string("content_type")? {
        Some(s) if !s.trim().is_empty() => ContentType::parse(&s)?,
        _ => ContentType::Text,
    };
    let echo_id = match b.0.get("echo_id") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "echo_id must be a string or a number".into(),
            ))
        }
    };
    Ok(Posted {
        content: b.string("content")?,
        message_type,
        private: b.boolean("private")?.unwrap_or(false),
        content_type,
        content_attributes: b.object("content_attributes")?.unwrap_or_default(),
        echo_id,
        source_id: b.string("source_id")?.filter(|s| !s.trim().is_empty()),
    })
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let display_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Allowed).await?;
    let (body, uploads) = if blobs::is_multipart(req.headers()) {
        blobs::read_multipart(req.headers(), body, state.settings.max_file_bytes).await?
    } else {
        (Body::parse(&body)?, Vec::new())
    };
    let p = posted(&body.unwrap_key("message"))?;
    let files = blobs::files_of(&uploads, &["attachments[]", "attachments"]);
    if files.len() > MAX_ATTACHMENTS {
        return Err(ApiError::Unprocessable(format!(
            "Validation failed: Attachments are too many (maximum is {MAX_ATTACHMENTS})"
        )));
    }
    let conversation_id = state.conversation(account_id, display_id).await?.id;
    let stored = blobs::store(
        &state.pool,
        &state.blobs,
        &format!("attachments/{account_id}"),
        &files,
    )
    .await?;
    let keys: Vec<String> = stored.iter().map(|s| s.blob.key.clone()).collect();
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut attachments = Vec::with_capacity(stored.len());
            for s in &stored {
                attachments.push(Attachment {
                    id: write_model::next_id(uow.reader(), "attachment_ids").await?,
                    file_type: s.file_type,
                    blob: s.blob.clone(),
                });
            }
            // Kept in the transaction that refers to them; a message
            // without attachments needs none (asking for `conn` begins it).
            if !keys.is_empty() {
                blobs::keep(uow.conn().await?, &keys).await?;
            }
            // Only an incoming message writes to its conversation (it may
            // reopen it); the others only read it and need not queue on it.
            // Either draws the message's id with the conversation's read.
            let stream = StreamId::conversation(conversation_id);
            let (mut conversation, message_id) = if p.message_type == MessageType::Incoming {
                uow.load_drawing::<Conversation>(stream, "message_ids")
                    .await?
            } else {
                uow.read_drawing::<Conversation>(stream, "message_ids")
                    .await?
            };
            let new = NewMessageIn {
                message_id,
                channels: &state.inbox_channels,
                attachments,
            };
            create_in(uow, &mut conversation, caller.principal, &p, new).await?;
            let inbox_id = conversation.state.inbox_id;
            Ok((message_id, inbox_id))
        })
        .await;
    let committed = match committed {
        Ok(c) => c,
        Err(e) => {
            blobs::discard(&state.pool, &state.blobs, &stored).await;
            return Err(e);
        }
    };
    let (message_id, inbox_id) = committed.value;
    let echo = p.echo_id.clone();
    let with_echo = move |mut v: Value| {
        if let (Some(echo), Value::Object(map)) = (&echo, &mut v) {
            map.insert("echo_id".into(), echo.clone());
        }
        v
    };
    let fallback = with_echo(json!({
        "id": message_id,
        "content": p.content,
        "account_id": account_id,
        "inbox_id": inbox_id,
        "conversation_id": display_id,
        "message_type": p.message_type.as_int(),
        "content_type": p.content_type.as_str(),
        "content_attributes": p.content_attributes,
        "private": p.private,
        "source_id": p.source_id,
        "status": "sent",
    }));
    let pool = state.pool.clone();
    let urls = state.blob_urls.clone();
    let attachments = if stored.is_empty() {
        Attachments::NoneKnown
    } else {
        Attachments::LookUp
    };
    let render = async move {
        let rendered =
            query_service::render::message(&pool, &urls, account_id, message_id, attachments)
                .await?;
        Ok(rendered.map(with_echo))
    };
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

/// What a new message takes besides its body: its id (drawn from
/// `write_model.message_ids`), where its inbox's channel is looked up, and
/// its stored attachments.
pub(super) struct NewMessageIn<'a> {
    pub message_id: i64,
    pub channels: &'a write_model::InboxChannels,
    pub attachments: Vec<Attachment>,
}

/// Creates one message on `conversation`, loaded in the caller's unit of
/// work, and reopens the conversation when the message is incoming. Used
/// by a message create and by a conversation create with a first
/// `message`.
pub(super) async fn create_in(
    uow: &mut UnitOfWork,
    conversation: &mut Loaded<Conversation>,
    principal: Principal,
    p: &Posted,
    new: NewMessageIn<'_>,
) -> Result<(), ApiError> {
    let NewMessageIn {
        message_id,
        channels,
        attachments,
    } = new;
    let (conversation_id, account_id) = conversation
        .state
        .ids
        .map(|(c, a, _)| (c, a))
        .ok_or(ApiError::NotFound)?;
    let inbox_id = conversation.state.inbox_id;
    let channel_type = channels
        .get(uow.reader(), account_id, inbox_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut message = uow.new_stream::<Message>(StreamId::message(message_id));
    let sender = match p.message_type {
        MessageType::Incoming => Sender::Contact(conversation.state.contact_id),
        _ => match principal {
            Principal::AgentBot(id) => Sender::AgentBot(id),
            Principal::User(id) | Principal::PlatformApp(id) => Sender::User(id),
        },
    };
    let command = MessageCommand::Create(NewMessage {
        message_id,
        account_id,
        conversation_id,
        inbox_id,
        inbox_is_api: channel_type == "Channel::Api",
        message_type: p.message_type,
        content: p.content.clone(),
        content_type: p.content_type,
        content_attributes: p.content_attributes.clone(),
        private: p.private,
        sender: Some(sender),
        source_id: p.source_id.clone(),
        attachments,
    });
    uow.decide(&mut message, &command).await?;
    if p.message_type == MessageType::Incoming {
        uow.decide(conversation, &ConversationCommand::ReopenOnIncoming)
            .await?;
    }
    Ok(())
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let display_id = id(&path.1)?;
    let message_id = id(&path.2)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    let conversation_id = state.conversation(account_id, display_id).await?.id;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut message = uow.load::<Message>(StreamId::message(message_id)).await?;
            let was_deleted = message.state.deleted;
            uow.decide(&mut message, &MessageCommand::Delete { conversation_id })
                .await?;
            // The bytes go once MessageDeleted is committed (module
            // `crate::blobs`); a repeated delete drops nothing new.
            let dropped = if was_deleted {
                Vec::new()
            } else {
                message.state.blob_keys.clone()
            };
            blobs::drop_later(uow.conn().await?, &dropped).await?;
            Ok(dropped)
        })
        .await?;
    blobs::delete_now(&state.pool, &state.blobs, &committed.value).await;
    let fallback = json!({
        "id": message_id,
        "account_id": account_id,
        "conversation_id": display_id,
        "content": DELETED_CONTENT,
        "content_type": "text",
        "content_attributes": {"deleted": true},
    });
    let render = query_service::render::message(
        &state.pool,
        &state.blob_urls,
        account_id,
        message_id,
        Attachments::LookUp,
    );
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}
