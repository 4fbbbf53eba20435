//! Sends pending deliveries.
//!
//! A loop picks the *due heads*: pending deliveries whose time has come and
//! that have no earlier pending delivery in their lane (same webhook, same
//! conversation/contact/inbox). Each runs as its own task, at most
//! `concurrency` at once overall and `per_webhook` at once per webhook, so a
//! slow or dead endpoint (every request to it waits out the timeout) holds a
//! few slots and never the others' lanes. A delivery that fails is retried
//! after an exponential backoff and holds back only the later deliveries of
//! its own lane; after `max_attempts` it is given up (`failed`) and its lane
//! moves on. Every attempt lands in `webhooks.delivery_attempts`. The loop
//! runs when the consumer enqueued something, when a delivery finished, or
//! every `poll`. One dispatcher per consumer name sends (an advisory lock,
//! [`DISPATCH_LOCK`]); another process's waits, so two processes do not send
//! the same deliveries.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::consumer::wait_to_lead;
use crate::{sign, Config, Subscriber};

/// Advisory-lock class of the dispatcher ("whkd"); the key is the hash of
/// the consumer's name.
pub const DISPATCH_LOCK: i32 = 0x7768_6b64;

/// A due head, as the loop reads it.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    id: Uuid,
    webhook_id: Option<i64>,
    agent_bot_id: Option<i64>,
    api_inbox_id: Option<i64>,
    event: String,
    payload: serde_json::Value,
    attempts: i32,
}

/// How one attempt ended.
struct Outcome {
    status_code: Option<i32>,
    error: Option<String>,
}

impl Due {
    fn subscriber(&self) -> Subscriber {
        match (self.webhook_id, self.agent_bot_id, self.api_inbox_id) {
            (Some(id), _, _) => Subscriber::Webhook(id),
            (None, Some(id), _) => Subscriber::AgentBot(id),
            (None, None, Some(id)) => Subscriber::ApiInbox(id),
            // The table's check forbids it; a webhook id that matches none.
            (None, None, None) => Subscriber::Webhook(0),
        }
    }
}

