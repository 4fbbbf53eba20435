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
//! To add an activity for a new event, add an arm to `texts` returning its
//! lines; nothing else changes.
//!
//! Assignments and teams follow Chatwoot's `if team changed … elsif assignee
//! changed …`: a team assignment that also set an assignee says so in one line
//! ("Assigned to {assignee} via {team} by {user}") on the team's event, and the
//! assignee event it came with (`by_team`) says nothing. A team cleared by the
//! team's deletion says nothing either (Chatwoot nullifies without callbacks).
//! Names are read from the read model when the event is applied.

use domain::conversation::ConversationStatus;
use domain::message::MessageType;
use domain::{Actor, ActorKind, Attributes, Event};
use infra::envelope::Envelope;
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::messages::{NewMessageRow, Run};

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
    /// A template with `{user}`, `{assignee}` (the user [`Names::assignee`])
    /// and `{team}` (the team [`Names::team`]).
    Named(&'static str),
}

/// Users and teams a [`Line::Named`] names.
#[derive(Default)]
struct Names {
    assignee: Option<i64>,
    team: Option<i64>,
}

/// The conversation an event concerns and the activity lines it derives.
fn texts(event: &Event) -> Option<(i64, Actor, Vec<Line>, Names)> {
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
            Some((*conversation_id, *actor, vec![line], Names::default()))
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
            Some((*conversation_id, *actor, lines, Names::default()))
        }
        Event::ConversationAssigneeChanged {
            conversation_id,
            to,
            actor,
            by_team: false,
            ..
        } => {
            if actor.kind != ActorKind::User {
                return None;
            }
            let line = match to {
                Some(to) if Some(*to) == actor.id => {
                    Line::ByUser("{user} self-assigned this conversation")
                }
                Some(_) => Line::Named("Assigned to {assignee} by {user}"),
                None => Line::ByUser("Conversation unassigned by {user}"),
            };
            let names = Names {
                assignee: *to,
                team: None,
            };
            Some((*conversation_id, *actor, vec![line], names))
        }
        Event::ConversationTeamChanged {
            conversation_id,
            from,
            to,
            actor,
            assignee_id,
            team_deleted: false,
            ..
        } => {
            if actor.kind != ActorKind::User {
                return None;
            }
            let (line, team) = match (to, assignee_id) {
                (Some(team), Some(_)) => (
                    Line::Named("Assigned to {assignee} via {team} by {user}"),
                    Some(*team),
                ),
                (Some(team), None) => (Line::Named("Assigned to {team} by {user}"), Some(*team)),
                (None, _) => (Line::Named("Unassigned from {team} by {user}"), *from),
            };
            let names = Names {
                assignee: *assignee_id,
                team,
            };
            Some((*conversation_id, *actor, vec![line], names))
        }
        _ => None,
    }
}

/// What [`derive`] reads: the conversation's account and inbox, and the
/// names of the acting user, the assignee and the team (`None` when unknown
/// or not asked for).
type Found = (i64, i64, Option<String>, Option<String>, Option<String>);

/// Gathers the activity messages an event derives, if any, into `run`.
/// Idempotent: the ids are fixed by the event's position.
pub async fn derive(
    conn: &mut PgConnection,
    event: &Event,
    env: &Envelope,
    run: &mut Run,
) -> Result<(), ApplyError> {
    let Some((conversation_id, actor, lines, names)) = texts(event) else {
        return Ok(());
    };
    if lines.is_empty() {
        return Ok(());
    }
    // The conversation and every name the lines need, in one statement.
    let actor_user = actor.id.filter(|_| actor.kind == ActorKind::User);
    let found: Option<Found> = sqlx::query_as(
        "select c.account_id, c.inbox_id, \
               (select name from users where id = $2), \
               (select name from users where id = $3), \
               (select name from teams where id = $4) \
             from conversations c where c.id = $1",
    )
    .bind(conversation_id)
    .bind(actor_user)
    .bind(names.assignee)
    .bind(names.team)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((account_id, inbox_id, actor_name, assignee_name, team_name)) = found else {
        return Ok(());
    };
    // A user the read model does not know is "Someone".
    let name = match actor_user {
        Some(_) => actor_name.unwrap_or_else(|| "Someone".to_owned()),
        None => "System".to_owned(),
    };
    let assignee = match names.assignee {
        Some(_) => assignee_name.unwrap_or_else(|| "Someone".to_owned()),
        None => String::new(),
    };
    let team = team_name.unwrap_or_default();
    let attributes = Attributes::new();
    for (k, line) in lines.into_iter().enumerate().take(PER_EVENT as usize) {
        let content = match line {
            Line::ByUser(template) => template.replace("{user}", &name),
            Line::Fixed(text) => text.to_owned(),
            Line::UserThen(rest) => format!("{name}{rest}"),
            Line::Named(template) => template
                .replace("{assignee}", &assignee)
                .replace("{team}", &team)
                .replace("{user}", &name),
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
        run.push(&row, env.time);
    }
    Ok(())
}
