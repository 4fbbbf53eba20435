//! The `agent_bots` and `agent_bot_inboxes` tables, and a bot's token.
//!
//! A bot's token row lives in `access_tokens` as `agent_bot`; deleting the
//! bot (or its account, see `delete_account` in [`crate::apply`]) removes it
//! with the bot. An inbox's bot row is written only while the inbox exists,
//! so a connection applied after its account's deletion cannot come back.

use chrono::{DateTime, Utc};
use domain::agent_bot::BotType;
use domain::Attributes;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::apply::ApplyError;

/// A bot row as an event gives it.
pub struct BotRow<'a> {
    /// Bot id.
    pub id: i64,
    /// Owning account, `None` for a global bot.
    pub account_id: Option<i64>,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Where events are posted.
    pub outgoing_url: Option<&'a str>,
    /// Kind of bot.
    pub bot_type: BotType,
    /// Configuration.
    pub bot_config: &'a Attributes,
}

/// Inserts or updates a bot (`created_at` stays the first one).
pub async fn upsert(
    conn: &mut PgConnection,
    bot: &BotRow<'_>,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into agent_bots (id, account_id, name, description, outgoing_url, bot_type, bot_config, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         on conflict (id) do update set account_id = excluded.account_id, name = excluded.name, \
           description = excluded.description, outgoing_url = excluded.outgoing_url, \
           bot_type = excluded.bot_type, bot_config = excluded.bot_config, \
           updated_at = excluded.updated_at",
    )
    .bind(bot.id)
    .bind(bot.account_id)
    .bind(bot.name)
    .bind(bot.description)
    .bind(bot.outgoing_url)
    .bind(bot.bot_type.as_str())
    .bind(Json(bot.bot_config))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The bot, its inbox connections, its token and its grants leave the read model.
pub async fn delete(conn: &mut PgConnection, agent_bot_id: i64) -> Result<(), ApplyError> {
    for statement in [
        "delete from agent_bots where id = $1",
        "delete from agent_bot_inboxes where agent_bot_id = $1",
        "delete from access_tokens where owner_type = 'agent_bot' and owner_id = $1",
        "delete from platform_app_permissibles where target_kind = 'agent_bot' and target_id = $1",
    ] {
        sqlx::query(statement)
            .bind(agent_bot_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Connects a bot to an inbox (while the inbox exists) or disconnects it.
pub async fn set_inbox_bot(
    conn: &mut PgConnection,
    inbox_id: i64,
    account_id: i64,
    agent_bot_id: Option<i64>,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    match agent_bot_id {
        Some(bot) => {
            sqlx::query(
                "insert into agent_bot_inboxes (inbox_id, agent_bot_id, account_id, created_at) \
                 select $1, $2, $3, $4 where exists (select 1 from inboxes where id = $1) \
                 on conflict (inbox_id) do update set agent_bot_id = excluded.agent_bot_id, \
                   created_at = excluded.created_at",
            )
            .bind(inbox_id)
            .bind(bot)
            .bind(account_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query("delete from agent_bot_inboxes where inbox_id = $1")
                .bind(inbox_id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// Statements that remove an account's bots (run before its other rows go):
/// their tokens and grants first, while the bot rows still say which.
pub const DELETE_ACCOUNT: [&str; 4] = [
    "delete from access_tokens where owner_type = 'agent_bot' \
       and owner_id in (select id from agent_bots where account_id = $1)",
    "delete from platform_app_permissibles where target_kind = 'agent_bot' \
       and target_id in (select id from agent_bots where account_id = $1)",
    "delete from agent_bots where account_id = $1",
    "delete from agent_bot_inboxes where account_id = $1",
];
