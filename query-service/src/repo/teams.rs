//! Teams, their members, inbox members, and agents in the agent shape.

use sqlx::PgPool;

/// A team with whether the caller is one of its members.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub allow_auto_assign: bool,
    pub is_member: bool,
}

/// A member of an account, as the agent shape needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub display_name: Option<String>,
    pub email: String,
    pub role: String,
}

const TEAM: &str = "select t.id, t.account_id, t.name, t.description, t.allow_auto_assign, \
     exists(select 1 from read_model.team_members m where m.team_id = t.id and m.user_id = $2) as is_member \
     from read_model.teams t";

const AGENT: &str = "select u.id, au.account_id, u.name, u.display_name, u.email, au.role \
     from read_model.account_users au join read_model.users u on u.id = au.user_id";

/// The account's teams, oldest first; `is_member` for `user_id`.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn teams(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Vec<TeamRow>, sqlx::Error> {
    sqlx::query_as(&format!("{TEAM} where t.account_id = $1 order by t.id"))
        .bind(account_id)
        .bind(user_id)
        .fetch_all(pool)
        .await
}

/// One team of the account; `is_member` for `user_id`.
#[tracing::instrument(skip_all, fields(account_id = account_id, team_id = team_id))]
pub async fn team(
    pool: &PgPool,
    account_id: i64,
    team_id: i64,
    user_id: i64,
) -> Result<Option<TeamRow>, sqlx::Error> {
    sqlx::query_as(&format!("{TEAM} where t.account_id = $1 and t.id = $3"))
        .bind(account_id)
        .bind(user_id)
        .bind(team_id)
        .fetch_optional(pool)
        .await
}

/// Teams by id (any account: the caller passes ids it read from its account's rows).
pub async fn teams_by_ids(pool: &PgPool, ids: &[i64]) -> Result<Vec<TeamRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{TEAM} where {} order by t.id",
        super::any_id("t.id", 1, ids)
    ))
    .bind(ids)
    .bind(0_i64)
    .fetch_all(pool)
    .await
}

/// The team's members who are members of the account, by user id; only
/// those in `only` when given.
#[tracing::instrument(skip_all, fields(account_id = account_id, team_id = team_id))]
pub async fn team_members(
    pool: &PgPool,
    account_id: i64,
    team_id: i64,
    only: Option<&[i64]>,
) -> Result<Vec<AgentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{AGENT} join read_model.team_members m on m.user_id = au.user_id and m.team_id = $2 \
         where au.account_id = $1 and ($3::bigint[] is null or au.user_id = any($3)) order by u.id"
    ))
    .bind(account_id)
    .bind(team_id)
    .bind(only)
    .fetch_all(pool)
    .await
}

/// The inbox's members who are members of the account, by user id.
#[tracing::instrument(skip_all, fields(account_id = account_id, inbox_id = inbox_id))]
pub async fn inbox_members(
    pool: &PgPool,
    account_id: i64,
    inbox_id: i64,
) -> Result<Vec<AgentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{AGENT} join read_model.inbox_members m on m.user_id = au.user_id and m.inbox_id = $2 \
         where au.account_id = $1 order by u.id"
    ))
    .bind(account_id)
    .bind(inbox_id)
    .fetch_all(pool)
    .await
}

/// One member of the account.
pub async fn agent(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<AgentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{AGENT} where au.account_id = $1 and au.user_id = $2"
    ))
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}
