//! Lookups behind authentication and authorization: tokens, accounts,
//! memberships and platform-app grants.

use sqlx::PgPool;

/// The owner of a token, by the token's SHA-256: `(owner type, owner id)`.
#[tracing::instrument(skip_all)]
pub async fn token_owner(
    pool: &PgPool,
    token_hash: &str,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select owner_type, owner_id from read_model.access_tokens where token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// Whether the account exists.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn account_exists(pool: &PgPool, account_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from read_model.accounts where id = $1)")
        .bind(account_id)
        .fetch_one(pool)
        .await
}

/// Whether the user exists.
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn user_exists(pool: &PgPool, user_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from read_model.users where id = $1)")
        .bind(user_id)
        .fetch_one(pool)
        .await
}

/// The user's role in the account, if they are a member.
#[tracing::instrument(skip_all, fields(account_id = account_id, user_id = user_id))]
pub async fn member_role(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select role from read_model.account_users where account_id = $1 and user_id = $2",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// Whether a platform app was granted an object (`kind`: account, user, agent_bot).
#[tracing::instrument(skip_all, fields(app_id = app_id, kind = kind, target_id = target_id))]
pub async fn is_granted(
    pool: &PgPool,
    app_id: i64,
    kind: &str,
    target_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from read_model.platform_app_permissibles \
         where app_id = $1 and target_kind = $2 and target_id = $3)",
    )
    .bind(app_id)
    .bind(kind)
    .bind(target_id)
    .fetch_one(pool)
    .await
}
