//! Messages of conversations, with what their JSON needs: the conversation's
//! display id and the sender's name.

use chrono::{DateTime, Utc};
use domain::message::MessageType;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// A message with its conversation's display id and its sender.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub account_id: i64,
    pub inbox_id: i64,
    pub display_id: i64,
    pub message_type: i16,
    pub content: Option<String>,
    pub content_type: String,
    pub content_attributes: Value,
    pub private: bool,
    pub sender_type: Option<String>,
    pub sender_id: Option<i64>,
    pub source_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone_number: Option<String>,
    pub contact_identifier: Option<String>,
    pub contact_additional_attributes: Option<Value>,
}

/// The columns of a [`MessageRow`], over `m` (the message), `c` (its
/// conversation), `u` and `ct` (its sender).
macro_rules! columns {
    () => {
        "select m.id, m.account_id, m.inbox_id, c.display_id, m.message_type, \
         m.content, m.content_type, m.content_attributes, m.private, m.sender_type, m.sender_id, \
         m.source_id, m.created_at, m.updated_at, \
         u.name as user_name, u.display_name as user_display_name, \
         ct.name as contact_name, ct.email as contact_email, \
         ct.phone_number as contact_phone_number, ct.identifier as contact_identifier, \
         ct.additional_attributes as contact_additional_attributes "
    };
}

/// The sender joins.
macro_rules! senders {
    () => {
        " left join read_model.users u on m.sender_type = 'user' and u.id = m.sender_id \
          left join read_model.contacts ct on m.sender_type = 'contact' and ct.id = m.sender_id"
    };
}

const SELECT: &str = concat!(
    columns!(),
    "from read_model.messages m \
     join read_model.conversations c on c.id = m.conversation_id",
    senders!()
);

/// One message of the account.
pub async fn by_id(
    pool: &PgPool,
    account_id: i64,
    message_id: i64,
) -> Result<Option<MessageRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} where m.account_id = $1 and m.id = $2"))
        .bind(account_id)
        .bind(message_id)
        .fetch_optional(pool)
        .await
}

/// Which messages of a conversation to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Only messages older than this message id.
    pub before: Option<i64>,
    /// Only messages newer than this message id.
    pub after: Option<i64>,
    /// Leave out private notes and activity messages.
    pub no_internal: bool,
}

/// A cursor message's place in the order `(created_at, id)`.
async fn cursor(
    pool: &PgPool,
    conversation_id: i64,
    message_id: i64,
) -> Result<Option<(DateTime<Utc>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select created_at, id from read_model.messages where conversation_id = $1 and id = $2",
    )
    .bind(conversation_id)
    .bind(message_id)
    .fetch_optional(pool)
    .await
}

fn push_bound(
    qb: &mut QueryBuilder<'_, Postgres>,
    op: &str,
    id: i64,
    place: Option<(DateTime<Utc>, i64)>,
) {
    match place {
        Some((at, id)) => {
            qb.push(format!(" and (m.created_at, m.id) {op} ("))
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        // Not a message of this conversation: compare ids, as Chatwoot does.
        None => {
            qb.push(format!(" and m.id {op} ")).push_bind(id);
        }
    }
}

/// A window of a conversation's messages, oldest first: the newest `limit`
/// (before a cursor, or overall), or the oldest `limit` after a cursor.
pub async fn window(
    pool: &PgPool,
    conversation_id: i64,
    window: Window,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let mut qb = QueryBuilder::new(SELECT);
    qb.push(" where m.conversation_id = ")
        .push_bind(conversation_id);
    if let Some(before) = window.before {
        let place = cursor(pool, conversation_id, before).await?;
        push_bound(&mut qb, "<", before, place);
    }
    if let Some(after) = window.after {
        let place = cursor(pool, conversation_id, after).await?;
        push_bound(&mut qb, ">", after, place);
    }
    if window.no_internal {
        qb.push(" and not m.private and m.message_type <> 2");
    }
    let ascending = window.after.is_some();
    qb.push(if ascending {
        " order by m.created_at, m.id limit "
    } else {
        " order by m.created_at desc, m.id desc limit "
    })
    .push_bind(limit);
    let mut rows: Vec<MessageRow> = qb.build_query_as().fetch_all(pool).await?;
    if !ascending {
        rows.reverse();
    }
    Ok(rows)
}

/// What a conversation list shows of a conversation's messages
/// ([`last_of`]): its last message, or the last one that is not an
/// activity, with its unread count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LastMessage {
    /// The message.
    #[sqlx(flatten)]
    pub message: MessageRow,
    /// Whether this is the last message that is not an activity, read
    /// because the last one is an activity; else it is the last message.
    pub before_activity: bool,
    /// The conversation's incoming messages newer than its agent last saw.
    pub unread_count: i64,
}

/// For each of an account's conversations (by display id) that has
/// messages: the last message with the conversation's unread count and, where
/// the last message is an activity, the last one that is not
/// (`last_non_activity_message`). One statement, each part walking the
/// (conversation_id, created_at, id) index, so the cost follows the page,
/// not the messages; the walk for the last non-activity message is only
/// taken where the last message is an activity.
pub async fn last_of(
    pool: &PgPool,
    account_id: i64,
    display_ids: &[i64],
) -> Result<Vec<LastMessage>, sqlx::Error> {
    sqlx::query_as(&format!(
        concat!(
            "with last as (\
               select m.*, u.unread_count from read_model.conversations c \
               cross join lateral (select * from read_model.messages m \
                                   where m.conversation_id = c.id \
                                   order by m.created_at desc, m.id desc limit 1) m \
               cross join lateral (select count(*) as unread_count from read_model.messages m \
                                   where m.conversation_id = c.id and m.message_type = $4 \
                                     and m.created_at > coalesce(c.agent_last_seen_at, '-infinity'::timestamptz)) u \
               where c.account_id = $1 and {display_ids}), \
             picked as (\
               select last.*, false as before_activity from last \
               union all \
               select r.*, last.unread_count, true from last \
               cross join lateral (select * from read_model.messages m \
                                   where m.conversation_id = last.conversation_id \
                                     and m.message_type <> $3 \
                                   order by m.created_at desc, m.id desc limit 1) r \
               where last.message_type = $3) ",
            columns!(),
            ", m.before_activity, m.unread_count \
             from picked m join read_model.conversations c on c.id = m.conversation_id",
            senders!()
        ),
        display_ids = super::any_id("c.display_id", 2, display_ids)
    ))
    .bind(account_id)
    .bind(display_ids)
    .bind(MessageType::Activity.as_int())
    .bind(MessageType::Incoming.as_int())
    .fetch_all(pool)
    .await
}
