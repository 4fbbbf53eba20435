//! Account webhooks in `read_model.webhooks`: one row per live webhook. Every
//! statement touches only the webhook's own row and is an idempotent upsert
//! or delete, so order across streams does not matter.

use chrono::{DateTime, Utc};
use domain::Event;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::apply::ApplyError;

/// The read-model change of a webhook event (other events change nothing).
pub async fn apply(
    conn: &mut PgConnection,
    event: &Event,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    match event {
        Event::WebhookCreated {
            webhook_id,
            account_id,
            url,
            name,
            subscriptions,
        }
        | Event::WebhookUpdated {
            webhook_id,
            account_id,
            url,
            name,
            subscriptions,
        } => {
            sqlx::query(
                "insert into webhooks (id, account_id, name, url, subscriptions, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $6) \
                 on conflict (id) do update set name = excluded.name, url = excluded.url, \
                   subscriptions = excluded.subscriptions, updated_at = excluded.updated_at",
            )
            .bind(webhook_id)
            .bind(account_id)
            .bind(name)
            .bind(url)
            .bind(Json(subscriptions))
            .bind(at)
            .execute(conn)
            .await?;
        }
        Event::WebhookDeleted { webhook_id, .. } => {
            sqlx::query("delete from webhooks where id = $1")
                .bind(webhook_id)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}
