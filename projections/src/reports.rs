//! Report facts, the projection behind `GET /api/v2/accounts/{id}/reports`
//! (docs/reports.md): one row per conversation (`report_conversations`), per
//! incoming or outgoing message (`report_messages`) and per resolution
//! (`report_resolutions`). The query service aggregates them per request.
//!
//! Order across streams: a message (stream `message:<id>`) may be applied
//! before its conversation (stream `conversation:<id>`). The conversation row
//! is therefore an upsert from both sides, each side writing only its own
//! columns, and the first response is the least `(time, message id)` of the
//! qualifying messages, so any order gives the same row. Status, assignee and
//! team changes come on the conversation's own stream, after its creation,
//! and may read the row as it stands.

use chrono::{DateTime, Utc};
use domain::conversation::ConversationStatus;
use domain::Event;
use infra::envelope::Envelope;
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::messages::Run;

/// Statements that remove an account's report facts (`$1`: the account id).
pub const DELETE_ACCOUNT: [&str; 3] = [
    "delete from report_conversations where account_id = $1",
    "delete from report_messages where account_id = $1",
    "delete from report_resolutions where account_id = $1",
];

/// Folds the report facts of one event (the stream-version guard has
/// already run: this is called once per event). Posted messages are folded
/// a run at a time by [`messages`].
pub async fn apply(
    conn: &mut PgConnection,
    event: &Event,
    env: &Envelope,
) -> Result<(), ApplyError> {
    let at = env.time;
    match event {
        Event::ConversationCreated {
            conversation_id,
            account_id,
            inbox_id,
            assignee_id,
            team_id,
            ..
        } => {
            sqlx::query(
                "insert into report_conversations \
                   (conversation_id, account_id, inbox_id, assignee_id, team_id, created_at) \
                 values ($1, $2, $3, $4, $5, $6) \
                 on conflict (conversation_id) do update set \
                   account_id = excluded.account_id, inbox_id = excluded.inbox_id, \
                   assignee_id = excluded.assignee_id, team_id = excluded.team_id, \
                   created_at = excluded.created_at",
            )
            .bind(conversation_id)
            .bind(account_id)
            .bind(inbox_id)
            .bind(assignee_id)
            .bind(team_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        Event::ConversationStatusChanged {
            conversation_id,
            from,
            to,
            ..
        } if *to == ConversationStatus::Resolved && *from != ConversationStatus::Resolved => {
            resolved(conn, *conversation_id, env.streamversion, at).await?;
        }
        Event::ConversationAssigneeChanged {
            conversation_id,
            to,
            ..
        } => {
            sqlx::query(
                "update report_conversations set assignee_id = $2 where conversation_id = $1",
            )
            .bind(conversation_id)
            .bind(to)
            .execute(conn)
            .await?;
        }
        Event::ConversationTeamChanged {
            conversation_id,
            to,
            ..
        } => {
            sqlx::query("update report_conversations set team_id = $2 where conversation_id = $1")
                .bind(conversation_id)
                .bind(to)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The facts of a run of posted messages, and the first responses among
/// them, in one statement. Only incoming and outgoing messages (0, 1) are
/// facts; a first response is a user's public reply, the least `(time,
/// message id)` of the run per conversation, kept only if it is earlier than
/// the one already recorded.
pub async fn messages(conn: &mut PgConnection, run: &Run) -> Result<(), ApplyError> {
    let sender_user_id: Vec<Option<i64>> = run
        .sender_type
        .iter()
        .zip(&run.sender_id)
        .map(|(kind, id)| id.filter(|_| *kind == Some("user")))
        .collect();
    sqlx::query(
        "with m as ( \
           select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::smallint[], $6::boolean[], $7::bigint[], $8::timestamptz[]) \
           as m(message_id, account_id, conversation_id, inbox_id, message_type, private, \
                sender_user_id, created_at) \
           where message_type in (0, 1)), \
         facts as ( \
           insert into report_messages (message_id, account_id, conversation_id, inbox_id, \
             message_type, private, sender_user_id, created_at) \
           select message_id, account_id, conversation_id, inbox_id, message_type, private, \
             sender_user_id, created_at from m \
           on conflict (message_id) do nothing) \
         insert into report_conversations as r \
           (conversation_id, account_id, inbox_id, first_response_at, first_responder_id, \
            first_response_id) \
         select distinct on (conversation_id) conversation_id, account_id, inbox_id, \
           created_at, sender_user_id, message_id \
         from m where message_type = 1 and not private and sender_user_id is not null \
         order by conversation_id, created_at, message_id \
         on conflict (conversation_id) do update set \
           first_response_at = excluded.first_response_at, \
           first_responder_id = excluded.first_responder_id, \
           first_response_id = excluded.first_response_id \
         where r.first_response_at is null \
            or (excluded.first_response_at, excluded.first_response_id) \
               < (r.first_response_at, r.first_response_id)",
    )
    .bind(&run.id)
    .bind(&run.account_id)
    .bind(&run.conversation_id)
    .bind(&run.inbox_id)
    .bind(&run.message_type)
    .bind(&run.private)
    .bind(&sender_user_id)
    .bind(&run.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a resolution with the conversation's inbox, assignee and team as
/// they stand, and the seconds since its creation.
async fn resolved(
    conn: &mut PgConnection,
    conversation_id: i64,
    stream_version: i64,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into report_resolutions \
           (conversation_id, stream_version, account_id, inbox_id, assignee_id, team_id, \
            resolved_at, seconds) \
         select conversation_id, $2, account_id, inbox_id, assignee_id, team_id, $3, \
                greatest(extract(epoch from ($3 - created_at))::double precision, 0) \
           from report_conversations \
          where conversation_id = $1 and created_at is not null \
         on conflict (conversation_id, stream_version) do nothing",
    )
    .bind(conversation_id)
    .bind(stream_version)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
