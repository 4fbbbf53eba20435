//! The history and audit JSON: one object per recorded event, and a
//! conversation as it was at a moment (`as_of`).

use chrono::{DateTime, Utc};
use domain::conversation::Conversation;
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use crate::repo::conversations::ConversationRow;
use crate::repo::history::{self, HistoryRow};

/// One event: what happened (`event_type`, `data` as stored, `changes` as
/// `{field: {from, to}}` where the event or its stream tells), who did it
/// (`actor`), when (`occurred_at`, ISO-8601, and `created_at`, Unix
/// seconds), through which request (`correlation_id`), and where in the log.
pub(crate) fn history_event_shape(row: &HistoryRow) -> Value {
    json!({
        "position": row.position,
        "stream_id": row.stream_id,
        "stream_version": row.stream_version,
        "event_type": row.event_type,
        "schema_version": row.schema_version,
        "occurred_at": super::iso_time(row.occurred_at),
        "created_at": row.occurred_at.timestamp(),
        "actor": {
            "type": row.actor_type,
            "id": row.actor_id,
            "name": row.actor_name,
        },
        "correlation_id": row.correlation_id,
        "causation_id": row.causation_id,
        "changes": changes(row),
        "data": row.payload,
    })
}

fn from_to(from: Option<&Value>, to: Option<&Value>) -> Value {
    json!({"from": from.cloned().unwrap_or(Value::Null), "to": to.cloned().unwrap_or(Value::Null)})
}

/// What changed: the event's own `from`/`to` (status, assignee, team, role),
/// a label change's `added`/`removed`, or, for an event carrying the full new
/// values (`...Updated`), the fields that differ from the stream's previous
/// `...Created`/`...Updated` event. Empty when nothing says.
fn changes(row: &HistoryRow) -> Value {
    let p = &row.payload;
    let field = match row.event_type.as_str() {
        "ConversationStatusChanged" => Some("status"),
        "ConversationAssigneeChanged" => Some("assignee_id"),
        "ConversationTeamChanged" => Some("team_id"),
        "AccountUserRoleChanged" => Some("role"),
        _ => None,
    };
    let mut out = Map::new();
    if let Some(field) = field {
        out.insert(field.into(), from_to(p.get("from"), p.get("to")));
        if row.event_type == "ConversationStatusChanged" {
            if let Some(until) = p.get("snoozed_until").filter(|v| !v.is_null()) {
                out.insert("snoozed_until".into(), from_to(None, Some(until)));
            }
        }
    } else if row.event_type == "ConversationLabelsChanged" {
        out.insert(
            "labels".into(),
            json!({
                "added": p.get("added").cloned().unwrap_or(json!([])),
                "removed": p.get("removed").cloned().unwrap_or(json!([])),
                "to": p.get("labels").cloned().unwrap_or(json!([])),
            }),
        );
    } else if let (Some(Value::Object(before)), Value::Object(after)) = (&row.previous, p) {
        for (key, value) in after {
            if before.get(key) != Some(value) {
                out.insert(key.clone(), from_to(before.get(key), Some(value)));
            }
        }
    }
    Value::Object(out)
}

/// The conversation `row` (as it is now) with what its stream said at the
/// moment: status, snooze, assignee, team and labels from `state`. Everything
/// else (attributes, last activity, seen times, the last message, unread
/// count) is today's: the stream does not carry it.
pub(crate) async fn conversation_as_of(
    pool: &PgPool,
    mut row: ConversationRow,
    state: &Conversation,
) -> Result<Option<Value>, sqlx::Error> {
    if let Some(status) = state.status {
        row.status = status.as_str().to_owned();
    }
    row.snoozed_until = state
        .snoozed_until
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
    row.labels = state.labels.clone();
    row.team_id = state.team_id;
    row.assignee_user_id = None;
    row.assignee_name = None;
    row.assignee_display_name = None;
    row.assignee_email = None;
    row.assignee_role = None;
    if let Some(user_id) = state.assignee_id {
        if let Some((name, display_name, email, role)) =
            history::account_member(pool, row.account_id, user_id).await?
        {
            row.assignee_user_id = Some(user_id);
            row.assignee_name = Some(name);
            row.assignee_display_name = display_name;
            row.assignee_email = Some(email);
            row.assignee_role = Some(role);
        }
    }
    super::tree(super::single_conversation(pool, row).await?).map(Some)
}
