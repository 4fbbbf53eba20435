//! The `messages` table and what messages change elsewhere: the
//! conversation's `last_activity_at` and the sending contact's.
//!
//! Order across streams is not guaranteed, so nothing here assumes the
//! conversation row exists yet, and times only move forward (`greatest`):
//! a message applied before its conversation is picked up when the
//! conversation row is created (see `create_conversation` in [`crate::apply`]).

use chrono::{DateTime, Utc};
use domain::message::{MessageType, Sender, DELETED_CONTENT};
use domain::Attributes;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};

use crate::apply::ApplyError;

/// A message row as an event gives it.
pub struct NewMessageRow<'a> {
    /// Message id.
    pub id: i64,
    /// Account.
    pub account_id: i64,
    /// Global conversation id.
    pub conversation_id: i64,
    /// Inbox.
    pub inbox_id: i64,
    /// Incoming, outgoing, activity.
    pub message_type: MessageType,
    /// Text.
    pub content: Option<&'a str>,
    /// Content type name.
    pub content_type: &'a str,
    /// Items and the like.
    pub content_attributes: &'a Attributes,
    /// Private note.
    pub private: bool,
    /// Who sent it.
    pub sender: Option<Sender>,
    /// Channel id.
    pub source_id: Option<&'a str>,
}

/// `(sender_type, sender_id)` as stored.
pub fn sender_columns(sender: Option<Sender>) -> (Option<&'static str>, Option<i64>) {
    match sender {
        Some(Sender::User(id)) => (Some("user"), Some(id)),
        Some(Sender::AgentBot(id)) => (Some("agent_bot"), Some(id)),
        Some(Sender::Contact(id)) => (Some("contact"), Some(id)),
        None => (None, None),
    }
}

/// Inserts a message row (`$1` … `$13`, bound by [`bind_row`]); a second
/// insert of the same id changes nothing.
const INSERT: &str = "insert into messages (id, account_id, conversation_id, inbox_id, \
     message_type, content, content_type, content_attributes, private, sender_type, sender_id, \
     source_id, created_at, updated_at) \
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
     on conflict (id) do nothing";

/// Binds the row's values to `$1` … `$13` of [`INSERT`].
fn bind_row<'q, 'a: 'q>(
    query: Query<'q, Postgres, PgArguments>,
    m: &NewMessageRow<'a>,
    at: DateTime<Utc>,
) -> Query<'q, Postgres, PgArguments> {
    let (sender_type, sender_id) = sender_columns(m.sender);
    query
        .bind(m.id)
        .bind(m.account_id)
        .bind(m.conversation_id)
        .bind(m.inbox_id)
        .bind(m.message_type.as_int())
        .bind(m.content)
        .bind(m.content_type)
        .bind(Json(m.content_attributes))
        .bind(m.private)
        .bind(sender_type)
        .bind(sender_id)
        .bind(m.source_id)
        .bind(at)
}

/// Inserts a message (a second insert of the same id changes nothing);
/// returns how many rows it inserted.
pub async fn insert(
    conn: &mut PgConnection,
    m: &NewMessageRow<'_>,
    at: DateTime<Utc>,
) -> Result<u64, ApplyError> {
    let inserted = bind_row(sqlx::query(INSERT), m, at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(inserted)
}

/// A posted message: the row, the conversation's `last_activity_at`
/// (incoming and outgoing messages only) and the sending contact's, in one
/// statement (the projection applies one of these per message; three round
/// trips were most of its cost).
pub async fn create(
    conn: &mut PgConnection,
    m: &NewMessageRow<'_>,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    let touches_conversation = matches!(
        m.message_type,
        MessageType::Incoming | MessageType::Outgoing
    );
    let contact = match m.sender {
        Some(Sender::Contact(contact_id)) => Some(contact_id),
        _ => None,
    };
    let sql = format!(
        "with message as ({INSERT}), \
         conversation as ( \
           update conversations set last_activity_at = greatest(last_activity_at, $13), \
             updated_at = greatest(updated_at, $13) \
           where id = $3 and $14) \
         update contacts set last_activity_at = greatest(coalesce(last_activity_at, $13), $13) \
         where id = $15"
    );
    bind_row(sqlx::query(&sql), m, at)
        .bind(touches_conversation)
        .bind(contact)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Chatwoot's soft delete: the content is replaced, `deleted` is set, the
/// content type goes back to text.
pub async fn soft_delete(
    conn: &mut PgConnection,
    message_id: i64,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "update messages set content = $2, content_type = 'text', \
           content_attributes = content_attributes || '{\"deleted\": true}'::jsonb, \
           updated_at = $3 \
         where id = $1",
    )
    .bind(message_id)
    .bind(DELETED_CONTENT)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The conversation's labels after a change (the conversation stream is
/// applied in order, so the event's full set is the truth).
pub async fn set_labels(
    conn: &mut PgConnection,
    conversation_id: i64,
    labels: &[String],
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query("update conversations set labels = $2, updated_at = $3 where id = $1")
        .bind(conversation_id)
        .bind(labels)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
