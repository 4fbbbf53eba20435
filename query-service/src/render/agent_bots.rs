//! Agent-bot JSON (`_agent_bot.json.jbuilder`, today's fields).
//!
//! The platform API shows a bot whole, with its access token. The account API
//! shows a global bot (no account) without its `outgoing_url` and token, as
//! today's Chatwoot hides them for system bots, and an account's own bot's
//! token only where `reveal_token` (administrators).

use infra::settings::Secret;
use infra::tokens::{self, OwnerType};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::repo::agent_bots::{self, AgentBotRow};

/// Who is looking at a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotView {
    /// A platform app: everything, token included.
    Platform,
    /// A member of an account; `reveal_token` for an own bot (administrators).
    Account {
        /// Show an own bot's access token.
        reveal_token: bool,
    },
    /// An inbox's bot: no token.
    Inbox,
}

/// The bot shape for a viewer.
pub fn agent_bot_shape(b: &AgentBotRow, view: BotView, secret: &Secret) -> Value {
    let global = b.account_id.is_none();
    let mut v = json!({
        "id": b.id,
        "name": b.name,
        "description": b.description,
        "thumbnail": "",
        "bot_type": b.bot_type,
        "bot_config": b.bot_config.0,
        "account_id": b.account_id,
        "system_bot": global,
    });
    let (show_url, show_token) = match view {
        BotView::Platform => (true, true),
        BotView::Account { reveal_token } => (!global, !global && reveal_token),
        BotView::Inbox => (!global, false),
    };
    if show_url {
        v["outgoing_url"] = json!(b.outgoing_url);
    }
    if show_token {
        v["access_token"] = json!(tokens::derive(secret, OwnerType::AgentBot, b.id));
    }
    v
}

/// `GET /platform/api/v1/agent_bots/{id}`: the bot with its token.
pub async fn platform_agent_bot(
    pool: &PgPool,
    secret: &Secret,
    agent_bot_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(agent_bots::bot(pool, agent_bot_id)
        .await?
        .map(|b| agent_bot_shape(&b, BotView::Platform, secret)))
}

/// `GET /api/v1/accounts/{a}/agent_bots/{id}`: an own or global bot.
pub async fn account_agent_bot(
    pool: &PgPool,
    secret: &Secret,
    account_id: i64,
    agent_bot_id: i64,
    reveal_token: bool,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(agent_bots::visible_bot(pool, account_id, agent_bot_id)
        .await?
        .map(|b| agent_bot_shape(&b, BotView::Account { reveal_token }, secret)))
}

/// `GET .../inboxes/{id}/agent_bot`: `{"agent_bot": bot}`, `{"agent_bot": {}}` when none.
pub async fn inbox_agent_bot(
    pool: &PgPool,
    secret: &Secret,
    account_id: i64,
    inbox_id: i64,
) -> Result<Value, sqlx::Error> {
    let bot = agent_bots::inbox_bot(pool, account_id, inbox_id)
        .await?
        .map(|b| agent_bot_shape(&b, BotView::Inbox, secret))
        .unwrap_or_else(|| json!({}));
    Ok(json!({ "agent_bot": bot }))
}
