//! Lookups behind authentication and authorization: tokens, accounts,
//! memberships and platform-app grants.

use infra::spares::Spares;
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

/// What admitting a token to an account takes.
#[derive(Debug, sqlx::FromRow)]
pub struct Admission {
    /// The token's owner type (`user`, `agent_bot`, `platform_app`).
    pub owner_type: String,
    /// The owner's id.
    pub owner_id: i64,
    /// Whether the account exists.
    pub account_exists: bool,
    /// The owner's role in the account (users who are members only).
    pub role: Option<String>,
    /// The account's read-model generation, if the projection has noted one.
    pub account_generation: Option<i64>,
    /// The generation of the rows of no account (users and the like).
    pub global_generation: Option<i64>,
}

/// Everything admitting a token to an account takes, in one query, with
/// the generations that tell whether a cached page is still current. `None`
/// for an unknown token. Every request runs it, so it runs on a kept
/// connection (`infra::spares`: no second round trip when the connection
/// is given back).
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn admission(
    pool: &PgPool,
    spares: &Spares,
    token_hash: &str,
    account_id: Option<i64>,
) -> Result<Option<Admission>, sqlx::Error> {
    spares
        .fetch_optional(pool, || {
            sqlx::query_as(
                "select t.owner_type, t.owner_id, \
                   exists(select 1 from read_model.accounts a where a.id = $2) as account_exists, \
                   (select m.role from read_model.account_users m \
                     where t.owner_type = 'user' and m.account_id = $2 and m.user_id = t.owner_id) as role, \
                   (select g.generation from read_model.account_generations g \
                     where g.account_id = $2) as account_generation, \
                   (select g.generation from read_model.account_generations g \
                     where g.account_id = 0) as global_generation \
                 from read_model.access_tokens t where t.token_hash = $1",
            )
            .bind(token_hash)
            .bind(account_id)
        })
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
