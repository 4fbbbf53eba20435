//! The `messages` table and what messages change elsewhere: the
//! conversation's `last_activity_at` and the sending contact's. Posted
//! messages are written a run at a time ([`Run`]).
//!
//! Order across streams is not guaranteed, so nothing here assumes the
//! conversation row exists yet, and times only move forward (`greatest`):
//! a message applied before its conversation is picked up when the
//! conversation row is created (see `create_conversation` in [`crate::apply`]).

use std::collections::{HashMap, HashSet};

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

/// Posted messages' rows, column by column.
#[derive(Debug, Default)]
pub struct MessageRows {
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
}

/// `m`: the rows of a [`MessageRows`] bound as `$1`…`$13`.
macro_rules! rows_as_m {
    () => {
        "with m as ( \
           select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::smallint[], $6::text[], $7::text[], $8::jsonb[], $9::boolean[], \
             $10::text[], $11::bigint[], $12::text[], $13::timestamptz[]) \
           as m(id, account_id, conversation_id, inbox_id, message_type, content, \
                content_type, content_attributes, private, sender_type, sender_id, \
                source_id, created_at))"
    };
}

/// Binds a [`MessageRows`]' columns as `$1`…`$13` of a query.
macro_rules! bind_rows {
    ($query:expr, $rows:expr) => {
        $query
            .bind(&$rows.id)
            .bind(&$rows.account_id)
            .bind(&$rows.conversation_id)
            .bind(&$rows.inbox_id)
            .bind(&$rows.message_type)
            .bind(&$rows.content)
            .bind(&$rows.content_type)
            .bind(&$rows.content_attributes)
            .bind(&$rows.private)
            .bind(&$rows.sender_type)
            .bind(&$rows.sender_id)
            .bind(&$rows.source_id)
            .bind(&$rows.created_at)
    };
}

/// Inserts `m` into `messages`, ending with `$on_conflict`.
macro_rules! insert_rows {
    ($on_conflict:literal) => {
        concat!(
            "insert into messages (id, account_id, conversation_id, inbox_id, message_type, \
               content, content_type, content_attributes, private, sender_type, sender_id, \
               source_id, created_at, updated_at) \
             select id, account_id, conversation_id, inbox_id, message_type, content, \
               content_type, content_attributes, private, sender_type, sender_id, source_id, \
               created_at, created_at from m ",
            $on_conflict
        )
    };
}

/// The activity that `m`'s messages move: each conversation's and each
/// sending contact's, to the greatest time of the run (incoming and
/// outgoing messages, 0 and 1, move their conversation; a contact's move
/// for anything it sends). Selects the conversations moved that have no
/// row yet, with that time.
macro_rules! move_activity {
    () => {
        "a as ( \
           select conversation_id, max(created_at) as at from m \
           where message_type in (0, 1) group by conversation_id), \
         moved as ( \
           update conversations c set \
             last_activity_at = greatest(c.last_activity_at, a.at), \
             updated_at = greatest(c.updated_at, a.at) \
           from a where c.id = a.conversation_id \
           returning c.id), \
         contacts as ( \
           update contacts k set \
             last_activity_at = greatest(coalesce(k.last_activity_at, s.at), s.at) \
           from (select sender_id, max(created_at) as at from m \
                 where sender_type = 'contact' group by sender_id) s \
           where k.id = s.sender_id) \
         select a.conversation_id, a.at from a \
         where not exists (select 1 from moved where moved.id = a.conversation_id)"
    };
}

/// A run's statement: the rows of `m` (their insert ending with
/// `$on_conflict`), their report facts and first responses, and the
/// activity they move; each part writes a table of its own.
macro_rules! write_run {
    ($on_conflict:literal) => {
        concat!(
            rows_as_m!(),
            ", inserted as (",
            insert_rows!($on_conflict),
            "), ",
            crate::reports::facts_of_rows!(),
            ", facts as (",
            crate::reports::insert_facts!("f", "on conflict (message_id) do nothing"),
            "), responses as (",
            crate::reports::insert_first_responses!("f"),
            "), ",
            move_activity!()
        )
    };
}

