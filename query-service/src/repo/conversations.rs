//! Conversations and the list counters.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::InboxScope;

/// A conversation with what its JSON needs from elsewhere: the inbox's
/// channel type and the assignee (when they are a member of the account).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    /// The global id (messages and history name their conversation by it).
    pub id: i64,
    pub account_id: i64,
    pub display_id: i64,
    pub inbox_id: i64,
    pub contact_id: i64,
    pub status: String,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub additional_attributes: Value,
    pub custom_attributes: Value,
    pub labels: Vec<String>,
    pub agent_last_seen_at: Option<DateTime<Utc>>,
    pub contact_last_seen_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub channel_type: Option<String>,
    pub assignee_user_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub assignee_display_name: Option<String>,
    pub assignee_email: Option<String>,
    pub assignee_role: Option<String>,
    pub team_id: Option<i64>,
}

const SELECT: &str =
    "select c.id, c.account_id, c.display_id, c.inbox_id, c.contact_id, c.status, \
     c.snoozed_until, c.additional_attributes, c.custom_attributes, c.labels, \
     c.agent_last_seen_at, c.contact_last_seen_at, c.last_activity_at, c.created_at, \
     i.channel_type, u.id as assignee_user_id, u.name as assignee_name, \
     u.display_name as assignee_display_name, u.email as assignee_email, \
     au.role as assignee_role, c.team_id \
     from read_model.conversations c \
     left join read_model.inboxes i on i.id = c.inbox_id \
     left join read_model.account_users au \
            on au.account_id = c.account_id and au.user_id = c.assignee_id \
     left join read_model.users u on u.id = au.user_id";

/// Whose conversations a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignee {
    /// Everyone's.
    Any,
    /// Those assigned to this user.
    User(i64),
    /// Those with no assignee.
    Nobody,
    /// Those with any assignee.
    Somebody,
}

/// The filters shared by the list and its counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationFilter {
    /// Which inboxes the caller sees.
    pub scope: InboxScope,
    /// A status name, or `None` for all.
    pub status: Option<&'static str>,
    /// One inbox only.
    pub inbox_id: Option<i64>,
    /// One team only.
    pub team_id: Option<i64>,
    /// Any of these labels (`labels[]`); empty means no filter.
    pub labels: Vec<String>,
    /// Substring of an incoming or outgoing message's content (`q`).
    pub q: Option<String>,
}

impl ConversationFilter {
    /// Whether the filter needs the conversations themselves (labels, message
    /// search), so the counters cannot come from `conversation_counts`.
    fn needs_rows(&self) -> bool {
        !self.labels.is_empty() || self.q.is_some()
    }
}

/// The labels and message-search filters, on conversations aliased `c`.
fn push_content_filters(qb: &mut QueryBuilder<'_, Postgres>, filter: &ConversationFilter) {
    if !filter.labels.is_empty() {
        qb.push(" and c.labels && ")
            .push_bind(filter.labels.clone());
    }
    if let Some(q) = &filter.q {
        qb.push(
            " and exists (select 1 from read_model.messages m where m.conversation_id = c.id \
               and m.message_type in (0, 1) and m.content ilike ",
        )
        .push_bind(format!("%{}%", super::contacts::escape_like(q)))
        .push(")");
    }
}

/// Adds the filters; `alias` is the table carrying `account_id, inbox_id, status, team_id`.
fn push_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    alias: &str,
    account_id: i64,
    filter: &ConversationFilter,
) {
    qb.push(format!(" where {alias}.account_id = "))
        .push_bind(account_id);
    if let InboxScope::MemberOf(user_id) = filter.scope {
        qb.push(format!(
            " and {alias}.inbox_id in (select m.inbox_id from read_model.inbox_members m \
             where m.account_id = "
        ))
        .push_bind(account_id)
        .push(" and m.user_id = ")
        .push_bind(user_id)
        .push(")");
    }
    if let Some(status) = filter.status {
        qb.push(format!(" and {alias}.status = ")).push_bind(status);
    }
    if let Some(inbox_id) = filter.inbox_id {
        qb.push(format!(" and {alias}.inbox_id = "))
            .push_bind(inbox_id);
    }
    if let Some(team_id) = filter.team_id {
        qb.push(format!(" and {alias}.team_id = "))
            .push_bind(team_id);
    }
}

