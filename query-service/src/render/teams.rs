//! Team, team-member, inbox-member and agent JSON.

use serde_json::{json, Value};
use sqlx::PgPool;

use super::available_name;
use crate::repo::teams::{self, AgentRow, TeamRow};

/// The agent shape (`AV/models/_agent.json.jbuilder`).
pub fn agent_shape(a: &AgentRow) -> Value {
    json!({
        "id": a.id,
        "account_id": a.account_id,
        "name": a.name,
        "available_name": available_name(&a.name, a.display_name.as_deref()),
        "email": a.email,
        "role": a.role,
        "confirmed": true,
        "availability_status": "offline",
        "thumbnail": "",
    })
}

/// The team shape; `is_member` only where the caller is known.
pub fn team_shape(t: &TeamRow, with_is_member: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "allow_auto_assign": t.allow_auto_assign,
        "account_id": t.account_id,
    });
    if with_is_member {
        v["is_member"] = json!(t.is_member);
    }
    v
}

/// One team of the account, `is_member` for `user_id`.
pub async fn team(
    pool: &PgPool,
    account_id: i64,
    team_id: i64,
    user_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(teams::team(pool, account_id, team_id, user_id)
        .await?
        .map(|t| team_shape(&t, true)))
}

/// The team's members (only those in `only`, when given) as agents.
pub async fn team_members(
    pool: &PgPool,
    account_id: i64,
    team_id: i64,
    only: Option<&[i64]>,
) -> Result<Option<Value>, sqlx::Error> {
    let rows = teams::team_members(pool, account_id, team_id, only).await?;
    Ok(Some(Value::Array(rows.iter().map(agent_shape).collect())))
}

/// `{"payload": [agents]}`: the inbox's members.
pub async fn inbox_members(
    pool: &PgPool,
    account_id: i64,
    inbox_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let rows = teams::inbox_members(pool, account_id, inbox_id).await?;
    let payload: Vec<Value> = rows.iter().map(agent_shape).collect();
    Ok(Some(json!({ "payload": payload })))
}

/// A member of the account in the agent shape.
pub async fn agent(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(teams::agent(pool, account_id, user_id)
        .await?
        .as_ref()
        .map(agent_shape))
}
