//! Integration hooks in `read_model.hooks`: one row per live hook. Every
//! statement touches only the hook's own row and is an idempotent upsert or
//! delete, so order across streams does not matter.

use chrono::{DateTime, Utc};
use domain::Event;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::apply::ApplyError;

/// The read-model change of a hook event (other events change nothing).
pub async fn apply(
    conn: &mut PgConnection,
    event: &Event,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    match event {
        Event::HookCreated {
            hook_id,
            account_id,
            app_id,
            inbox_id,
            hook_type,
            status,
            settings,
        } => {
            sqlx::query(
                "insert into hooks (id, account_id, app_id, inbox_id, hook_type, status, settings, \
                   created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 on conflict (id) do nothing",
            )
            .bind(hook_id)
            .bind(account_id)
            .bind(app_id)
            .bind(inbox_id)
            .bind(hook_type)
            .bind(status)
            .bind(Json(settings))
            .bind(at)
            .execute(conn)
            .await?;
        }
        Event::HookUpdated {
            hook_id,
            status,
            settings,
            ..
        } => {
            sqlx::query(
                "update hooks set status = $2, settings = $3, updated_at = $4 where id = $1",
            )
            .bind(hook_id)
            .bind(status)
            .bind(Json(settings))
            .bind(at)
            .execute(conn)
            .await?;
        }
        Event::HookDeleted { hook_id, .. } => {
            sqlx::query("delete from hooks where id = $1")
                .bind(hook_id)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}