/// A row's place in the list: the list's order is its activity time, then
/// its id, both descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct PageKey {
    /// Last activity.
    pub last_activity_at: DateTime<Utc>,
    /// Global id.
    pub id: i64,
}

/// From this offset on a page starts at its key ([`Start::Key`],
/// `crate::page_keys`): a page before it walks at most 250 index entries,
/// less than taking the keys costs.
pub const DEEP_OFFSET: i64 = 250;

/// Where a page of the list starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this many rows, walked past.
    Offset(i64),
    /// At this row: the page is read from the list index at its key
    /// instead of walking past every row before it.
    Key(PageKey),
}

/// The filters, the content filters and the assignee, on conversations
/// aliased `c`: what decides which rows a list shows.
fn push_list_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    account_id: i64,
    filter: &ConversationFilter,
    assignee: Assignee,
) {
    push_filters(qb, "c", account_id, filter);
    push_content_filters(qb, filter);
    match assignee {
        Assignee::Any => {}
        Assignee::User(user_id) => {
            qb.push(" and c.assignee_id = ").push_bind(user_id);
        }
        Assignee::Nobody => {
            qb.push(" and c.assignee_id is null");
        }
        Assignee::Somebody => {
            qb.push(" and c.assignee_id is not null");
        }
    }
}

/// One page of conversations, most recently active first.
///
/// The page's ids are chosen first, from `conversations` alone (the list
/// index gives the order), and only those 25 rows are joined with their
/// inbox and assignee: joined in one query, every row skipped by the
/// `offset` was joined too (5 ms for page 41 of 2,000 conversations under
/// `explain analyze`, 4 of them in the joins).
#[tracing::instrument(skip_all, fields(account_id = account_id, limit = limit, start = ?start))]
pub async fn list(
    pool: &PgPool,
    account_id: i64,
    filter: &ConversationFilter,
    assignee: Assignee,
    limit: i64,
    start: Start,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let mut qb = QueryBuilder::new("with page as (select c.id from read_model.conversations c");
    push_list_filters(&mut qb, account_id, filter, assignee);
    if let Start::Key(key) = start {
        qb.push(" and (c.last_activity_at, c.id) <= (")
            .push_bind(key.last_activity_at)
            .push(", ")
            .push_bind(key.id)
            .push(")");
    }
    // The limit, and an offset of the first pages, are written into the
    // statement, not bound (numbers this code computed; no client text).
    // Bound, the generic plan expects them to be a tenth of the account's
    // rows, so Postgres planned the statement anew on every run (17 % of
    // the box's CPU for a list not in the cache; docs/performance.md,
    // eighteenth session). Written in, the generic plan is the custom one
    // and is kept: one statement per first page, and one for the pages read
    // at their keys. A deeper offset (a read model no generation stamps)
    // stays bound.
    qb.push(format_args!(
        " order by c.last_activity_at desc, c.id desc limit {limit}"
    ));
    if let Start::Offset(offset) = start {
        if offset < DEEP_OFFSET {
            qb.push(format_args!(" offset {offset}"));
        } else {
            qb.push(" offset ").push_bind(offset);
        }
    }
    qb.push(") ")
        .push(SELECT)
        .push(" join page on page.id = c.id order by c.last_activity_at desc, c.id desc");
    qb.build_query_as().fetch_all(pool).await
}

/// The key of the first row of every page of `per_page` rows of the list,
/// in order: one walk through the list's rows, which a page deep in a long
/// list would otherwise take on its own (at an offset of 75,000 of
/// 100,000 conversations, 13 ms under `explain analyze`, against 0.1 ms
/// for the page read at its key and 40–60 ms for all 4,000 keys).
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn page_keys(
    pool: &PgPool,
    account_id: i64,
    filter: &ConversationFilter,
    assignee: Assignee,
    per_page: i64,
) -> Result<Vec<PageKey>, sqlx::Error> {
    let mut qb = QueryBuilder::new(
        "select last_activity_at, id from ( \
           select c.last_activity_at, c.id, \
             row_number() over (order by c.last_activity_at desc, c.id desc) - 1 as n \
           from read_model.conversations c",
    );
    push_list_filters(&mut qb, account_id, filter, assignee);
    qb.push(") k where n % ")
        .push_bind(per_page)
        .push(" = 0 order by n");
    qb.build_query_as().fetch_all(pool).await
}

