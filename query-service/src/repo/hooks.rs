//! Integration hooks, with their inbox's name.

use sqlx::types::Json;
use sqlx::PgPool;

/// A hook of `read_model.hooks`, with its inbox's name when it has one.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HookRow {
    pub id: i64,
    pub account_id: i64,
    pub app_id: String,
    pub inbox_id: Option<i64>,
    pub inbox_name: Option<String>,
    pub hook_type: String,
    pub status: bool,
    pub settings: Json<serde_json::Map<String, serde_json::Value>>,
}

const HOOK: &str = "select h.id, h.account_id, h.app_id, h.inbox_id, i.name as inbox_name, \
     h.hook_type, h.status, h.settings \
     from read_model.hooks h left join read_model.inboxes i on i.id = h.inbox_id";

/// The account's hooks, oldest first.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn hooks(pool: &PgPool, account_id: i64) -> Result<Vec<HookRow>, sqlx::Error> {
    sqlx::query_as(&format!("{HOOK} where h.account_id = $1 order by h.id"))
        .bind(account_id)
        .fetch_all(pool)
        .await
}

/// One hook of the account.
#[tracing::instrument(skip_all, fields(account_id = account_id, hook_id = hook_id))]
pub async fn hook(
    pool: &PgPool,
    account_id: i64,
    hook_id: i64,
) -> Result<Option<HookRow>, sqlx::Error> {
    sqlx::query_as(&format!("{HOOK} where h.account_id = $1 and h.id = $2"))
        .bind(account_id)
        .bind(hook_id)
        .fetch_optional(pool)
        .await
}
