//! Inboxes and who may see them.

use domain::inbox::{Channel, InboxSettings};
use sqlx::types::Json;
use sqlx::PgPool;

use super::InboxScope;

/// A row of `read_model.inboxes`; `channel` and `settings` hold the domain's serde.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub id: i64,
    pub channel_id: i64,
    pub channel_type: String,
    pub name: String,
    pub channel: Json<Channel>,
    pub settings: Json<InboxSettings>,
}

/// The columns of [`InboxRow`], for queries that alias `read_model.inboxes` as `i`.
pub const INBOX_COLUMNS: &str = "i.id, i.channel_id, i.channel_type, i.name, i.channel, i.settings";

/// One inbox of the account.
#[tracing::instrument(skip_all, fields(account_id = account_id, inbox_id = inbox_id))]
pub async fn inbox(
    pool: &PgPool,
    account_id: i64,
    inbox_id: i64,
) -> Result<Option<InboxRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {INBOX_COLUMNS} from read_model.inboxes i where i.account_id = $1 and i.id = $2"
    ))
    .bind(account_id)
    .bind(inbox_id)
    .fetch_optional(pool)
    .await
}

/// The account's inboxes the scope sees, by lower(name).
#[tracing::instrument(skip_all, fields(account_id = account_id, scope = ?scope))]
pub async fn visible(
    pool: &PgPool,
    account_id: i64,
    scope: InboxScope,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {INBOX_COLUMNS} from read_model.inboxes i \
         where i.account_id = $1 \
           and ($2 or i.id in (select m.inbox_id from read_model.inbox_members m \
                               where m.account_id = $1 and m.user_id = $3)) \
         order by lower(i.name), i.id"
    ))
    .bind(account_id)
    .bind(scope.unrestricted())
    .bind(scope.member())
    .fetch_all(pool)
    .await
}

/// Whether the user is a member of the inbox.
#[tracing::instrument(skip_all, fields(inbox_id = inbox_id, user_id = user_id))]
pub async fn is_member(pool: &PgPool, inbox_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from read_model.inbox_members where inbox_id = $1 and user_id = $2)",
    )
    .bind(inbox_id)
    .bind(user_id)
    .fetch_one(pool)
    .await
}
