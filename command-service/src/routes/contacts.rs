//! Contact writes: create (optionally reachable through an inbox at once),
//! update (attributes merge), and contact inboxes. Any member may write.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::contact::{Contact, ContactChanges, ContactCommand, NewContactInbox};
use domain::StreamId;
use serde_json::{json, Value};

use super::id;
use crate::auth::{self, Bots};
use crate::body::Body;
use crate::error::{on_constraint, ApiError};
use crate::event_store::UnitOfWork;
use crate::write_model;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/accounts/{account_id}/contacts")
            .route("", web::post().to(create))
            .route("/{id}", web::put().to(update))
            .route("/{id}", web::patch().to(update))
            .route("/{id}/contact_inboxes", web::post().to(add_contact_inbox)),
    );
}

fn contact_changes(b: &Body) -> Result<ContactChanges, ApiError> {
    Ok(ContactChanges {
        name: b.string("name")?,
        email: b.string("email")?,
        phone_number: b.string("phone_number")?,
        identifier: b.string("identifier")?,
        additional_attributes: b.object("additional_attributes")?,
        custom_attributes: b.object("custom_attributes")?,
    })
}

/// Settles a new contact inbox: the inbox must be the account's (404), the
/// source id is the client's or a fresh UUID.
async fn new_contact_inbox(
    uow: &mut UnitOfWork,
    account_id: i64,
    inbox_id: i64,
    source_id: Option<String>,
) -> Result<NewContactInbox, ApiError> {
    if write_model::inbox_in_account(uow.conn().await?, account_id, inbox_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let source_id = source_id
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let source_taken = write_model::source_taken(uow.conn().await?, inbox_id, &source_id).await?;
    let contact_inbox_id = write_model::next_id(uow.conn().await?, "contact_inbox_ids").await?;
    Ok(NewContactInbox {
        contact_inbox_id,
        inbox_id,
        source_id,
        source_taken,
    })
}

async fn record(
    uow: &mut UnitOfWork,
    contact: &Contact,
    events: &[domain::Event],
) -> Result<(), ApiError> {
    let Some((contact_id, account_id)) = contact.ids else {
        return Ok(());
    };
    if events.iter().any(|e| {
        matches!(
            e,
            domain::Event::ContactCreated { .. } | domain::Event::ContactUpdated { .. }
        )
    }) {
        write_model::upsert_contact(uow.conn().await?, contact_id, account_id, &contact.fields)
            .await
            .map_err(on_constraint)?;
    }
    for e in events {
        if let domain::Event::ContactInboxCreated {
            contact_inbox_id,
            inbox_id,
            source_id,
            ..
        } = e
        {
            write_model::insert_contact_inbox(
                uow.conn().await?,
                *contact_inbox_id,
                account_id,
                contact_id,
                *inbox_id,
                source_id,
            )
            .await
            .map_err(on_constraint)?;
        }
    }
    Ok(())
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    let outer = Body::parse(&body)?;
    let inbox_id = outer.id("inbox_id")?;
    let source_id = outer.string("source_id")?;
    let b = outer.unwrap_key("contact");
    let inbox_id = inbox_id.or(b.id("inbox_id")?);
    let source_id = source_id.or(b.string("source_id")?);
    let changes = contact_changes(&b)?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let contact_id = write_model::next_id(uow.conn().await?, "contact_ids").await?;
            let mut contact = uow.new_stream::<Contact>(StreamId::contact(contact_id));
            let taken = write_model::contact_taken(
                uow.conn().await?,
                account_id,
                None,
                changes.email.as_deref(),
                changes.phone_number.as_deref(),
                changes.identifier.as_deref(),
            )
            .await?;
            let contact_inbox = match inbox_id {
                Some(inbox_id) => {
                    Some(new_contact_inbox(uow, account_id, inbox_id, source_id.clone()).await?)
                }
                None => None,
            };
            let command = ContactCommand::Create {
                contact_id,
                account_id,
                changes: changes.clone(),
                taken,
                contact_inbox,
            };
            let events = uow.decide(&mut contact, &command).await?;
            record(uow, &contact.state, &events).await?;
            Ok(contact.state)
        })
        .await?;
    let contact = committed.value;
    let contact_id = contact.ids.map(|(c, _)| c).unwrap_or_default();
    let contact_inbox_id = contact.contact_inboxes.first().map(|ci| ci.id);
    let fallback = json!({"payload": {
        "contact": {"id": contact_id, "name": contact.fields.name, "email": contact.fields.email},
        "contact_inbox": {
            "inbox": null,
            "source_id": contact.contact_inboxes.first().map(|ci| ci.source_id.clone()),
        },
    }});
    let pool = &state.pool;
    let render = async {
        let Some(contact) = query_service::render::contact(pool, account_id, contact_id).await?
        else {
            return Ok(None);
        };
        let contact_inbox = match contact_inbox_id {
            Some(ci) => query_service::render::contact_inbox(pool, ci)
                .await?
                .unwrap_or(Value::Null),
            None => json!({"inbox": null, "source_id": null}),
        };
        Ok(Some(
            json!({"payload": {"contact": contact, "contact_inbox": contact_inbox}}),
        ))
    };
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let contact_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    let changes = contact_changes(&Body::parse(&body)?.unwrap_key("contact"))?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut contact = uow.load::<Contact>(StreamId::contact(contact_id)).await?;
            if contact.state.ids.map(|(_, a)| a) != Some(account_id) {
                return Err(ApiError::NotFound);
            }
            let taken = write_model::contact_taken(
                uow.conn().await?,
                account_id,
                Some(contact_id),
                changes.email.as_deref(),
                changes.phone_number.as_deref(),
                changes.identifier.as_deref(),
            )
            .await?;
            let events = uow
                .decide(
                    &mut contact,
                    &ContactCommand::Update {
                        changes: changes.clone(),
                        taken,
                    },
                )
                .await?;
            record(uow, &contact.state, &events).await?;
            Ok(contact.state)
        })
        .await?;
    let fallback = json!({"payload": {"id": contact_id, "name": committed.value.fields.name}});
    let pool = &state.pool;
    let render = async {
        Ok(query_service::render::contact(pool, account_id, contact_id)
            .await?
            .map(|c| json!({"payload": c})))
    };
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn add_contact_inbox(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let account_id = id(&path.0)?;
    let contact_id = id(&path.1)?;
    let caller = auth::account_caller(&req, &state, account_id, Bots::Refused).await?;
    // The contact first: another account's contact is a 404 whatever the body says.
    let mut conn = state.pool.acquire().await?;
    if !write_model::contact_in_account(&mut conn, account_id, contact_id).await? {
        return Err(ApiError::NotFound);
    }
    drop(conn);
    let b = Body::parse(&body)?.unwrap_key("contact_inbox");
    let inbox_id = b
        .id("inbox_id")?
        .ok_or_else(|| ApiError::invalid("inbox", "Inbox must exist"))?;
    let source_id = b.string("source_id")?;
    let ctx = state.context(&req, caller.principal);
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut contact = uow.load::<Contact>(StreamId::contact(contact_id)).await?;
            if contact.state.ids.map(|(_, a)| a) != Some(account_id) {
                return Err(ApiError::NotFound);
            }
            let ci = new_contact_inbox(uow, account_id, inbox_id, source_id.clone()).await?;
            let ci_id = ci.contact_inbox_id;
            let source = ci.source_id.clone();
            let events = uow
                .decide(&mut contact, &ContactCommand::AddContactInbox(ci))
                .await?;
            record(uow, &contact.state, &events).await?;
            Ok((ci_id, source))
        })
        .await?;
    let (contact_inbox_id, source_id) = committed.value;
    let fallback = json!({"source_id": source_id, "inbox": {"id": inbox_id}});
    let render = query_service::render::contact_inbox(&state.pool, contact_inbox_id);
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}
