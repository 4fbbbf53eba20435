//! Write-side facts about agent bots, the bot of each inbox, and SSO tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Records a new bot.
pub async fn insert_bot(
    conn: &mut PgConnection,
    agent_bot_id: i64,
    account_id: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into write_model.agent_bots (id, account_id) values ($1, $2)")
        .bind(agent_bot_id)
        .bind(account_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A live bot: `Some(account id or None for a global bot)`, or `None` if there is none.
pub async fn bot(
    conn: &mut PgConnection,
    agent_bot_id: i64,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    sqlx::query_scalar(
        "select account_id from write_model.agent_bots where id = $1 and not deleted",
    )
    .bind(agent_bot_id)
    .fetch_optional(conn)
    .await
}

/// Marks a bot deleted and forgets its token and grants.
pub async fn delete_bot(conn: &mut PgConnection, agent_bot_id: i64) -> Result<(), sqlx::Error> {
    for statement in [
        "update write_model.agent_bots set deleted = true where id = $1",
        "delete from write_model.access_tokens where owner_type = 'agent_bot' and owner_id = $1",
        "delete from write_model.platform_grants where target_kind = 'agent_bot' and target_id = $1",
    ] {
        sqlx::query(statement)
            .bind(agent_bot_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The inboxes a bot is connected to.
pub async fn inboxes_of_bot(
    conn: &mut PgConnection,
    agent_bot_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("select id from write_model.inboxes where agent_bot_id = $1 order by id")
        .bind(agent_bot_id)
        .fetch_all(conn)
        .await
}

/// Connects a bot to an inbox, or disconnects (`None`).
pub async fn set_inbox_bot(
    conn: &mut PgConnection,
    inbox_id: i64,
    agent_bot_id: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update write_model.inboxes set agent_bot_id = $2, has_agent_bot = ($2 is not null) where id = $1",
    )
    .bind(inbox_id)
    .bind(agent_bot_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// An account's bots go with it: deleted, their tokens and grants forgotten,
/// and every bot disconnected from its inboxes.
pub async fn delete_account_bots(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<(), sqlx::Error> {
    for statement in [
        "delete from write_model.access_tokens where owner_type = 'agent_bot' \
           and owner_id in (select id from write_model.agent_bots where account_id = $1)",
        "delete from write_model.platform_grants where target_kind = 'agent_bot' \
           and target_id in (select id from write_model.agent_bots where account_id = $1)",
        "update write_model.agent_bots set deleted = true where account_id = $1",
        "update write_model.inboxes set agent_bot_id = null, has_agent_bot = false where account_id = $1",
    ] {
        sqlx::query(statement)
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Records an SSO token's hash, redeemable until `expires_at`.
pub async fn insert_sso_token(
    conn: &mut PgConnection,
    token_hash: &str,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.sso_tokens (token_hash, user_id, expires_at) values ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Redeems an SSO token for the live user with that e-mail: marks it used
/// and answers the user id, or `None` if it is unknown, used, expired or
/// another user's. One statement, so two redemptions cannot both succeed.
pub async fn redeem_sso_token(
    pool: &PgPool,
    token_hash: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "update write_model.sso_tokens t set used_at = $3 \
         from write_model.users u \
         where t.token_hash = $1 and t.used_at is null and t.expires_at > $3 \
           and u.id = t.user_id and not u.deleted and u.email = $2 \
         returning t.user_id",
    )
    .bind(token_hash)
    .bind(email)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// A deleted user's SSO tokens go with them.
pub async fn delete_user_sso_tokens(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from write_model.sso_tokens where user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A live user's e-mail.
pub async fn user_email(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select email from write_model.users where id = $1 and not deleted")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}
