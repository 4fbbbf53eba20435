//! Account webhooks (`read_model.webhooks`) and their delivery log
//! (`webhooks.deliveries`, `webhooks.delivery_attempts`: the delivery
//! process's own tables, which this service may read).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

/// A webhook of `read_model.webhooks`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub account_id: i64,
    pub name: Option<String>,
    pub url: String,
    pub subscriptions: Json<Vec<String>>,
}

const WEBHOOK: &str = "select id, account_id, name, url, subscriptions from read_model.webhooks";

/// The account's webhooks, oldest first.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn webhooks(pool: &PgPool, account_id: i64) -> Result<Vec<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!("{WEBHOOK} where account_id = $1 order by id"))
        .bind(account_id)
        .fetch_all(pool)
        .await
}

/// One webhook of the account.
#[tracing::instrument(skip_all, fields(account_id = account_id, webhook_id = webhook_id))]
pub async fn webhook(
    pool: &PgPool,
    account_id: i64,
    webhook_id: i64,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!("{WEBHOOK} where account_id = $1 and id = $2"))
        .bind(account_id)
        .bind(webhook_id)
        .fetch_optional(pool)
        .await
}

/// One delivery with its attempts (as a JSON array, oldest first).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub event: String,
    pub event_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempt_log: Json<serde_json::Value>,
}

/// Whose delivery log: an account webhook's, an agent bot's or an API
/// inbox's (`webhooks.deliveries` has one column per kind).
#[derive(Debug, Clone, Copy)]
pub enum Receiver {
    /// `webhook_id`.
    Webhook(i64),
    /// `agent_bot_id`.
    AgentBot(i64),
    /// `api_inbox_id`.
    ApiInbox(i64),
}

impl Receiver {
    fn column_and_id(self) -> (&'static str, i64) {
        match self {
            Receiver::Webhook(id) => ("webhook_id", id),
            Receiver::AgentBot(id) => ("agent_bot_id", id),
            Receiver::ApiInbox(id) => ("api_inbox_id", id),
        }
    }
}

/// A page of a receiver's deliveries in the account, newest first,
/// optionally of one status.
#[tracing::instrument(skip_all, fields(account_id = account_id, receiver = ?receiver))]
pub async fn deliveries(
    pool: &PgPool,
    account_id: i64,
    receiver: Receiver,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let (column, receiver_id) = receiver.column_and_id();
    sqlx::query_as(&format!(
        "select d.id, d.event, d.event_id, d.status, d.attempts, d.next_attempt_at, \
           d.last_status_code, d.last_error, d.created_at, d.finished_at, \
           coalesce((select json_agg(json_build_object( \
                'attempt', a.attempt, 'at', a.at, 'status_code', a.status_code, \
                'error', a.error, 'duration_ms', a.duration_ms) order by a.attempt) \
              from webhooks.delivery_attempts a where a.delivery_id = d.id), '[]'::json) \
             as attempt_log \
         from webhooks.deliveries d \
         where d.account_id = $1 and d.{column} = $2 and ($3::text is null or d.status = $3) \
         order by d.created_at desc, d.position desc, d.id \
         limit $4 offset $5"
    ))
    .bind(account_id)
    .bind(receiver_id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}
