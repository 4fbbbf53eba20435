//! Contacts, contact inboxes and conversations created in a batch, written
//! a kind at a time.
//!
//! Seeding a busy desk is one contact, one contact inbox and one
//! conversation after another, each a few statements when applied alone
//! (a conversation three: its row, its contact's count and activity, its
//! report row). A [`Creations`] gathers them as columns and writes each
//! kind in one statement: contacts, then contact inboxes, then the
//! conversations with, in the same statement, their contacts' counts and
//! activity and their report rows. The counters take one more
//! conversation under each key from the rows actually inserted.
//!
//! The result is what applying them one at a time gives, because nothing
//! that reads or writes those rows is let by while they wait
//! ([`Creations::conflicts_with`]): a contact's update, or a second
//! creation of a contact, contact inbox or conversation already waiting,
//! writes them first, and the batch writes them before its message run and
//! patches, which come after them in the log (a message of a conversation
//! or contact applied before its creation holds its run's place: the run's
//! own rule writes it before the creation, `crate::messages::Run`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use domain::contact::ContactFields;
use domain::conversation::ConversationStatus;
use domain::{Attributes, Event};
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::counts::{CountKey, Counts};
use crate::messages::EarlyActivity;

/// A conversation's row as its creation gives it.
pub struct NewConversation<'a> {
    /// Global id.
    pub id: i64,
    /// Account.
    pub account_id: i64,
    /// Id in the account.
    pub display_id: i64,
    /// Inbox.
    pub inbox_id: i64,
    /// Contact.
    pub contact_id: i64,
    /// The contact's inbox.
    pub contact_inbox_id: i64,
    /// Status at creation.
    pub status: ConversationStatus,
    /// Assignee at creation.
    pub assignee_id: Option<i64>,
    /// Team at creation.
    pub team_id: Option<i64>,
    /// Snoozed until.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Channel attributes.
    pub additional_attributes: &'a Attributes,
    /// Agents' attributes.
    pub custom_attributes: &'a Attributes,
}

