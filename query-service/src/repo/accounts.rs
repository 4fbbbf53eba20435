//! Accounts, users and memberships.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// A row of `read_model.accounts`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub locale: String,
    pub domain: Option<String>,
    pub support_email: Option<String>,
    pub custom_attributes: Value,
    pub created_at: DateTime<Utc>,
}

/// A row of `read_model.users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub display_name: Option<String>,
    pub email: String,
    pub custom_attributes: Value,
}

/// A row of `read_model.account_users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountUserRow {
    pub id: i64,
    pub account_id: i64,
    pub user_id: i64,
    pub role: String,
    pub inviter_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub active_at: Option<DateTime<Utc>>,
}

/// One of a user's memberships, with the account's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    pub account_user_id: i64,
    pub account_id: i64,
    pub account_name: String,
    pub role: String,
    pub inviter_id: Option<i64>,
    pub active_at: Option<DateTime<Utc>>,
}

/// The account.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn account(pool: &PgPool, account_id: i64) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, locale, domain, support_email, custom_attributes, created_at \
         from read_model.accounts where id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// The user.
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn user(pool: &PgPool, user_id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, display_name, email, custom_attributes from read_model.users where id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

const ACCOUNT_USER_COLUMNS: &str =
    "id, account_id, user_id, role, inviter_id, created_at, updated_at, active_at";

/// One membership of an account.
#[tracing::instrument(skip_all, fields(account_id = account_id, user_id = user_id))]
pub async fn account_user(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<AccountUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ACCOUNT_USER_COLUMNS} from read_model.account_users \
         where account_id = $1 and user_id = $2"
    ))
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// Every membership of an account, oldest first.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn account_users(
    pool: &PgPool,
    account_id: i64,
) -> Result<Vec<AccountUserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ACCOUNT_USER_COLUMNS} from read_model.account_users \
         where account_id = $1 order by id"
    ))
    .bind(account_id)
    .fetch_all(pool)
    .await
}

/// Every membership of a user, oldest first.
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn memberships(pool: &PgPool, user_id: i64) -> Result<Vec<MembershipRow>, sqlx::Error> {
    sqlx::query_as(
        "select au.id as account_user_id, au.account_id, a.name as account_name, au.role, \
                au.inviter_id, au.active_at \
         from read_model.account_users au \
         join read_model.accounts a on a.id = au.account_id \
         where au.user_id = $1 order by au.id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}
