//! Report aggregates over the report facts (`read_model.report_*`, filled by
//! `projections::reports`; definitions in docs/reports.md). Every statement
//! is assembled from the fixed fragments below, never from request text.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What a report counts or averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Conversations created.
    ConversationsCount,
    /// Incoming messages posted.
    IncomingMessagesCount,
    /// Outgoing messages posted (private notes and bots' included).
    OutgoingMessagesCount,
    /// Average seconds from creation to the first human reply.
    AvgFirstResponseTime,
    /// Average seconds from creation to a resolution.
    AvgResolutionTime,
    /// Resolutions (a reopened and resolved again conversation counts twice).
    ResolutionsCount,
}

impl Metric {
    /// Every metric, in the summary's order.
    pub const ALL: [Metric; 6] = [
        Metric::ConversationsCount,
        Metric::IncomingMessagesCount,
        Metric::OutgoingMessagesCount,
        Metric::AvgFirstResponseTime,
        Metric::AvgResolutionTime,
        Metric::ResolutionsCount,
    ];

    /// The parameter value and summary key.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ConversationsCount => "conversations_count",
            Metric::IncomingMessagesCount => "incoming_messages_count",
            Metric::OutgoingMessagesCount => "outgoing_messages_count",
            Metric::AvgFirstResponseTime => "avg_first_response_time",
            Metric::AvgResolutionTime => "avg_resolution_time",
            Metric::ResolutionsCount => "resolutions_count",
        }
    }

    /// Reads a parameter value.
    pub fn parse(raw: &str) -> Option<Metric> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    /// Whether the value is an average (else a count).
    pub fn is_average(self) -> bool {
        matches!(
            self,
            Metric::AvgFirstResponseTime | Metric::AvgResolutionTime
        )
    }

    /// `select t, v from ... where <account, range>` and the column the
    /// scope filters on, per scope.
    fn facts(self, scope: Scope) -> String {
        let (from, column) = match (self, scope) {
            (Metric::ConversationsCount, _) => (
                "select c.created_at as t, 1::float8 as v from read_model.report_conversations c \
                 where c.account_id = $1 and c.created_at between $3 and $4",
                match scope {
                    Scope::Account => None,
                    Scope::Inbox => Some("c.inbox_id"),
                    Scope::Agent => Some("c.assignee_id"),
                    Scope::Team => Some("c.team_id"),
                },
            ),
            (Metric::IncomingMessagesCount | Metric::OutgoingMessagesCount, _) => {
                let base = if self == Metric::IncomingMessagesCount {
                    "select m.created_at as t, 1::float8 as v from read_model.report_messages m \
                     where m.account_id = $1 and m.message_type = 0 and m.created_at between $3 and $4"
                } else {
                    "select m.created_at as t, 1::float8 as v from read_model.report_messages m \
                     where m.account_id = $1 and m.message_type = 1 and m.created_at between $3 and $4"
                };
                (
                    base,
                    match scope {
                        Scope::Account => None,
                        Scope::Inbox => Some("m.inbox_id"),
                        Scope::Agent => Some("m.sender_user_id"),
                        Scope::Team => Some(
                            "(select c.team_id from read_model.report_conversations c \
                              where c.conversation_id = m.conversation_id)",
                        ),
                    },
                )
            }
            (Metric::AvgFirstResponseTime, _) => (
                "select c.first_response_at as t, \
                        extract(epoch from (c.first_response_at - c.created_at))::float8 as v \
                 from read_model.report_conversations c \
                 where c.account_id = $1 and c.first_response_at between $3 and $4 \
                   and c.created_at is not null and c.first_response_at >= c.created_at",
                match scope {
                    Scope::Account => None,
                    Scope::Inbox => Some("c.inbox_id"),
                    Scope::Agent => Some("c.first_responder_id"),
                    Scope::Team => Some("c.team_id"),
                },
            ),
            (Metric::AvgResolutionTime | Metric::ResolutionsCount, _) => (
                if self == Metric::ResolutionsCount {
                    "select r.resolved_at as t, 1::float8 as v from read_model.report_resolutions r \
                     where r.account_id = $1 and r.resolved_at between $3 and $4"
                } else {
                    "select r.resolved_at as t, r.seconds as v from read_model.report_resolutions r \
                     where r.account_id = $1 and r.resolved_at between $3 and $4"
                },
                match scope {
                    Scope::Account => None,
                    Scope::Inbox => Some("r.inbox_id"),
                    Scope::Agent => Some("r.assignee_id"),
                    Scope::Team => Some("r.team_id"),
                },
            ),
        };
        match column {
            None => format!("{from} and $2::bigint is null"),
            Some(column) => format!("{from} and {column} = $2::bigint"),
        }
    }
}

