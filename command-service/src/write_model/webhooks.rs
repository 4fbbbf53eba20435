//! Write-side state of account webhooks: the URL, unique in the account
//! (held by the unique index `webhooks_account_url_key`), and the signing
//! secret, which is kept here and nowhere else (not in the event log, not in
//! the read model).

use sqlx::PgConnection;

/// Whether another webhook of the account has this URL.
pub async fn url_taken(
    conn: &mut PgConnection,
    account_id: i64,
    url: &str,
    except: Option<i64>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.webhooks \
         where account_id = $1 and url = $2 and id is distinct from $3)",
    )
    .bind(account_id)
    .bind(url)
    .bind(except)
    .fetch_one(conn)
    .await
}

/// Records a new webhook with its secret.
pub async fn insert(
    conn: &mut PgConnection,
    webhook_id: i64,
    account_id: i64,
    url: &str,
    secret: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.webhooks (id, account_id, url, secret) values ($1, $2, $3, $4)",
    )
    .bind(webhook_id)
    .bind(account_id)
    .bind(url)
    .bind(secret)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Changes a webhook's URL.
pub async fn set_url(
    conn: &mut PgConnection,
    webhook_id: i64,
    url: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update write_model.webhooks set url = $2 where id = $1")
        .bind(webhook_id)
        .bind(url)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Forgets a webhook (and its secret).
pub async fn delete(conn: &mut PgConnection, webhook_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from write_model.webhooks where id = $1")
        .bind(webhook_id)
        .execute(conn)
        .await
        .map(|_| ())
}
