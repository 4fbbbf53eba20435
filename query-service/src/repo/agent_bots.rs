//! Agent bots and the bot connected to each inbox.

use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;

/// A bot as its shapes need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentBotRow {
    pub id: i64,
    pub account_id: Option<i64>,
    pub name: String,
    pub description: Option<String>,
    pub outgoing_url: Option<String>,
    pub bot_type: String,
    pub bot_config: Json<Value>,
}

const BOT: &str = "select b.id, b.account_id, b.name, b.description, b.outgoing_url, \
     b.bot_type, b.bot_config from read_model.agent_bots b";

/// One bot, whoever owns it.
#[tracing::instrument(skip_all, fields(agent_bot_id = agent_bot_id))]
pub async fn bot(pool: &PgPool, agent_bot_id: i64) -> Result<Option<AgentBotRow>, sqlx::Error> {
    sqlx::query_as(&format!("{BOT} where b.id = $1"))
        .bind(agent_bot_id)
        .fetch_optional(pool)
        .await
}

/// The bots a platform app was granted, by id.
#[tracing::instrument(skip_all, fields(app_id = app_id))]
pub async fn granted(pool: &PgPool, app_id: i64) -> Result<Vec<AgentBotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{BOT} join read_model.platform_app_permissibles p \
           on p.target_kind = 'agent_bot' and p.target_id = b.id and p.app_id = $1 \
         order by b.id"
    ))
    .bind(app_id)
    .fetch_all(pool)
    .await
}

/// The bots an account sees: its own and the global ones, by id.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn visible(pool: &PgPool, account_id: i64) -> Result<Vec<AgentBotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{BOT} where b.account_id = $1 or b.account_id is null order by b.id"
    ))
    .bind(account_id)
    .fetch_all(pool)
    .await
}

/// One bot the account sees (its own or a global one).
#[tracing::instrument(skip_all, fields(account_id = account_id, agent_bot_id = agent_bot_id))]
pub async fn visible_bot(
    pool: &PgPool,
    account_id: i64,
    agent_bot_id: i64,
) -> Result<Option<AgentBotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{BOT} where b.id = $2 and (b.account_id = $1 or b.account_id is null)"
    ))
    .bind(account_id)
    .bind(agent_bot_id)
    .fetch_optional(pool)
    .await
}

/// The bot connected to an inbox of the account, if any.
#[tracing::instrument(skip_all, fields(account_id = account_id, inbox_id = inbox_id))]
pub async fn inbox_bot(
    pool: &PgPool,
    account_id: i64,
    inbox_id: i64,
) -> Result<Option<AgentBotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{BOT} join read_model.agent_bot_inboxes i on i.agent_bot_id = b.id \
         where i.account_id = $1 and i.inbox_id = $2"
    ))
    .bind(account_id)
    .bind(inbox_id)
    .fetch_optional(pool)
    .await
}
