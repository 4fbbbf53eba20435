//! The history projection (`read_model.history`): a conversation's or a
//! contact's events, an account's audit query, and the events a
//! conversation's stream had at a moment (for `as_of`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// One recorded event with its actor's current name, where known, and, for an
/// `...Updated` event, the payload of the previous `...Created`/`...Updated`
/// event of the same stream (so the renderer can say what changed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub stream_id: String,
    pub stream_version: i64,
    pub position: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub actor_type: String,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub previous: Option<Value>,
}

const SELECT: &str = "select h.stream_id, h.stream_version, h.position, h.event_type, \
     h.schema_version, h.payload, h.actor_type, h.actor_id, \
     case h.actor_type when 'user' then u.name when 'agent_bot' then b.name end as actor_name, \
     h.correlation_id, h.causation_id, h.occurred_at, \
     (select p.payload from read_model.history p \
       where h.event_type like '%Updated' and p.stream_id = h.stream_id \
         and p.stream_version < h.stream_version \
         and p.event_type in (h.event_type, replace(h.event_type, 'Updated', 'Created')) \
       order by p.stream_version desc limit 1) as previous \
     from read_model.history h \
     left join read_model.users u on h.actor_type = 'user' and u.id = h.actor_id \
     left join read_model.agent_bots b on h.actor_type = 'agent_bot' and b.id = h.actor_id";

/// What an account's history is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only the events of this conversation (global id) and of its messages.
    pub conversation_id: Option<i64>,
    /// Only the events of this contact's stream.
    pub contact_id: Option<i64>,
    /// `user`, `agent_bot`, `platform_app` or `system`.
    pub actor_type: Option<String>,
    /// The actor's id.
    pub actor_id: Option<i64>,
    /// The event type name.
    pub event_type: Option<String>,
    /// Occurred at or after.
    pub since: Option<DateTime<Utc>>,
    /// Occurred at or before.
    pub until: Option<DateTime<Utc>>,
    /// Only events after this log position (a cursor).
    pub after: Option<i64>,
}

fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, account_id: i64, f: &HistoryFilter) {
    qb.push(" where h.account_id = ").push_bind(account_id);
    if let Some(id) = f.conversation_id {
        qb.push(" and h.conversation_id = ").push_bind(id);
    }
    if let Some(id) = f.contact_id {
        qb.push(" and h.contact_id = ").push_bind(id);
    }
    if let Some(t) = &f.actor_type {
        qb.push(" and h.actor_type = ").push_bind(t.clone());
    }
    if let Some(id) = f.actor_id {
        qb.push(" and h.actor_id = ").push_bind(id);
    }
    if let Some(t) = &f.event_type {
        qb.push(" and h.event_type = ").push_bind(t.clone());
    }
    if let Some(t) = f.since {
        qb.push(" and h.occurred_at >= ").push_bind(t);
    }
    if let Some(t) = f.until {
        qb.push(" and h.occurred_at <= ").push_bind(t);
    }
    if let Some(p) = f.after {
        qb.push(" and h.position > ").push_bind(p);
    }
}

/// A page of an account's events, in log order.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn events(
    pool: &PgPool,
    account_id: i64,
    filter: &HistoryFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let mut qb = QueryBuilder::new(SELECT);
    push_filters(&mut qb, account_id, filter);
    qb.push(" order by h.position limit ")
        .push_bind(limit)
        .push(" offset ")
        .push_bind(offset);
    qb.build_query_as().fetch_all(pool).await
}

/// How many events match.
pub async fn count(
    pool: &PgPool,
    account_id: i64,
    filter: &HistoryFilter,
) -> Result<i64, sqlx::Error> {
    let mut qb = QueryBuilder::new("select count(*) from read_model.history h");
    push_filters(&mut qb, account_id, filter);
    qb.build_query_scalar().fetch_one(pool).await
}

/// A moment in the log: a position, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Events at or before this log position.
    Position(i64),
    /// Events that occurred at or before this time.
    Time(DateTime<Utc>),
}

/// A stored event: type, schema version, payload.
pub type Stored = (String, i32, Value);

/// The events of one stream up to a moment, in stream order.
#[tracing::instrument(skip_all, fields(account_id = account_id, stream = stream_id))]
pub async fn stream_until(
    pool: &PgPool,
    account_id: i64,
    stream_id: &str,
    moment: Moment,
) -> Result<Vec<Stored>, sqlx::Error> {
    let (position, time) = match moment {
        Moment::Position(p) => (Some(p), None),
        Moment::Time(t) => (None, Some(t)),
    };
    sqlx::query_as(
        "select event_type, schema_version, payload from read_model.history \
         where account_id = $1 and stream_id = $2 \
           and ($3::bigint is null or position <= $3) \
           and ($4::timestamptz is null or occurred_at <= $4) \
         order by stream_version",
    )
    .bind(account_id)
    .bind(stream_id)
    .bind(position)
    .bind(time)
    .fetch_all(pool)
    .await
}

/// A member of the account as the conversation's assignee JSON needs them:
/// `(name, display name, e-mail, role)`.
pub type AssigneeRow = (String, Option<String>, String, String);

/// User `user_id` if they are a member of the account.
pub async fn account_member(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<AssigneeRow>, sqlx::Error> {
    sqlx::query_as(
        "select u.name, u.display_name, u.email, au.role from read_model.account_users au \
         join read_model.users u on u.id = au.user_id \
         where au.account_id = $1 and au.user_id = $2",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}
