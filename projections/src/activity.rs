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
//! Names are read from the read model when the batch writes the activities
//! ([`Activities`]), which is before any event that could change them.

use chrono::{DateTime, Utc};
use domain::conversation::ConversationStatus;
use domain::message::MessageType;
use domain::{Actor, ActorKind, Event};
use infra::envelope::Envelope;
use sqlx::PgConnection;

use crate::apply::ApplyError;

/// Where derived activity ids start (2^50: above any sequence id, below 2^53
/// so JavaScript clients read it exactly).
pub const ACTIVITY_ID_BASE: i64 = 1 << 50;

/// Activities one event may derive.
pub const PER_EVENT: i64 = 4;

/// The id of the `k`-th activity derived from the event at `position`.
pub fn activity_id(position: i64, k: i64) -> i64 {
    ACTIVITY_ID_BASE + position * PER_EVENT + k
}

/// One activity's text: a template with `{assignee}`, `{team}` and `{user}`
/// (see [`Activities`]), then a suffix taken as it is.
struct Line {
    template: &'static str,
    suffix: String,
}

impl Line {
    /// A text from a template alone.
    fn text(template: &'static str) -> Self {
        Line {
            template,
            suffix: String::new(),
        }
    }

    /// The acting user's name, then `rest` as it is (it holds label names,
    /// which may look like placeholders).
    fn user_then(rest: String) -> Self {
        Line {
            template: "{user}",
            suffix: rest,
        }
    }
}

/// The assignee and the team a [`Line`] names.
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
                    Line::text("System reopened the conversation due to a new incoming message.")
                }
                (ActorKind::User, ConversationStatus::Open) => {
                    Line::text("Conversation was reopened by {user}")
                }
                (ActorKind::User, ConversationStatus::Resolved) => {
                    Line::text("Conversation was marked resolved by {user}")
                }
                (ActorKind::User, ConversationStatus::Pending) => {
                    Line::text("Conversation was transferred to bot by {user}")
                }
                (ActorKind::User, ConversationStatus::Snoozed) => {
                    Line::text("Conversation was marked snoozed by {user}")
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
                lines.push(Line::user_then(format!(" added {}", added.join(", "))));
            }
            if !removed.is_empty() {
                lines.push(Line::user_then(format!(" removed {}", removed.join(", "))));
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
                    Line::text("{user} self-assigned this conversation")
                }
                Some(_) => Line::text("Assigned to {assignee} by {user}"),
                None => Line::text("Conversation unassigned by {user}"),
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
                    Line::text("Assigned to {assignee} via {team} by {user}"),
                    Some(*team),
                ),
                (Some(team), None) => (Line::text("Assigned to {team} by {user}"), Some(*team)),
                (None, _) => (Line::text("Unassigned from {team} by {user}"), *from),
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

/// Gathers the activity messages an event derives, if any. Idempotent: the
/// ids are fixed by the event's position.
pub fn derive(event: &Event, env: &Envelope, activities: &mut Activities) {
    let Some((conversation_id, actor, lines, names)) = texts(event) else {
        return;
    };
    let user_id = actor.id.filter(|_| actor.kind == ActorKind::User);
    for (k, line) in lines.into_iter().enumerate().take(PER_EVENT as usize) {
        activities.id.push(activity_id(env.position, k as i64));
        activities.conversation_id.push(conversation_id);
        activities.template.push(line.template);
        activities.suffix.push(line.suffix);
        activities.user_id.push(user_id);
        activities.assignee_id.push(names.assignee);
        activities.team_id.push(names.team);
        activities.created_at.push(env.time);
    }
}

/// Activity messages gathered for one write, column by column: each a
/// template with `{assignee}`, `{team}` and `{user}` (replaced in that
/// order, by the names of the assignee, the team and the acting user) and
/// a suffix taken as it is (label names, which may hold anything).
///
/// The names and the conversation's account and inbox are read when the
/// batch writes them, not when the event is applied: a batch writes its
/// deferred writes before any event that could change a user's or a team's
/// name or remove a conversation (`crate::batch::Deferred::commutes_with`
/// lets none of those by), so both read the same.
#[derive(Debug, Default)]
pub struct Activities {
    id: Vec<i64>,
    conversation_id: Vec<i64>,
    template: Vec<&'static str>,
    suffix: Vec<String>,
    user_id: Vec<Option<i64>>,
    assignee_id: Vec<Option<i64>>,
    team_id: Vec<Option<i64>>,
    created_at: Vec<DateTime<Utc>>,
}

impl Activities {
    /// Writes them in one statement and forgets them. One whose
    /// conversation the read model does not hold is dropped, as Chatwoot
    /// has nothing to show it in. A user the read model does not know is
    /// "Someone", no user is "System".
    pub async fn write(&mut self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        if self.id.is_empty() {
            return Ok(());
        }
        let a = std::mem::take(self);
        sqlx::query(
            "insert into messages (id, account_id, conversation_id, inbox_id, message_type, \
               content, content_type, content_attributes, private, created_at, updated_at) \
             select a.id, c.account_id, a.conversation_id, c.inbox_id, $9, \
               replace(replace(replace(a.template, \
                   '{assignee}', case when a.assignee_id is null then '' \
                                      else coalesce(assignee.name, 'Someone') end), \
                   '{team}', coalesce(team.name, '')), \
                   '{user}', case when a.user_id is null then 'System' \
                                  else coalesce(actor.name, 'Someone') end) \
                 || a.suffix, \
               'text', '{}', false, a.created_at, a.created_at \
             from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], \
                   $6::bigint[], $7::bigint[], $8::timestamptz[]) \
               as a(id, conversation_id, template, suffix, user_id, assignee_id, team_id, \
                    created_at) \
             join conversations c on c.id = a.conversation_id \
             left join users actor on actor.id = a.user_id \
             left join users assignee on assignee.id = a.assignee_id \
             left join teams team on team.id = a.team_id \
             on conflict (id) do nothing",
        )
        .bind(&a.id)
        .bind(&a.conversation_id)
        .bind(&a.template)
        .bind(&a.suffix)
        .bind(&a.user_id)
        .bind(&a.assignee_id)
        .bind(&a.team_id)
        .bind(&a.created_at)
        .bind(MessageType::Activity.as_int())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
