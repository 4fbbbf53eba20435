//! The `messages` table and what messages change elsewhere: the
//! conversation's `last_activity_at` and the sending contact's. Posted
//! messages are written a run at a time ([`Run`]).
//!
//! Order across streams is not guaranteed, so nothing here assumes the
//! conversation row exists yet, and times only move forward (`greatest`):
//! a message applied before its conversation is picked up when the
//! conversation row is created (see `create_conversation` in [`crate::apply`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use domain::message::{MessageType, Sender, DELETED_CONTENT};
use domain::{Attributes, Event};
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::reports::MessageFacts;

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

/// Posted messages gathered for one write, column by column.
///
/// `MessageCreated` is most of the log, and applying each on its own cost
/// three statements (the message, the report fact, the first response) and
/// an update of its conversation's row, which rewrites the row and every
/// index on `last_activity_at`. A [`crate::batch::Batch`] gathers a run of
/// them and [`Run::write`] writes the run in two statements: the rows,
/// each conversation's and each sending contact's activity once (the
/// greatest time of the run, so a conversation with ten messages in the run
/// is rewritten once), then the report facts ([`crate::reports::messages`]).
///
/// The result is what writing them one at a time gives: every write here is
/// keyed by the message id (a second insert changes nothing) or moves a
/// time forward only (`greatest`), and the first response is the least
/// `(time, message id)` either way. The batch writes the run before any
/// other event that reads or writes what the run does
/// ([`Run::conflicts_with`]), so no such event sees the read model without
/// the messages before it.
#[derive(Debug, Default)]
pub struct Run {
    pub(crate) id: Vec<i64>,
    pub(crate) account_id: Vec<i64>,
    pub(crate) conversation_id: Vec<i64>,
    pub(crate) inbox_id: Vec<i64>,
    pub(crate) message_type: Vec<i16>,
    content: Vec<Option<String>>,
    content_type: Vec<String>,
    content_attributes: Vec<Json<Attributes>>,
    pub(crate) private: Vec<bool>,
    pub(crate) sender_type: Vec<Option<&'static str>>,
    pub(crate) sender_id: Vec<Option<i64>>,
    source_id: Vec<Option<String>>,
    pub(crate) created_at: Vec<DateTime<Utc>>,
    /// The conversations whose activity its messages move (incoming and
    /// outgoing ones; an activity message writes its own row only).
    conversations: HashSet<i64>,
    /// The contacts that sent any of them.
    contacts: HashSet<i64>,
    /// Where the report facts of written runs go instead of their table,
    /// for a batch that writes them later, elsewhere ([`Run::facts_aside`]).
    facts_aside: Option<MessageFacts>,
    /// A replay's run ([`Run::replay`]): its rows are inserted without
    /// `on conflict`.
    replay: bool,
}

impl Run {
    /// Adds a posted message at `at` (its event's time).
    pub fn push(&mut self, m: &NewMessageRow<'_>, at: DateTime<Utc>) {
        let (sender_type, sender_id) = sender_columns(m.sender);
        self.id.push(m.id);
        self.account_id.push(m.account_id);
        self.conversation_id.push(m.conversation_id);
        self.inbox_id.push(m.inbox_id);
        self.message_type.push(m.message_type.as_int());
        self.content.push(m.content.map(str::to_owned));
        self.content_type.push(m.content_type.to_owned());
        self.content_attributes
            .push(Json(m.content_attributes.clone()));
        self.private.push(m.private);
        self.sender_type.push(sender_type);
        self.sender_id.push(sender_id);
        self.source_id.push(m.source_id.map(str::to_owned));
        self.created_at.push(at);
        if matches!(
            m.message_type,
            MessageType::Incoming | MessageType::Outgoing
        ) {
            self.conversations.insert(m.conversation_id);
        }
        if let Some(Sender::Contact(contact_id)) = m.sender {
            self.contacts.insert(contact_id);
        }
    }