/// Whose numbers: the account's, or one inbox's, agent's or team's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole account.
    Account,
    /// One inbox.
    Inbox,
    /// One agent.
    Agent,
    /// One team.
    Team,
}

/// The time buckets of a timeseries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Hours.
    Hour,
    /// Days (the default).
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar years.
    Year,
}

impl GroupBy {
    /// Reads a parameter value as Chatwoot does: anything else is `day`.
    pub fn parse(raw: Option<&str>) -> GroupBy {
        match raw {
            Some("hour") => GroupBy::Hour,
            Some("week") => GroupBy::Week,
            Some("month") => GroupBy::Month,
            Some("year") => GroupBy::Year,
            _ => GroupBy::Day,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            GroupBy::Hour => "hour",
            GroupBy::Day => "day",
            GroupBy::Week => "week",
            GroupBy::Month => "month",
            GroupBy::Year => "year",
        }
    }

    /// The shortest length of one bucket, in seconds.
    pub fn min_seconds(self) -> i64 {
        match self {
            GroupBy::Hour => 3_600,
            GroupBy::Day => 86_400,
            GroupBy::Week => 7 * 86_400,
            GroupBy::Month => 28 * 86_400,
            GroupBy::Year => 365 * 86_400,
        }
    }
}

/// One report request, validated.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The account.
    pub account_id: i64,
    /// Whose numbers.
    pub scope: Scope,
    /// The inbox, agent or team id (`None` for the account).
    pub id: Option<i64>,
    /// Start of the range, inclusive.
    pub since: DateTime<Utc>,
    /// End of the range, inclusive.
    pub until: DateTime<Utc>,
    /// The local time's offset from UTC, seconds.
    pub offset_seconds: f64,
}

/// One bucket: its local start as Unix seconds, the facts' count and sum.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Bucket {
    pub timestamp: i64,
    pub n: i64,
    pub total: f64,
}

/// A metric per bucket, every bucket from the one holding `since` to the one
/// holding `until` (empty ones included), oldest first.
#[tracing::instrument(skip_all, fields(account_id = q.account_id))]
pub async fn timeseries(
    pool: &PgPool,
    q: &Query,
    metric: Metric,
    group_by: GroupBy,
) -> Result<Vec<Bucket>, sqlx::Error> {
    let sql = format!(
        "with facts as ({facts}), \
         buckets as ( \
           select generate_series( \
             date_trunc($6, ($3 at time zone 'UTC') + make_interval(secs => $5)), \
             date_trunc($6, ($4 at time zone 'UTC') + make_interval(secs => $5)), \
             ('1 ' || $6)::interval) as b) \
         select extract(epoch from ((b - make_interval(secs => $5)) at time zone 'UTC'))::bigint \
                  as timestamp, \
                count(f.t) as n, coalesce(sum(f.v), 0)::float8 as total \
         from buckets left join facts f \
           on date_trunc($6, (f.t at time zone 'UTC') + make_interval(secs => $5)) = b \
         group by b order by b",
        facts = metric.facts(q.scope)
    );
    sqlx::query_as::<_, Bucket>(&sql)
        .bind(q.account_id)
        .bind(q.id)
        .bind(q.since)
        .bind(q.until)
        .bind(q.offset_seconds)
        .bind(group_by.unit())
        .fetch_all(pool)
        .await
}

/// A metric over the whole range: the facts' count and sum.
#[tracing::instrument(skip_all, fields(account_id = q.account_id))]
pub async fn total(pool: &PgPool, q: &Query, metric: Metric) -> Result<(i64, f64), sqlx::Error> {
    let sql = format!(
        "select count(*) as n, coalesce(sum(f.v), 0)::float8 as total from ({facts}) f",
        facts = metric.facts(q.scope)
    );
    sqlx::query_as::<_, (i64, f64)>(&sql)
        .bind(q.account_id)
        .bind(q.id)
        .bind(q.since)
        .bind(q.until)
        .fetch_one(pool)
        .await
}

/// Whether the scope's object exists in the account (an agent: a member).
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn scope_exists(
    pool: &PgPool,
    account_id: i64,
    scope: Scope,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let sql = match scope {
        Scope::Account => return Ok(true),
        Scope::Inbox => {
            "select exists(select 1 from read_model.inboxes where account_id = $1 and id = $2)"
        }
        Scope::Agent => {
            "select exists(select 1 from read_model.account_users \
             where account_id = $1 and user_id = $2)"
        }
        Scope::Team => {
            "select exists(select 1 from read_model.teams where account_id = $1 and id = $2)"
        }
    };
    sqlx::query_scalar(sql)
        .bind(account_id)
        .bind(id)
        .fetch_one(pool)
        .await
}
