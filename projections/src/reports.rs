//! Report facts, the projection behind `GET /api/v2/accounts/{id}/reports`
//! (docs/reports.md): one row per conversation (`report_conversations`), per
//! incoming or outgoing message (`report_messages`) and per resolution
//! (`report_resolutions`). The query service aggregates them per request.
//!
//! Order across streams: a message (stream `message:<id>`) may be applied
//! before its conversation (stream `conversation:<id>`). The conversation row
//! is therefore an upsert from both sides (the creation's in
//! [`crate::creations`]), each side writing only its own columns, and the first response is the least `(time, message id)` of the
//! qualifying messages, so any order gives the same row. Status, assignee and
//! team changes come on the conversation's own stream, after its creation;
//! they are folded per batch with the conversation's own changes
//! ([`crate::patches`]), resolutions included.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::messages::MessageRows;
use crate::patches::Resolutions;

/// Statements that remove an account's report facts (`$1`: the account id).
pub const DELETE_ACCOUNT: [&str; 3] = [
    "delete from report_conversations where account_id = $1",
    "delete from report_messages where account_id = $1",
    "delete from report_resolutions where account_id = $1",
];

/// The report facts of posted messages, column by column: a row of
/// `report_messages` for each incoming or outgoing one (the statements skip
/// the others), which also give the first responses. Taken from the rows of
/// a [`crate::messages::Run`] when it is written ([`MessageFacts::of`]).
#[derive(Debug, Default)]
pub struct MessageFacts {
    message_id: Vec<i64>,
    account_id: Vec<i64>,
    conversation_id: Vec<i64>,
    inbox_id: Vec<i64>,
    message_type: Vec<i16>,
    private: Vec<bool>,
    sender_user_id: Vec<Option<i64>>,
    created_at: Vec<DateTime<Utc>>,
}

impl MessageFacts {
    /// The facts of posted messages' rows.
    pub fn of(rows: &MessageRows) -> Self {
        let sender_user_id = rows
            .sender_type
            .iter()
            .zip(&rows.sender_id)
            .map(|(kind, id)| id.filter(|_| *kind == Some("user")))
            .collect();
        MessageFacts {
            message_id: rows.id.clone(),
            account_id: rows.account_id.clone(),
            conversation_id: rows.conversation_id.clone(),
            inbox_id: rows.inbox_id.clone(),
            message_type: rows.message_type.clone(),
            private: rows.private.clone(),
            sender_user_id,
            created_at: rows.created_at.clone(),
        }
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.message_id.is_empty()
    }

    /// Runs `statement`, one of those below, with these facts as `m`.
    async fn write(&self, conn: &mut PgConnection, statement: &str) -> Result<(), sqlx::Error> {
        if self.is_empty() {
            return Ok(());
        }
        sqlx::query(statement)
            .bind(&self.message_id)
            .bind(&self.account_id)
            .bind(&self.conversation_id)
            .bind(&self.inbox_id)
            .bind(&self.message_type)
            .bind(&self.private)
            .bind(&self.sender_user_id)
            .bind(&self.created_at)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The facts as `m`: incoming and outgoing messages (0, 1) only.
macro_rules! facts_as_m {
    () => {
        "with m as ( \
           select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::smallint[], $6::boolean[], $7::bigint[], $8::timestamptz[]) \
           as m(message_id, account_id, conversation_id, inbox_id, message_type, private, \
                sender_user_id, created_at) \
           where message_type in (0, 1))"
    };
}

/// `f`: the facts of message rows `m` (the columns of `messages`), as
/// [`MessageFacts::of`] takes them in memory: incoming and outgoing
/// messages only, the sender's id where it is a user.
macro_rules! facts_of_rows {
    () => {
        "f as ( \
           select id as message_id, account_id, conversation_id, inbox_id, message_type, \
             private, case when sender_type = 'user' then sender_id end as sender_user_id, \
             created_at \
           from m where message_type in (0, 1))"
    };
}

/// Inserts the facts `$source` into `report_messages`, ending with
/// `$on_conflict`.
macro_rules! insert_facts {
    ($source:literal, $on_conflict:literal) => {
        concat!(
            "insert into report_messages (message_id, account_id, conversation_id, inbox_id, \
               message_type, private, sender_user_id, created_at) \
             select message_id, account_id, conversation_id, inbox_id, message_type, private, \
               sender_user_id, created_at from ",
            $source,
            " ",
            $on_conflict
        )
    };
}

/// The first responses among the facts `$source`: a user's public reply,
/// the least `(time, message id)` per conversation, kept only if it is
/// earlier than the one already recorded.
macro_rules! insert_first_responses {
    ($source:literal) => {
        concat!(
            "insert into report_conversations as r \
           (conversation_id, account_id, inbox_id, first_response_at, first_responder_id, \
            first_response_id) \
         select distinct on (conversation_id) conversation_id, account_id, inbox_id, \
           created_at, sender_user_id, message_id \
         from ",
            $source,
            " where message_type = 1 and not private and sender_user_id is not null \
         order by conversation_id, created_at, message_id \
         on conflict (conversation_id) do update set \
           first_response_at = excluded.first_response_at, \
           first_responder_id = excluded.first_responder_id, \
           first_response_id = excluded.first_response_id \
         where r.first_response_at is null \
            or (excluded.first_response_at, excluded.first_response_id) \
               < (r.first_response_at, r.first_response_id)"
        )
    };
}
pub(crate) use {facts_of_rows, insert_facts, insert_first_responses};

/// The first responses among the facts only: for a replay's batch that
/// keeps the rows and their facts aside, for another connection
/// ([`MessageRows::insert_with_facts`]).
pub async fn first_responses(
    conn: &mut PgConnection,
    facts: &MessageFacts,
) -> Result<(), ApplyError> {
    const STATEMENT: &str = concat!(facts_as_m!(), " ", insert_first_responses!("m"));
    Ok(facts.write(conn, STATEMENT).await?)
}

/// Records resolutions (gathered by [`Patches`](crate::patches::Patches))
/// with the conversation's inbox and the seconds since its creation, and
/// the assignee and team the batch had set by then or, where it had set
/// none, the stored ones. Written before the batch's patches move
/// `report_conversations` on.
pub async fn resolutions(conn: &mut PgConnection, r: &Resolutions) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into report_resolutions \
           (conversation_id, stream_version, account_id, inbox_id, assignee_id, team_id, \
            resolved_at, seconds) \
         select x.conversation_id, x.stream_version, c.account_id, c.inbox_id, \
                case when x.assignee_known then x.assignee_id else c.assignee_id end, \
                case when x.team_known then x.team_id else c.team_id end, \
                x.resolved_at, \
                greatest(extract(epoch from (x.resolved_at - c.created_at))::double precision, 0) \
           from unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::boolean[], \
                  $5::bigint[], $6::boolean[], $7::bigint[]) \
             as x(conversation_id, stream_version, resolved_at, assignee_known, assignee_id, \
                  team_known, team_id) \
           join report_conversations c on c.conversation_id = x.conversation_id \
          where c.created_at is not null \
         on conflict (conversation_id, stream_version) do nothing",
    )
    .bind(&r.conversation_id)
    .bind(&r.stream_version)
    .bind(&r.resolved_at)
    .bind(&r.assignee_known)
    .bind(&r.assignee_id)
    .bind(&r.team_known)
    .bind(&r.team_id)
    .execute(conn)
    .await?;
    Ok(())
}
