//! Conversation writes: create (by `source_id`, or `contact_id` + `inbox_id`)
//! and toggle status. Users and (connected) agent bots may call both. A
//! create may carry a first `message`, created in the same unit of work
//! (`super::messages::create_in`).

use actix_web::{web, HttpRequest, HttpResponse};
use domain::contact::{Contact, ContactCommand, NewContactInbox};
use domain::conversation::{Conversation, ConversationCommand, ConversationStatus};
use domain::StreamId;
use serde_json::json;

use super::id;
use crate::auth::{self, Bots, Principal};
use crate::body::Body;
use crate::error::{on_constraint, ApiError};
use crate::write_model;
use crate::AppState;
use domain::account::Role;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/conversations")
            .route("", web::post().to(create))
            .route("/{display_id}/toggle_status", web::post().to(toggle_status)),
    );
}

fn status(b: &Body) -> Result<Option<ConversationStatus>, ApiError> {
    match b.string("status")? {
        Some(s) if !s.trim().is_empty() => Ok(Some(ConversationStatus::parse(s.trim())?)),
        _ => Ok(None),
    }
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Allowed).await?;
    let b = Body::parse(&body)?.unwrap_key("conversation");
    // A first message (`message: {content, ...}`), created in the same unit
    // of work; an absent, null or empty object means none (Chatwoot's
    // `params[:message].blank?`).
    let message = b.nested("message")?;
    let first_message = if message.0.is_empty() {
        None
    } else {
        Some(super::messages::posted(&message)?)
    };
    let source_id = b.string("source_id")?.filter(|s| !s.trim().is_empty());
    let inbox_id = b.id("inbox_id")?;
    let contact_id = b.id("contact_id")?;
    let requested_status = status(&b)?;
    let assignee_id = b.id("assignee_id")?.filter(|id| *id > 0);
    let team_id = b.id("team_id")?.filter(|id| *id > 0);
    let snoozed_until = b.id("snoozed_until")?;
    let additional_attributes = b.object("additional_attributes")?.unwrap_or_default();
    let custom_attributes = b.object("custom_attributes")?.unwrap_or_default();
    if source_id.is_none() && (contact_id.is_none() || inbox_id.is_none()) {
        return Err(ApiError::Unprocessable(
            "Specify source_id, or contact_id and inbox_id".into(),
        ));
    }
    if let Some(assignee) = assignee_id {
        if write_model::member_role(&state.pool, account_id, assignee)
            .await?
            .is_none()
        {
            return Err(ApiError::invalid(
                "assignee",
                "Assignee must be a member of the account",
            ));
        }
    }
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let conversation_id =
                write_model::next_id(uow.conn().await?, "conversation_ids").await?;
            let mut conversation =
                uow.new_stream::<Conversation>(StreamId::conversation(conversation_id));
            // Which contact inbox the conversation runs on.
            let (contact_inbox_id, contact_id, inbox_id) = match (contact_id, inbox_id) {
                (Some(contact_id), Some(inbox_id)) => {
                    let mut contact = uow.load::<Contact>(StreamId::contact(contact_id)).await?;
                    if contact.state.ids.map(|(_, a)| a) != Some(account_id)
                        || write_model::inbox_in_account(uow.conn().await?, account_id, inbox_id)
                            .await?
                            .is_none()
                    {
                        return Err(ApiError::NotFound);
                    }
                    let existing = contact.state.contact_inboxes.iter().find(|ci| {
                        ci.inbox_id == inbox_id
                            && source_id.as_ref().is_none_or(|s| *s == ci.source_id)
                    });
                    match existing {
                        Some(ci) => (ci.id, contact_id, inbox_id),
                        None => {
                            let source = source_id
                                .clone()
                                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                            let source_taken =
                                write_model::source_taken(uow.conn().await?, inbox_id, &source)
                                    .await?;
                            let ci_id =
                                write_model::next_id(uow.conn().await?, "contact_inbox_ids")
                                    .await?;
                            let new = NewContactInbox {
                                contact_inbox_id: ci_id,
                                inbox_id,
                                source_id: source.clone(),
                                source_taken,
                            };
                            uow.decide(&mut contact, &ContactCommand::AddContactInbox(new))
                                .await?;
                            write_model::insert_contact_inbox(
                                uow.conn().await?,
                                ci_id,
                                account_id,
                                contact_id,
                                inbox_id,
                                &source,
                            )
                            .await
                            .map_err(on_constraint)?;
                            (ci_id, contact_id, inbox_id)
                        }
                    }
                }
                _ => {
                    let source = source_id.clone().unwrap_or_default();
                    write_model::contact_inbox_by_source(
                        uow.conn().await?,
                        account_id,
                        inbox_id,
                        &source,
                    )
                    .await?
                    .ok_or(ApiError::NotFound)?
                }
            };
            let (_, inbox_has_bot) =
                write_model::inbox_in_account(uow.conn().await?, account_id, inbox_id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
            // ---- integrations ----
            // A dialogflow hook on the inbox answers first, as a bot would.
            let inbox_has_bot = inbox_has_bot
                || write_model::hooks::inbox_has_app(uow.conn().await?, inbox_id, "dialogflow")
                    .await?;
            // ---- teams, members, assignments ----
            super::assignments::require_inbox_access(uow.conn().await?, &caller, inbox_id).await?;
            if let Some(assignee) = assignee_id {
                if !write_model::teams::has_inbox_access(
                    uow.conn().await?,
                    account_id,
                    inbox_id,
                    assignee,
                )
                .await?
                {
                    return Err(ApiError::invalid(
                        "assignee",
                        "Assignee must be a member of the account with access to the inbox",
                    ));
                }
            }
            let mut assignee_id = assignee_id;
            if let Some(team_id) = team_id {
                let allow_auto_assign =
                    write_model::teams::team_in_account(uow.conn().await?, account_id, team_id)
                        .await?
                        .ok_or_else(|| ApiError::invalid("team", "Team must exist"))?;
                if assignee_id.is_none() && allow_auto_assign {
                    assignee_id = write_model::teams::auto_assignee(
                        uow.conn().await?,
                        account_id,
                        team_id,
                        inbox_id,
                    )
                    .await?;
                }
            }
            let display_id = write_model::next_display_id(uow.conn().await?, account_id).await?;
            let command = ConversationCommand::Create {
                conversation_id,
                account_id,
                display_id,
                inbox_id,
                contact_id,
                contact_inbox_id,
                status: requested_status,
                inbox_has_bot,
                assignee_id,
                team_id,
                snoozed_until,
                additional_attributes: additional_attributes.clone(),
                custom_attributes: custom_attributes.clone(),
            };
            uow.decide(&mut conversation, &command).await?;
            write_model::insert_conversation(
                uow.conn().await?,
                conversation_id,
                account_id,
                display_id,
            )
            .await?;
            write_model::teams::set_conversation_facts(uow.conn().await?, &conversation.state)
                .await?;
            if let Some(p) = &first_message {
                let new = super::messages::NewMessageIn {
                    message_id: write_model::next_id(uow.reader(), "message_ids").await?,
                    channels: &state.inbox_channels,
                    attachments: Vec::new(),
                };
                super::messages::create_in(uow, &mut conversation, caller.principal, p, new)
                    .await?;
                write_model::teams::set_conversation_facts(uow.conn().await?, &conversation.state)
                    .await?;
            }
            Ok(conversation.state)
        })
        .await?;
    let conversation = committed.value;
    let display_id = conversation.ids.map(|(_, _, d)| d).unwrap_or_default();
    let fallback = json!({
        "id": display_id,
        "account_id": account_id,
        "inbox_id": conversation.inbox_id,
        "status": conversation.status.map(ConversationStatus::as_str),
        "messages": [],
    });
    let render = query_service::render::conversation(&state.pool, account_id, display_id);
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn toggle_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let display_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Allowed).await?;
    let b = Body::parse(&body)?.unwrap_key("conversation");
    let requested = status(&b)?;
    let snoozed_until = b.id("snoozed_until")?;
    let found = state.conversation(account_id, display_id).await?;
    let conversation_id = found.id;
    super::assignments::require_inbox_access(&state.pool, &caller, found.inbox_id).await?;
    let ctx = state.context(&req, caller.principal);
    let actor = caller.principal.actor();
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut conversation = uow
                .load::<Conversation>(StreamId::conversation(conversation_id))
                .await?;
            let command = ConversationCommand::ToggleStatus {
                status: requested,
                snoozed_until,
                actor,
            };
            uow.decide(&mut conversation, &command).await?;
            // Today's Chatwoot: an agent (not an administrator) who leaves a
            // conversation open takes it (case 50).
            if let (Principal::User(user_id), Some(Role::Agent)) = (caller.principal, caller.role) {
                if conversation.state.status == Some(ConversationStatus::Open)
                    && conversation.state.assignee_id != Some(user_id)
                {
                    let assign = ConversationCommand::Assign {
                        assignee_id: Some(user_id),
                        actor,
                    };
                    uow.decide(&mut conversation, &assign).await?;
                }
            }
            write_model::teams::set_conversation_facts(uow.conn().await?, &conversation.state)
                .await?;
            Ok(conversation.state)
        })
        .await?;
    let conversation = committed.value;
    // This is the only place the toggle_status answer is rendered; it is
    // fully determined by the write, so it needs nothing from the read model.
    let body = json!({"meta": {}, "payload": {
        "success": true,
        "current_status": conversation.status.map(ConversationStatus::as_str),
        "conversation_id": display_id,
        "snoozed_until": conversation.snoozed_until,
    }});
    let render = async { Ok(Some(body.clone())) };
    state
        .respond(&req, &committed.written, render, body.clone())
        .await
}
