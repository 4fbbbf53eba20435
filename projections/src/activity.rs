//! Activity messages, derived from conversation events.
//!
//! Chatwoot records what happens to a conversation as messages of type 2
//! ("activity") with English text, e.g. "Conversation was marked resolved by
//! Jane". Here they are not events of their own: the projection derives them
//! from the events that carry the change and its actor, so the log holds each
//! fact once and the text can be re-derived by a rebuild.
//!
//! An activity message needs an id in the messages' id space that a rebuild
//! gives again. Posted messages draw theirs from `write_model.message_ids`
//! (small numbers); an activity takes `ACTIVITY_ID_BASE + 4 * position + k`,
//! where `position` is the event's place in the log and `k` numbers the
//! activities of one event (at most [`PER_EVENT`]). Lists order messages by
//! `(created_at, id)`, so the two ranges interleave by time.
//!
//! To add an activity for a new event (assignments, teams), add an arm to
//! [`texts`] returning its lines; nothing else changes.

use domain::conversation::ConversationStatus;
use domain::message::MessageType;
use domain::{Actor, ActorKind, Attributes, Event};
use infra::envelope::Envelope;
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::messages::{insert, NewMessageRow};

/// Where derived activity ids start (2^50: above any sequence id, below 2^53
/// so JavaScript clients read it exactly).
pub const ACTIVITY_ID_BASE: i64 = 1 << 50;

/// Activities one event may derive.
pub const PER_EVENT: i64 = 4;

/// The id of the `k`-th activity derived from the event at `position`.
pub fn activity_id(position: i64, k: i64) -> i64 {
    ACTIVITY_ID_BASE + position * PER_EVENT + k
}

/// Something that needs a name in its text.
enum Line {
    /// "Conversation was marked resolved by {user}" etc.: a template with `{user}`.
    ByUser(&'static str),
    /// A fixed text.
    Fixed(&'static str),
    /// `{user}` followed by the rest.
    UserThen(String),
}

/// The conversation an event concerns and the activity lines it derives.
fn texts(event: &Event) -> Option<(i64, Actor, Vec<Line>)> {
    match event {
        Event::ConversationStatusChanged {
            conversation_id,
            to,
            actor,
            ..
        } => {
            let line = match (actor.kind, to) {
                (ActorKind::System, ConversationStatus::Open) => {
                    Line::Fixed("System reopened the conversation due to a new incoming message.")
                }
                (ActorKind::User, ConversationStatus::Open) => {
                    Line::ByUser("Conversation was reopened by {user}")
                }
                (ActorKind::User, ConversationStatus::Resolved) => {
                    Line::ByUser("Conversation was marked resolved by {user}")
                }
                (ActorKind::User, ConversationStatus::Pending) => {
                    Line::ByUser("Conversation was transferred to bot by {user}")
                }
                (ActorKind::User, ConversationStatus::Snoozed) => {
                    Line::ByUser("Conversation was marked snoozed by {user}")
                }
                // Chatwoot writes status activities only for users.
                _ => return None,
            };
            Some((*conversation_id, *actor, vec![line]))
        }
        Event::ConversationLabelsChanged {
            conversation_id,
            added,
            removed,
            actor,
            ..
        } => {
            if actor.kind != ActorKind::User {
                return None;
            }
            let mut lines = Vec::new();
            if !added.is_empty() {
                lines.push(Line::UserThen(format!(" added {}", added.join(", "))));
            }
            if !removed.is_empty() {
                lines.push(Line::UserThen(format!(" removed {}", removed.join(", "))));
            }
            Some((*conversation_id, *actor, lines))
        }
        _ => None,
    }
}

/// Writes the activity messages an event derives, if any. Idempotent: the
/// ids are fixed by the event's position.
pub async fn derive(
    conn: &mut PgConnection,
    event: &Event,
    env: &Envelope,
) -> Result<(), ApplyError> {
    let Some((conversation_id, actor, lines)) = texts(event) else {
        return Ok(());
    };
    if lines.is_empty() {
        return Ok(());
    }
    let conversation: Option<(i64, i64)> =
        sqlx::query_as("select account_id, inbox_id from conversations where id = $1")
            .bind(conversation_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((account_id, inbox_id)) = conversation else {
        return Ok(());
    };
    let name: String = match actor.id.filter(|_| actor.kind == ActorKind::User) {
        Some(user_id) => sqlx::query_scalar::<_, String>("select name from users where id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_else(|| "Someone".to_owned()),
        None => "System".to_owned(),
    };
    let attributes = Attributes::new();
    for (k, line) in lines.into_iter().enumerate().take(PER_EVENT as usize) {
        let content = match line {
            Line::ByUser(template) => template.replace("{user}", &name),
            Line::Fixed(text) => text.to_owned(),
            Line::UserThen(rest) => format!("{name}{rest}"),
        };
        let row = NewMessageRow {
            id: activity_id(env.position, k as i64),
            account_id,
            conversation_id,
            inbox_id,
            message_type: MessageType::Activity,
            content: Some(&content),
            content_type: "text",
            content_attributes: &attributes,
            private: false,
            sender: None,
            source_id: None,
        };
        insert(conn, &row, env.time).await?;
    }
    Ok(())
}
