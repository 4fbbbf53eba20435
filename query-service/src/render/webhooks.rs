//! Account webhooks (Chatwoot's `api/v1/models/_webhook` partial) and our
//! delivery log.

use chrono::SecondsFormat;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::repo::webhooks::{self, DeliveryRow, WebhookRow};

/// `{id, name, url, account_id, subscriptions}`.
pub fn webhook_shape(w: &WebhookRow) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "url": w.url,
        "account_id": w.account_id,
        "subscriptions": w.subscriptions.0,
    })
}

/// One webhook of the account, bare (the write answers wrap it in
/// `{payload: {webhook: ...}}`).
pub async fn webhook(
    pool: &PgPool,
    account_id: i64,
    webhook_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(webhooks::webhook(pool, account_id, webhook_id)
        .await?
        .map(|w| webhook_shape(&w)))
}

/// A delivery of the log: id (the `X-Chatwoot-Delivery` header), event,
/// status, attempts with their outcome.
pub fn delivery_shape(d: &DeliveryRow) -> Value {
    let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "id": d.id,
        "event": d.event,
        "event_id": d.event_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": (d.status == "pending").then(|| iso(d.next_attempt_at)),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": iso(d.created_at),
        "finished_at": d.finished_at.map(iso),
        "attempt_log": d.attempt_log.0,
    })
}
