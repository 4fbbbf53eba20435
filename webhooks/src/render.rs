//! Chatwoot's webhook payloads, rendered from the read model: the resource's
//! JSON (the very shapes the API answers, from `query_service::render`) with
//! Chatwoot's webhook differences, plus `event` and `account: {id, name}`.
//!
//! - conversation events: the conversation (push) JSON, top-level `channel`,
//!   the raw `contact_inbox` record, `meta.hmac_verified`, and
//!   `changed_attributes` for updates and status changes;
//! - message events: the message with `message_type` as a name and
//!   `created_at` as ISO-8601, `conversation` (the conversation payload),
//!   `inbox: {id, name}`, and the sender with `email` (a user) or `avatar`
//!   (a contact);
//! - contact events: the contact with `avatar` and `blocked`;
//! - inbox events: the inbox.

use chrono::{DateTime, SecondsFormat};
use query_service::render::{self, Attachments, BlobUrls};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::events::{Resource, WebhookEvent};

/// The payload of one webhook event, or `None` when the resource is gone
/// from the read model (deleted since, or its account was).
pub async fn payload(
    pool: &PgPool,
    urls: &BlobUrls,
    account_id: i64,
    event: &WebhookEvent,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(account) = account(pool, account_id).await? else {
        return Ok(None);
    };
    let body = match event.resource {
        Resource::Conversation(id) => conversation(pool, account_id, id).await?.map(|mut c| {
            if let (Some(changed), Value::Object(map)) = (&event.changed, &mut c) {
                map.insert("changed_attributes".into(), changed.clone());
            }
            c
        }),
        Resource::Message(id) => message(pool, urls, account_id, id).await?,
        Resource::Contact(id) => render::contact(pool, account_id, id).await?.map(|mut c| {
            if let Value::Object(map) = &mut c {
                map.insert("avatar".into(), json!(""));
                map.entry("blocked").or_insert(json!(false));
            }
            c
        }),
        Resource::Inbox(id) => render::inbox(pool, urls, account_id, id).await?,
    };
    Ok(body.map(|mut b| {
        if let Value::Object(map) = &mut b {
            map.insert("event".into(), json!(event.name));
            map.insert("account".into(), account.clone());
        }
        b
    }))
}

async fn account(pool: &PgPool, account_id: i64) -> Result<Option<Value>, sqlx::Error> {
    let name: Option<String> =
        sqlx::query_scalar("select name from read_model.accounts where id = $1")
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
    Ok(name.map(|name| json!({"id": account_id, "name": name})))
}

/// The conversation payload by global id.
async fn conversation(
    pool: &PgPool,
    account_id: i64,
    conversation_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let display_id: Option<i64> = sqlx::query_scalar(
        "select display_id from read_model.conversations where id = $1 and account_id = $2",
    )
    .bind(conversation_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await?;
    let Some(display_id) = display_id else {
        return Ok(None);
    };
    let Some(mut c) = render::conversation(pool, account_id, display_id).await? else {
        return Ok(None);
    };
    let contact_inbox = contact_inbox(pool, conversation_id).await?;
    if let Value::Object(map) = &mut c {
        let channel = map
            .get("meta")
            .and_then(|m| m.get("channel"))
            .cloned()
            .unwrap_or(Value::Null);
        map.insert("channel".into(), channel);
        map.insert("contact_inbox".into(), contact_inbox);
        if let Some(Value::Object(meta)) = map.get_mut("meta") {
            // No identity verification here: never verified.
            meta.insert("hmac_verified".into(), json!(false));
        }
    }
    Ok(Some(c))
}

/// The conversation's contact inbox as Chatwoot's webhooks show it: the raw
/// record, times as ISO-8601 (one of the few places the global ids leak).
async fn contact_inbox(pool: &PgPool, conversation_id: i64) -> Result<Value, sqlx::Error> {
    let row: Option<(i64, i64, i64, String, DateTime<chrono::Utc>)> = sqlx::query_as(
        "select ci.id, ci.contact_id, ci.inbox_id, ci.source_id, ci.created_at \
         from read_model.conversations c \
         join read_model.contact_inboxes ci on ci.id = c.contact_inbox_id \
         where c.id = $1",
    )
    .bind(conversation_id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((id, contact_id, inbox_id, source_id, created_at)) => {
            let at = created_at.to_rfc3339_opts(SecondsFormat::Millis, true);
            json!({
                "id": id,
                "contact_id": contact_id,
                "inbox_id": inbox_id,
                "source_id": source_id,
                "created_at": at,
                "updated_at": at,
                "hmac_verified": false,
            })
        }
        None => Value::Null,
    })
}

async fn message(
    pool: &PgPool,
    urls: &BlobUrls,
    account_id: i64,
    message_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(mut m) =
        render::message(pool, urls, account_id, message_id, Attachments::LookUp).await?
    else {
        return Ok(None);
    };
    let (conversation_id, inbox): (i64, Option<(i64, String)>) = {
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(
            "select m.conversation_id, m.inbox_id, i.name from read_model.messages m \
             left join read_model.inboxes i on i.id = m.inbox_id where m.id = $1",
        )
        .bind(message_id)
        .fetch_optional(pool)
        .await?;
        match row {
            Some((c, i, name)) => (c, Some((i, name.unwrap_or_default()))),
            None => return Ok(None),
        }
    };
    let conversation = conversation(pool, account_id, conversation_id).await?;
    if let Value::Object(map) = &mut m {
        let message_type = match map.get("message_type").and_then(Value::as_i64) {
            Some(0) => "incoming",
            Some(1) => "outgoing",
            Some(2) => "activity",
            _ => "template",
        };
        map.insert("message_type".into(), json!(message_type));
        if let Some(at) = map
            .get("created_at")
            .and_then(Value::as_i64)
            .and_then(|s| DateTime::from_timestamp(s, 0))
        {
            map.insert(
                "created_at".into(),
                json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            );
        }
        if let Some((id, name)) = inbox {
            map.insert("inbox".into(), json!({"id": id, "name": name}));
        }
        // Chatwoot's webhook sender: a user with `email`, a contact with
        // `avatar` (push data otherwise).
        if let Some(Value::Object(sender)) = map.get_mut("sender") {
            match sender.get("type").and_then(Value::as_str) {
                Some("user") => {
                    let email: Option<String> =
                        sqlx::query_scalar("select email from read_model.users where id = $1")
                            .bind(sender.get("id").and_then(Value::as_i64))
                            .fetch_optional(pool)
                            .await?;
                    sender.insert("email".into(), json!(email));
                }
                Some("contact") => {
                    sender.insert("avatar".into(), json!(""));
                }
                _ => {}
            }
        }
        map.insert("conversation".into(), conversation.unwrap_or(Value::Null));
    }
    Ok(Some(m))
}