/// The list counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Counts {
    /// Assigned to the caller.
    pub mine_count: i64,
    /// With no assignee.
    pub unassigned_count: i64,
    /// Everything that matches.
    pub all_count: i64,
}

/// The counters, summed from `read_model.conversation_counts` (maintained by
/// the projection), so their cost does not grow with the number of
/// conversations. In that table `assignee_id` and `team_id` are 0 for "none".
#[tracing::instrument(skip_all, fields(account_id = account_id, user_id = user_id))]
pub async fn counts(
    pool: &PgPool,
    account_id: i64,
    filter: &ConversationFilter,
    user_id: i64,
) -> Result<Counts, sqlx::Error> {
    if filter.needs_rows() {
        // Labels and message search are not in the counters table: count the
        // matching conversations themselves.
        let mut qb = QueryBuilder::new("select count(*) filter (where c.assignee_id = ");
        qb.push_bind(user_id).push(
            ") as mine_count, count(*) filter (where c.assignee_id is null) as unassigned_count, \
             count(*) as all_count from read_model.conversations c",
        );
        push_filters(&mut qb, "c", account_id, filter);
        push_content_filters(&mut qb, filter);
        return qb.build_query_as().fetch_one(pool).await;
    }
    let mut qb = QueryBuilder::new("select coalesce(sum(k.n) filter (where k.assignee_id = ");
    qb.push_bind(user_id).push(
        "), 0)::bigint as mine_count, \
         coalesce(sum(k.n) filter (where k.assignee_id = 0), 0)::bigint as unassigned_count, \
         coalesce(sum(k.n), 0)::bigint as all_count \
         from read_model.conversation_counts k",
    );
    push_filters(&mut qb, "k", account_id, filter);
    qb.build_query_as().fetch_one(pool).await
}

/// One conversation of the account, by display id, whoever asks ([`seen_by`]
/// with every inbox in scope: one statement for both).
pub async fn by_display_id(
    pool: &PgPool,
    account_id: i64,
    display_id: i64,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    let seen = seen_by(pool, account_id, display_id, InboxScope::All).await?;
    Ok(seen.map(|s| s.row))
}

/// A conversation of the account by display id, and whether `scope` may
/// see it (an agent only in the inboxes they are a member of); `None` when
/// the account has no such conversation. One statement: the membership is
/// read with the row.
#[tracing::instrument(skip_all, fields(account_id = account_id, display_id = display_id))]
pub async fn seen_by(
    pool: &PgPool,
    account_id: i64,
    display_id: i64,
    scope: InboxScope,
) -> Result<Option<Seen>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select q.*, $3 or exists(select 1 from read_model.inbox_members m \
                               where m.inbox_id = q.inbox_id and m.user_id = $4) as visible \
         from ({SELECT} where c.account_id = $1 and c.display_id = $2) q"
    ))
    .bind(account_id)
    .bind(display_id)
    .bind(scope.unrestricted())
    .bind(scope.member())
    .fetch_optional(pool)
    .await
}

/// A conversation as one caller sees it ([`seen_by`]).
#[derive(Debug, sqlx::FromRow)]
pub struct Seen {
    #[sqlx(flatten)]
    pub row: ConversationRow,
    /// False for an agent who is not a member of its inbox.
    pub visible: bool,
}

/// A contact's most recently active conversations in the inboxes the scope sees.
#[tracing::instrument(skip_all, fields(account_id = account_id, contact_id = contact_id))]
pub async fn of_contact(
    pool: &PgPool,
    account_id: i64,
    contact_id: i64,
    scope: InboxScope,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} where c.account_id = $1 and c.contact_id = $2 \
           and ($3 or c.inbox_id in (select m.inbox_id from read_model.inbox_members m \
                                     where m.account_id = $1 and m.user_id = $4)) \
         order by c.last_activity_at desc, c.id desc limit $5"
    ))
    .bind(account_id)
    .bind(contact_id)
    .bind(scope.unrestricted())
    .bind(scope.member())
    .bind(limit)
    .fetch_all(pool)
    .await
}
