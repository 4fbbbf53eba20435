//! Write-side lookups for integration hooks: which account a hook belongs to
//! is in its stream; what needs a query across hooks lives here (one hook per
//! account for single-hook apps, held by the unique index
//! `hooks_single_app_key`).

use sqlx::PgConnection;

/// Whether the account already has a hook of the app.
pub async fn app_has_hook(
    conn: &mut PgConnection,
    account_id: i64,
    app_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.hooks where account_id = $1 and app_id = $2)",
    )
    .bind(account_id)
    .bind(app_id)
    .fetch_one(conn)
    .await
}

/// Records a new hook.
pub async fn insert_hook(
    conn: &mut PgConnection,
    hook_id: i64,
    account_id: i64,
    app_id: &str,
    inbox_id: Option<i64>,
    single: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.hooks (id, account_id, app_id, inbox_id, single) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(hook_id)
    .bind(account_id)
    .bind(app_id)
    .bind(inbox_id)
    .bind(single)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets a hook.
pub async fn delete_hook(conn: &mut PgConnection, hook_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from write_model.hooks where id = $1")
        .bind(hook_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether the inbox has a hook of the app (a dialogflow hook makes new
/// conversations start with the bot, as Chatwoot does).
pub async fn inbox_has_app(
    conn: &mut PgConnection,
    inbox_id: i64,
    app_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.hooks where inbox_id = $1 and app_id = $2)",
    )
    .bind(inbox_id)
    .bind(app_id)
    .fetch_one(conn)
    .await
}