    /// Whether `event`, one the batch may let by pending writes
    /// ([`crate::batch::Deferred::commutes_with`]), reads or writes rows the
    /// run writes or reads: a contact that sent one of its messages, or a
    /// conversation it holds an incoming or outgoing message of (a
    /// conversation's creation reads its messages and moves its contact).
    /// Another conversation opened among the messages of others is not, so
    /// a busy log's run goes on past it.
    pub fn conflicts_with(&self, event: &Event) -> bool {
        match event {
            Event::ContactCreated { contact_id, .. }
            | Event::ContactUpdated { contact_id, .. }
            | Event::ContactInboxCreated { contact_id, .. } => self.contacts.contains(contact_id),
            Event::ConversationCreated {
                conversation_id,
                contact_id,
                ..
            } => self.conversations.contains(conversation_id) || self.contacts.contains(contact_id),
            _ => false,
        }
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// With `aside`, [`Run::write`] from now on writes the first responses
    /// of the run's report facts but keeps the facts themselves
    /// (`report_messages`, which nothing but an account's deletion reads)
    /// for [`Run::take_facts`]; without, it writes both again. Set before
    /// the first write.
    pub fn facts_aside(&mut self, aside: bool) {
        debug_assert!(
            self.facts_aside.as_ref().is_none_or(MessageFacts::is_empty),
            "facts kept aside would be lost"
        );
        self.facts_aside = aside.then(MessageFacts::default);
    }

    /// The report facts kept aside so far, leaving none (none at all unless
    /// [`Run::facts_aside`]).
    pub fn take_facts(&mut self) -> MessageFacts {
        self.facts_aside
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Declares the runs a replay's (a rebuild's), which applies each
    /// message once into a schema only it writes: their rows are inserted
    /// without `on conflict (id) do nothing`, whose check cost a quarter of
    /// the insert (in `psql`, a million messages: 7.1 s against 5.2 s), and
    /// a row already there fails the write ([`ApplyError::Replayed`]).
    pub fn replay(&mut self) {
        self.replay = true;
    }

    /// Writes the run and leaves it empty.
    pub async fn write(&mut self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        if self.is_empty() {
            return Ok(());
        }
        // The rows go; the settings stay.
        let replay = self.replay;
        let settings = Run {
            facts_aside: self.facts_aside.take(),
            replay,
            ..Run::default()
        };
        let run = std::mem::replace(self, settings);
        let on_conflict = if replay {
            ""
        } else {
            "on conflict (id) do nothing"
        };
        // Activity moves for incoming and outgoing messages (0, 1), not for
        // activities or templates; a contact's for anything it sends.
        sqlx::query(&format!(
            "with m as ( \
               select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
                 $5::smallint[], $6::text[], $7::text[], $8::jsonb[], $9::boolean[], \
                 $10::text[], $11::bigint[], $12::text[], $13::timestamptz[]) \
               as m(id, account_id, conversation_id, inbox_id, message_type, content, \
                    content_type, content_attributes, private, sender_type, sender_id, \
                    source_id, created_at)), \
             inserted as ( \
               insert into messages (id, account_id, conversation_id, inbox_id, message_type, \
                 content, content_type, content_attributes, private, sender_type, sender_id, \
                 source_id, created_at, updated_at) \
               select id, account_id, conversation_id, inbox_id, message_type, content, \
                 content_type, content_attributes, private, sender_type, sender_id, source_id, \
                 created_at, created_at from m \
               {on_conflict}), \
             conversation as ( \
               update conversations c set \
                 last_activity_at = greatest(c.last_activity_at, a.at), \
                 updated_at = greatest(c.updated_at, a.at) \
               from (select conversation_id, max(created_at) as at from m \
                     where message_type in (0, 1) group by conversation_id) a \
               where c.id = a.conversation_id) \
             update contacts k set \
               last_activity_at = greatest(coalesce(k.last_activity_at, a.at), a.at) \
             from (select sender_id, max(created_at) as at from m \
                   where sender_type = 'contact' group by sender_id) a \
             where k.id = a.sender_id"
        ))
        .bind(&run.id)
        .bind(&run.account_id)
        .bind(&run.conversation_id)
        .bind(&run.inbox_id)
        .bind(&run.message_type)
        .bind(&run.content)
        .bind(&run.content_type)
        .bind(&run.content_attributes)
        .bind(&run.private)
        .bind(&run.sender_type)
        .bind(&run.sender_id)
        .bind(&run.source_id)
        .bind(&run.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| crate::apply::insert_error(e, replay))?;
        let facts = MessageFacts::of(run);
        match &mut self.facts_aside {
            Some(aside) => {
                crate::reports::first_responses(conn, &facts).await?;
                aside.append(facts);
                Ok(())
            }
            None => crate::reports::messages(conn, &facts).await,
        }
    }
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