impl Outcome {
    fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends deliveries until `shutdown` resolves, then waits for the requests
/// in flight (each ends by its timeout at the latest).
pub async fn run(
    pool: PgPool,
    config: Config,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let shutdown = shutdown.fuse();
    let mut shutdown = std::pin::pin!(shutdown);
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("chatwoot-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut lock_conn = tokio::select! {
        biased;
        _ = &mut shutdown => return Ok(()),
        conn = wait_to_lead(&pool, DISPATCH_LOCK, &config.consumer) => conn,
    };
    let mut tasks: JoinSet<(Uuid, Subscriber)> = JoinSet::new();
    let mut in_flight: HashSet<Uuid> = HashSet::new();
    let mut per_webhook: HashMap<Subscriber, usize> = HashMap::new();
    loop {
        // Still the one dispatcher? If the lock's connection broke, finish
        // what is in flight and wait to lead again.
        if sqlx::Executor::execute(&mut lock_conn, "select 1")
            .await
            .is_err()
        {
            tracing::warn!("lost the dispatcher lock; waiting to lead again");
            while let Some(done) = tasks.join_next().await {
                finished(done, &mut in_flight, &mut per_webhook);
            }
            lock_conn = tokio::select! {
                biased;
                _ = &mut shutdown => return Ok(()),
                conn = wait_to_lead(&pool, DISPATCH_LOCK, &config.consumer) => conn,
            };
        }
        if in_flight.len() < config.concurrency {
            match due(&pool, 4 * config.concurrency).await {
                Ok(list) => {
                    for d in list {
                        if in_flight.len() >= config.concurrency {
                            break;
                        }
                        let subscriber = d.subscriber();
                        let busy = per_webhook.get(&subscriber).copied().unwrap_or(0);
                        if in_flight.contains(&d.id) || busy >= config.per_webhook {
                            continue;
                        }
                        in_flight.insert(d.id);
                        *per_webhook.entry(subscriber).or_default() += 1;
                        let (pool, client, config) = (pool.clone(), client.clone(), config.clone());
                        tasks.spawn(async move {
                            let id = d.id;
                            if let Err(e) = deliver(&pool, &client, &config, d).await {
                                tracing::warn!(error = %e, delivery = %id, "recording a delivery failed; it will be tried again");
                            }
                            (id, subscriber)
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read due deliveries"),
            }
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                finished(done, &mut in_flight, &mut per_webhook);
                // Whatever else finished meanwhile, before looking again.
                while let Some(Some(done)) = tasks.join_next().now_or_never() {
                    finished(done, &mut in_flight, &mut per_webhook);
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll) => {}
        }
    }
    while let Some(done) = tasks.join_next().await {
        finished(done, &mut in_flight, &mut per_webhook);
    }
    Ok(())
}

fn finished(
    done: Result<(Uuid, Subscriber), tokio::task::JoinError>,
    in_flight: &mut HashSet<Uuid>,
    per_webhook: &mut HashMap<Subscriber, usize>,
) {
    match done {
        Ok((id, webhook_id)) => {
            in_flight.remove(&id);
            if let Some(n) = per_webhook.get_mut(&webhook_id) {
                *n = n.saturating_sub(1);
            }
        }
        Err(e) => {
            // A task that panicked: forget every slot bookkeeping could
            // have lost (the delivery itself stays pending in Postgres).
            tracing::error!(error = %e, "a delivery task failed");
            in_flight.clear();
            per_webhook.clear();
        }
    }
}

/// Due heads of their lanes, oldest first.
async fn due(pool: &PgPool, limit: usize) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "select d.id, d.webhook_id, d.agent_bot_id, d.api_inbox_id, d.event, d.payload, d.attempts \
         from webhooks.deliveries d \
         where d.status = 'pending' and d.next_attempt_at <= now() \
           and not exists (select 1 from webhooks.deliveries e \
             where e.status = 'pending' and e.lane = d.lane \
               and (e.webhook_id = d.webhook_id or e.agent_bot_id = d.agent_bot_id \
                    or e.api_inbox_id = d.api_inbox_id) \
               and (e.position, e.ordinal) < (d.position, d.ordinal)) \
         order by d.next_attempt_at, d.position, d.ordinal \
         limit $1",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

/// One attempt of one delivery, recorded.
async fn deliver(
    pool: &PgPool,
    client: &reqwest::Client,
    config: &Config,
    d: Due,
) -> Result<(), sqlx::Error> {
    let target: Option<(String, Option<String>)> =
        match d.subscriber() {
            Subscriber::Webhook(id) => {
                sqlx::query_as(
                    "select w.url, s.secret from read_model.webhooks w \
                 join write_model.webhooks s on s.id = w.id where w.id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?
            }
            // A bot's deliveries are signed with its access token's SHA-256 (hex),
            // the form write_model.access_tokens keeps.
            Subscriber::AgentBot(id) => {
                sqlx::query_as(
                    "select b.outgoing_url, t.token_hash from read_model.agent_bots b \
                 left join write_model.access_tokens t \
                   on t.owner_type = 'agent_bot' and t.owner_id = b.id \
                 where b.id = $1 and coalesce(b.outgoing_url, '') <> ''",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?
            }
            // An API inbox's deliveries are signed with the channel's
            // `hmac_token`, which administrators read from the inbox.
            Subscriber::ApiInbox(id) => sqlx::query_as(
                "select channel->>'webhook_url', channel->>'hmac_token' from read_model.inboxes \
                 where id = $1 and channel_type = 'Channel::Api' \
                   and coalesce(channel->>'webhook_url', '') <> ''",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?,
        };
    let started = Instant::now();
    let (outcome, give_up) = match target {
        None => (
            Outcome {
                status_code: None,
                error: Some(match d.subscriber() {
                    Subscriber::Webhook(_) => "the webhook was deleted".into(),
                    Subscriber::AgentBot(_) => {
                        "the agent bot was deleted or has no outgoing_url".into()
                    }
                    Subscriber::ApiInbox(_) => "the inbox was deleted or has no webhook_url".into(),
                }),
            },
            true,
        ),
        Some((url, secret)) => {
            let outcome = send(client, &url, secret.as_deref(), &d).await;
            let give_up = !outcome.ok() && d.attempts + 1 >= config.max_attempts;
            (outcome, give_up)
        }
    };
    let elapsed = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let attempt = d.attempts + 1;
    let status = if outcome.ok() {
        "delivered"
    } else if give_up {
        "failed"
    } else {
        "pending"
    };
    let retry_in = config.backoff(attempt);
    let mut tx = pool.begin().await?;
    sqlx::query(
        "insert into webhooks.delivery_attempts (delivery_id, attempt, status_code, error, duration_ms) \
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(d.id)
    .bind(attempt)
    .bind(outcome.status_code)
    .bind(&outcome.error)
    .bind(elapsed)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update webhooks.deliveries set status = $2, attempts = $3, last_status_code = $4, \
           last_error = $5, \
           next_attempt_at = case when $2 = 'pending' then now() + $6 * interval '1 millisecond' \
                                  else next_attempt_at end, \
           finished_at = case when $2 = 'pending' then null else now() end \
         where id = $1",
    )
    .bind(d.id)
    .bind(status)
    .bind(attempt)
    .bind(outcome.status_code)
    .bind(&outcome.error)
    .bind(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    match status {
        "delivered" => tracing::debug!(delivery = %d.id, attempt, "delivered"),
        "failed" => {
            tracing::warn!(delivery = %d.id, attempt, error = ?outcome.error, "gave up a delivery")
        }
        _ => {
            tracing::info!(delivery = %d.id, attempt, error = ?outcome.error, retry_in_ms = retry_in.as_millis() as u64, "a delivery failed; retrying later")
        }
    }
    Ok(())
}

/// POSTs the payload with its headers; 2xx is success.
async fn send(client: &reqwest::Client, url: &str, secret: Option<&str>, d: &Due) -> Outcome {
    let body = match serde_json::to_vec(&d.payload) {
        Ok(b) => b,
        Err(e) => {
            return Outcome {
                status_code: None,
                error: Some(format!("cannot serialise the payload: {e}")),
            }
        }
    };
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Chatwoot-Delivery", d.id.to_string())
        .header("X-Chatwoot-Event", d.event.as_str());
    if let Some(secret) = secret {
        request = request
            .header("X-Chatwoot-Timestamp", timestamp.to_string())
            .header("X-Chatwoot-Signature", sign(secret, timestamp, &body));
    }
    let request = request.body(body);
    match request.send().await {
        Ok(response) if response.status().is_success() => Outcome {
            status_code: Some(i32::from(response.status().as_u16())),
            error: None,
        },
        Ok(response) => Outcome {
            status_code: Some(i32::from(response.status().as_u16())),
            error: Some(format!("HTTP {}", response.status())),
        },
        Err(e) if e.is_timeout() => Outcome {
            status_code: None,
            error: Some("timed out".into()),
        },
        Err(e) => Outcome {
            status_code: None,
            error: Some(format!("request failed: {e}")),
        },
    }
}