#[derive(Debug, Default)]
struct Contacts {
    id: Vec<i64>,
    account_id: Vec<i64>,
    name: Vec<String>,
    email: Vec<Option<String>>,
    phone_number: Vec<Option<String>>,
    identifier: Vec<Option<String>>,
    additional_attributes: Vec<Json<Attributes>>,
    custom_attributes: Vec<Json<Attributes>>,
    at: Vec<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct ContactInboxes {
    id: Vec<i64>,
    account_id: Vec<i64>,
    contact_id: Vec<i64>,
    inbox_id: Vec<i64>,
    source_id: Vec<String>,
    at: Vec<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Conversations {
    id: Vec<i64>,
    account_id: Vec<i64>,
    display_id: Vec<i64>,
    inbox_id: Vec<i64>,
    contact_id: Vec<i64>,
    contact_inbox_id: Vec<i64>,
    status: Vec<&'static str>,
    assignee_id: Vec<Option<i64>>,
    team_id: Vec<Option<i64>>,
    snoozed_until: Vec<Option<DateTime<Utc>>>,
    additional_attributes: Vec<Json<Attributes>>,
    custom_attributes: Vec<Json<Attributes>>,
    at: Vec<DateTime<Utc>>,
    /// A replay's: the greatest time of its messages written before it
    /// (taken from [`Creations::early`]).
    earlier: Vec<Option<DateTime<Utc>>>,
}

/// Creations waiting to be written; see the module documentation.
#[derive(Debug, Default)]
pub struct Creations {
    contacts: Contacts,
    contact_inboxes: ContactInboxes,
    conversations: Conversations,
    /// The ids waiting, per kind.
    waiting: Waiting,
    /// A replay's ([`Creations::replay`]): the conversations messages moved
    /// before their row was there, which the creation takes its activity
    /// from instead of looking their messages up.
    early: Option<EarlyActivity>,
}

#[derive(Debug, Default)]
struct Waiting {
    contacts: HashSet<i64>,
    contact_inboxes: HashSet<i64>,
    conversations: HashSet<i64>,
}

impl Creations {
    /// A contact created with `fields` at `at`.
    pub fn contact(&mut self, id: i64, account_id: i64, fields: &ContactFields, at: DateTime<Utc>) {
        self.waiting.contacts.insert(id);
        let c = &mut self.contacts;
        c.id.push(id);
        c.account_id.push(account_id);
        c.name.push(fields.name.clone());
        c.email.push(fields.email.clone());
        c.phone_number.push(fields.phone_number.clone());
        c.identifier.push(fields.identifier.clone());
        c.additional_attributes
            .push(Json(fields.additional_attributes.clone()));
        c.custom_attributes
            .push(Json(fields.custom_attributes.clone()));
        c.at.push(at);
    }

    /// A contact's inbox.
    pub fn contact_inbox(
        &mut self,
        id: i64,
        account_id: i64,
        contact_id: i64,
        inbox_id: i64,
        source_id: &str,
        at: DateTime<Utc>,
    ) {
        self.waiting.contact_inboxes.insert(id);
        let c = &mut self.contact_inboxes;
        c.id.push(id);
        c.account_id.push(account_id);
        c.contact_id.push(contact_id);
        c.inbox_id.push(inbox_id);
        c.source_id.push(source_id.to_owned());
        c.at.push(at);
    }

    /// Declares the creations a replay's, whose messages' rows may not be
    /// in `messages` yet (`crate::messages::Run::rows_aside`): a
    /// conversation's activity from messages written before it comes from
    /// `early`, which the batch's message runs add to
    /// ([`Creations::note_early`]) and [`Creations::take_early`] gives back.
    pub fn replay(&mut self, early: EarlyActivity) {
        self.early = Some(early);
    }

    /// Notes conversations that messages moved before their row was there
    /// (a replay's; anywhere else their messages are looked up).
    pub fn note_early(&mut self, moved: Vec<(i64, DateTime<Utc>)>) {
        if let Some(early) = &mut self.early {
            for (id, at) in moved {
                early.note(id, at);
            }
        }
    }

    /// A replay's conversations moved before their creation, noted so far.
    pub fn take_early(&mut self) -> EarlyActivity {
        self.early.take().unwrap_or_default()
    }

    /// A conversation.
    pub fn conversation(&mut self, row: &NewConversation<'_>, at: DateTime<Utc>) {
        self.waiting.conversations.insert(row.id);
        let earlier = self.early.as_mut().and_then(|early| early.take(row.id));
        let c = &mut self.conversations;
        c.earlier.push(earlier);
        c.id.push(row.id);
        c.account_id.push(row.account_id);
        c.display_id.push(row.display_id);
        c.inbox_id.push(row.inbox_id);
        c.contact_id.push(row.contact_id);
        c.contact_inbox_id.push(row.contact_inbox_id);
        c.status.push(row.status.as_str());
        c.assignee_id.push(row.assignee_id);
        c.team_id.push(row.team_id);
        c.snoozed_until.push(row.snoozed_until);
        c.additional_attributes
            .push(Json(row.additional_attributes.clone()));
        c.custom_attributes
            .push(Json(row.custom_attributes.clone()));
        c.at.push(at);
    }

    /// Whether `event`, one the batch may let by pending writes
    /// ([`crate::batch::Deferred::commutes_with`]), touches a waiting row:
    /// an update of a contact created here, or a second creation of a row
    /// already waiting (which the version guard makes impossible; one
    /// statement cannot write a row twice).
    pub fn conflicts_with(&self, event: &Event) -> bool {
        match event {
            Event::ContactUpdated { contact_id, .. } | Event::ContactCreated { contact_id, .. } => {
                self.waiting.contacts.contains(contact_id)
            }
            Event::ContactInboxCreated {
                contact_inbox_id, ..
            } => self.waiting.contact_inboxes.contains(contact_inbox_id),
            Event::ConversationCreated {
                conversation_id, ..
            } => self.waiting.conversations.contains(conversation_id),
            _ => false,
        }
    }

    /// Writes the contacts, the contact inboxes and the conversations, a
    /// statement each, adds the conversations inserted to `counts`, and
    /// leaves it empty.
    pub async fn write(
        &mut self,
        conn: &mut PgConnection,
        counts: &mut Counts,
    ) -> Result<(), ApplyError> {
        let contacts = std::mem::take(&mut self.contacts);
        let contact_inboxes = std::mem::take(&mut self.contact_inboxes);
        let conversations = std::mem::take(&mut self.conversations);
        self.waiting = Waiting::default();
        if !contacts.id.is_empty() {
            write_contacts(conn, contacts).await?;
        }
        if !contact_inboxes.id.is_empty() {
            write_contact_inboxes(conn, contact_inboxes).await?;
        }
        if !conversations.id.is_empty() {
            let replay = self.early.is_some();
            write_conversations(conn, conversations, replay, counts).await?;
        }
        Ok(())
    }
}

async fn write_contacts(conn: &mut PgConnection, c: Contacts) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into contacts (id, account_id, name, email, phone_number, identifier, \
           additional_attributes, custom_attributes, created_at, updated_at) \
         select id, account_id, name, email, phone_number, identifier, \
           additional_attributes, custom_attributes, at, at \
         from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
           $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[]) \
           as c(id, account_id, name, email, phone_number, identifier, additional_attributes, \
                custom_attributes, at) \
         on conflict (id) do update set name = excluded.name, email = excluded.email, \
           phone_number = excluded.phone_number, identifier = excluded.identifier, \
           additional_attributes = excluded.additional_attributes, \
           custom_attributes = excluded.custom_attributes, updated_at = excluded.updated_at",
    )
    .bind(&c.id)
    .bind(&c.account_id)
    .bind(&c.name)
    .bind(&c.email)
    .bind(&c.phone_number)
    .bind(&c.identifier)
    .bind(&c.additional_attributes)
    .bind(&c.custom_attributes)
    .bind(&c.at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_contact_inboxes(
    conn: &mut PgConnection,
    c: ContactInboxes,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into contact_inboxes (id, account_id, contact_id, inbox_id, source_id, created_at) \
         select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
           $5::text[], $6::timestamptz[]) \
         on conflict (id) do update set contact_id = excluded.contact_id, \
           inbox_id = excluded.inbox_id, source_id = excluded.source_id",
    )
    .bind(&c.id)
    .bind(&c.account_id)
    .bind(&c.contact_id)
    .bind(&c.inbox_id)
    .bind(&c.source_id)
    .bind(&c.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The rows, each conversation's activity taken from its messages applied
/// before it (another stream: looked up in `messages`, or in a replay
/// taken from [`EarlyActivity`]), and for the rows inserted (a conversation
/// already there is not counted again) their contacts' count and activity;
/// the report rows are upserted for all, as a message applied first may
/// have made one. The rows inserted count under their keys in `counts`.
async fn write_conversations(
    conn: &mut PgConnection,
    c: Conversations,
    replay: bool,
    counts: &mut Counts,
) -> Result<(), ApplyError> {
    let earlier_messages = if replay {
        "p.earlier"
    } else {
        "(select max(m.created_at) from messages m \
          where m.conversation_id = p.id and m.message_type in (0, 1))"
    };
    let inserted: Vec<(i64, i64, String, i64, i64)> = sqlx::query_as(&format!(
        "with p as ( \
           select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::bigint[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], \
             $10::timestamptz[], $11::jsonb[], $12::jsonb[], $13::timestamptz[], \
             $14::timestamptz[]) \
           as p(id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, \
                assignee_id, team_id, snoozed_until, additional_attributes, custom_attributes, \
                at, earlier)), \
         inserted as ( \
           insert into conversations (id, account_id, display_id, inbox_id, contact_id, \
             contact_inbox_id, status, assignee_id, team_id, snoozed_until, \
             additional_attributes, custom_attributes, last_activity_at, created_at, updated_at) \
           select id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, \
             assignee_id, team_id, snoozed_until, additional_attributes, custom_attributes, \
             greatest(at, {earlier_messages}), \
             at, at \
           from p \
           on conflict (id) do nothing \
           returning id, account_id, inbox_id, status, assignee_id, team_id, contact_id, \
             created_at), \
         counted as ( \
           update contacts k set conversations_count = k.conversations_count + d.n, \
             last_activity_at = greatest(coalesce(k.last_activity_at, d.at), d.at) \
           from (select contact_id, count(*) as n, max(created_at) as at from inserted \
                 group by contact_id) d \
           where k.id = d.contact_id), \
         facts as ( \
           insert into report_conversations \
             (conversation_id, account_id, inbox_id, assignee_id, team_id, created_at) \
           select id, account_id, inbox_id, assignee_id, team_id, at from p \
           on conflict (conversation_id) do update set \
             account_id = excluded.account_id, inbox_id = excluded.inbox_id, \
             assignee_id = excluded.assignee_id, team_id = excluded.team_id, \
             created_at = excluded.created_at) \
         select account_id, inbox_id, status, coalesce(assignee_id, 0), coalesce(team_id, 0) \
         from inserted"
    ))
    .bind(&c.id)
    .bind(&c.account_id)
    .bind(&c.display_id)
    .bind(&c.inbox_id)
    .bind(&c.contact_id)
    .bind(&c.contact_inbox_id)
    .bind(&c.status)
    .bind(&c.assignee_id)
    .bind(&c.team_id)
    .bind(&c.snoozed_until)
    .bind(&c.additional_attributes)
    .bind(&c.custom_attributes)
    .bind(&c.at)
    .bind(&c.earlier)
    .fetch_all(conn)
    .await?;
    for (account_id, inbox_id, status, assignee_id, team_id) in inserted {
        counts.add(CountKey {
            account_id,
            inbox_id,
            status,
            assignee_id,
            team_id,
        });
    }
    Ok(())
}