impl MessageRows {
    fn push(&mut self, m: &NewMessageRow<'_>, at: DateTime<Utc>) {
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
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Adds `other`'s rows after these.
    fn append(&mut self, mut other: MessageRows) {
        self.id.append(&mut other.id);
        self.account_id.append(&mut other.account_id);
        self.conversation_id.append(&mut other.conversation_id);
        self.inbox_id.append(&mut other.inbox_id);
        self.message_type.append(&mut other.message_type);
        self.content.append(&mut other.content);
        self.content_type.append(&mut other.content_type);
        self.content_attributes
            .append(&mut other.content_attributes);
        self.private.append(&mut other.private);
        self.sender_type.append(&mut other.sender_type);
        self.sender_id.append(&mut other.sender_id);
        self.source_id.append(&mut other.source_id);
        self.created_at.append(&mut other.created_at);
    }

    /// Inserts a replay's rows kept aside ([`Run::rows_aside`]) with their
    /// report facts, in one statement, without `on conflict` (a row already
    /// there is [`ApplyError::Replayed`]). Their activity moves and first
    /// responses were written with their run.
    pub async fn insert_with_facts(&self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        if self.is_empty() {
            return Ok(());
        }
        const STATEMENT: &str = concat!(
            rows_as_m!(),
            ", inserted as (",
            insert_rows!(""),
            "), ",
            crate::reports::facts_of_rows!(),
            " ",
            crate::reports::insert_facts!("f", "")
        );
        bind_rows!(sqlx::query(STATEMENT), self)
            .execute(conn)
            .await
            .map_err(|e| crate::apply::insert_error(e, true))?;
        Ok(())
    }
}

/// Conversations that messages moved before their row was there, with the
/// greatest time of those messages: a replay's memory of what the live
/// worker finds in `messages` when the conversation is created (a message
/// can come before its conversation in the log's order, a transaction's id
/// being drawn at its first write). A replay keeps its posted messages'
/// rows aside for another connection ([`Run::rows_aside`]), so the
/// creation cannot look them up; it takes them from here instead
/// (`crate::creations`). Only such messages are noted, and each entry is
/// taken by its conversation's creation, so it stays small.
#[derive(Debug, Default, Clone)]
pub struct EarlyActivity(HashMap<i64, DateTime<Utc>>);

impl EarlyActivity {
    /// Notes messages of conversation `id` up to `at`.
    pub fn note(&mut self, id: i64, at: DateTime<Utc>) {
        let entry = self.0.entry(id).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// Takes what was noted of conversation `id`.
    pub fn take(&mut self, id: i64) -> Option<DateTime<Utc>> {
        self.0.remove(&id)
    }
}

/// Posted messages gathered for one write.
///
/// `MessageCreated` is most of the log, and applying each on its own cost
/// three statements (the message, the report fact, the first response) and
/// an update of its conversation's row, which rewrites the row and every
/// index on `last_activity_at`. A [`crate::batch::Batch`] gathers a run of
/// them and [`Run::write`] writes the run in one statement: the rows, their
/// report facts and first responses, and each conversation's and each
/// sending contact's activity once (the greatest time of the run, so a
/// conversation with ten messages in the run is rewritten once).
/// A replay may keep the rows and facts aside instead, for another
/// connection to insert ([`Run::rows_aside`]); it then writes the activity
/// moves and first responses only.
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
    rows: MessageRows,
    /// The conversations whose activity its messages move (incoming and
    /// outgoing ones; an activity message writes its own row only).
    conversations: HashSet<i64>,
    /// The contacts that sent any of them.
    contacts: HashSet<i64>,
    /// Where the rows (and so the report facts) of written runs go instead
    /// of their tables, for a replay's batch that writes them later,
    /// elsewhere ([`Run::rows_aside`]).
    aside: Option<MessageRows>,
    /// A replay's run ([`Run::replay`]): its rows are inserted without
    /// `on conflict`.
    replay: bool,
}

impl Run {
    /// Adds a posted message at `at` (its event's time).
    pub fn push(&mut self, m: &NewMessageRow<'_>, at: DateTime<Utc>) {
        self.rows.push(m, at);
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
        self.rows.is_empty()
    }

    /// With `aside` (only for a replay's runs, [`Run::replay`]),
    /// [`Run::write`] from now on writes the activity moves and first
    /// responses of the runs but keeps their rows, and so their report
    /// facts, for [`Run::take_rows`]; without, it writes them again. Set
    /// before the first write.
    pub fn rows_aside(&mut self, aside: bool) {
        debug_assert!(
            self.aside.as_ref().is_none_or(MessageRows::is_empty),
            "rows kept aside would be lost"
        );
        debug_assert!(!aside || self.replay, "only a replay keeps its rows aside");
        self.aside = aside.then(MessageRows::default);
    }

    /// The rows kept aside so far, leaving none (none at all unless
    /// [`Run::rows_aside`]).
    pub fn take_rows(&mut self) -> MessageRows {
        self.aside.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Declares the runs a replay's (a rebuild's), which applies each
    /// message once into a schema only it writes: their rows are inserted
    /// without `on conflict (id) do nothing`, whose check cost a quarter of
    /// the insert (in `psql`, a million messages: 7.1 s against 5.2 s), and
    /// a row already there fails the write ([`ApplyError::Replayed`]).
    pub fn replay(&mut self) {
        self.replay = true;
    }

    /// Writes the run and leaves it empty. Returns the conversations whose
    /// row was not there yet, with the greatest time of their messages in
    /// the run (see [`EarlyActivity`]).
    pub async fn write(
        &mut self,
        conn: &mut PgConnection,
    ) -> Result<Vec<(i64, DateTime<Utc>)>, ApplyError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let rows = std::mem::take(&mut self.rows);
        self.conversations.clear();
        self.contacts.clear();
        if let Some(aside) = &mut self.aside {
            // The activity moves need five of the thirteen columns.
            const MOVES: &str = concat!(
                "with m as ( \
                   select * from unnest($1::bigint[], $2::smallint[], $3::text[], \
                     $4::bigint[], $5::timestamptz[]) \
                   as m(conversation_id, message_type, sender_type, sender_id, created_at)), ",
                move_activity!()
            );
            let early: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(MOVES)
                .bind(&rows.conversation_id)
                .bind(&rows.message_type)
                .bind(&rows.sender_type)
                .bind(&rows.sender_id)
                .bind(&rows.created_at)
                .fetch_all(&mut *conn)
                .await?;
            crate::reports::first_responses(conn, &MessageFacts::of(&rows)).await?;
            aside.append(rows);
            return Ok(early);
        }
        const LIVE: &str = write_run!("on conflict (id) do nothing");
        const REPLAY: &str = write_run!("");
        let statement = if self.replay { REPLAY } else { LIVE };
        let early: Vec<(i64, DateTime<Utc>)> = bind_rows!(sqlx::query_as(statement), rows)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| crate::apply::insert_error(e, self.replay))?;
        Ok(early)
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
