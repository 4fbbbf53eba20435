//! Team, team-member, inbox-member and agent JSON.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::{available_name, tree};
use crate::repo::teams::{self, AgentRow, TeamRow};

/// The agent shape (`AV/models/_agent.json.jbuilder`): a member of the
/// account, as listed among a team's or an inbox's members and as a
/// conversation's assignee.
#[derive(Serialize)]
pub(crate) struct AgentView<'a> {
    id: i64,
    account_id: i64,
    name: &'a str,
    available_name: &'a str,
    email: Option<&'a str>,
    role: Option<&'a str>,
    confirmed: bool,
    availability_status: &'static str,
    thumbnail: &'static str,
}

impl<'a> AgentView<'a> {
    /// The member's JSON; `available_name` is derived from the two names.
    pub(crate) fn new(
        id: i64,
        account_id: i64,
        name: &'a str,
        display_name: Option<&'a str>,
        email: Option<&'a str>,
        role: Option<&'a str>,
    ) -> Self {
        AgentView {
            id,
            account_id,
            name,
            available_name: available_name(name, display_name),
            email,
            role,
            confirmed: true,
            availability_status: "offline",
            thumbnail: "",
        }
    }
}

/// An agent row in the agent shape.
pub(crate) fn agent_shape(a: &AgentRow) -> AgentView<'_> {
    AgentView::new(
        a.id,
        a.account_id,
        &a.name,
        a.display_name.as_deref(),
        Some(&a.email),
        Some(&a.role),
    )
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
    tree(rows.iter().map(agent_shape).collect::<Vec<_>>()).map(Some)
}

/// `{"payload": [agents]}`: the inbox's members.
pub async fn inbox_members(
    pool: &PgPool,
    account_id: i64,
    inbox_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let rows = teams::inbox_members(pool, account_id, inbox_id).await?;
    let payload = tree(rows.iter().map(agent_shape).collect::<Vec<_>>())?;
    Ok(Some(json!({ "payload": payload })))
}

/// A member of the account in the agent shape.
pub async fn agent(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    teams::agent(pool, account_id, user_id)
        .await?
        .as_ref()
        .map(|a| tree(agent_shape(a)))
        .transpose()
}
