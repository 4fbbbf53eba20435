//! Webhook delivery: the process that sends the account webhooks' events
//! (docs/webhooks.md).
//!
//! It sits after the relay and the projection worker in the event flow. A
//! durable JetStream consumer of its own ([`consumer`], named `webhooks`)
//! reads the feed in the relay's order; for each event that is a Chatwoot
//! webhook event ([`events`]) it waits until the read model has applied the
//! event (`read_model.stream_versions`), renders the payload from it
//! ([`mod@render`]), and inserts one pending delivery per subscribed webhook
//! into `webhooks.deliveries` together with its checkpoint, in one
//! transaction, before it acks. The [`dispatch`]er sends the pending
//! deliveries: concurrently with a global and a per-webhook cap, each
//! conversation's deliveries to a webhook in log order, with a per-request
//! timeout, an HMAC-SHA256 signature ([`sign`]) and retries with exponential
//! backoff; every attempt is logged. Agent bots with an `outgoing_url` and
//! API inboxes with a `webhook_url` are the other kinds of subscriber
//! ([`Subscriber`]): the bot connected to a conversation's inbox gets its
//! [`events::bot_events`], and an API inbox every conversation and message
//! event of its conversations ([`events::inbox_events`]), the same way.

pub mod consumer;
pub mod dispatch;
pub mod events;
pub mod render;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use infra::Settings;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

/// Tunables; every one has an environment variable (see [`Config::from_env`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Durable consumer name (`WEBHOOK_CONSUMER`, default `webhooks`).
    pub consumer: String,
    /// Per-request timeout (`WEBHOOK_TIMEOUT`, seconds, default 5 as Chatwoot).
    pub timeout: Duration,
    /// Pause after the first failure (`WEBHOOK_FIRST_BACKOFF_MS`, default 10 s);
    /// it doubles after each further failure...
    pub first_backoff: Duration,
    /// ...up to this (`WEBHOOK_MAX_BACKOFF_MS`, default 1 h).
    pub max_backoff: Duration,
    /// Attempts before a delivery is given up as `failed`
    /// (`WEBHOOK_MAX_ATTEMPTS`, default 12, about 3.5 hours).
    pub max_attempts: i32,
    /// Requests in flight at once, overall (`WEBHOOK_CONCURRENCY`, default 32).
    pub concurrency: usize,
    /// Requests in flight at once to one webhook
    /// (`WEBHOOK_PER_WEBHOOK_CONCURRENCY`, default 4): a dead endpoint holds
    /// at most this many of the slots.
    pub per_webhook: usize,
    /// How often the dispatcher looks for due deliveries when nothing woke it.
    pub poll: Duration,
    /// How long an event waits for the read model before it is rendered from
    /// what is there (`WEBHOOK_RENDER_WAIT_MS`, default 30 s).
    pub render_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            consumer: "webhooks".into(),
            timeout: Duration::from_secs(5),
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 12,
            concurrency: 32,
            per_webhook: 4,
            poll: Duration::from_millis(500),
            render_wait: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The defaults, overridden by the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        fn var<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| anyhow::anyhow!("{name} is not a valid number: {v}")),
                _ => Ok(None),
            }
        }
        let mut c = Config::default();
        if let Ok(name) = std::env::var("WEBHOOK_CONSUMER") {
            if !name.trim().is_empty() {
                c.consumer = name.trim().to_owned();
            }
        }
        if let Some(s) = var::<u64>("WEBHOOK_TIMEOUT")? {
            c.timeout = Duration::from_secs(s.max(1));
        }
        if let Some(ms) = var::<u64>("WEBHOOK_FIRST_BACKOFF_MS")? {
            c.first_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = var::<u64>("WEBHOOK_MAX_BACKOFF_MS")? {
            c.max_backoff = Duration::from_millis(ms);
        }
        if let Some(n) = var::<i32>("WEBHOOK_MAX_ATTEMPTS")? {
            c.max_attempts = n.max(1);
        }
        if let Some(n) = var::<usize>("WEBHOOK_CONCURRENCY")? {
            c.concurrency = n.max(1);
        }
        if let Some(n) = var::<usize>("WEBHOOK_PER_WEBHOOK_CONCURRENCY")? {
            c.per_webhook = n.max(1);
        }
        if let Some(ms) = var::<u64>("WEBHOOK_RENDER_WAIT_MS")? {
            c.render_wait = Duration::from_millis(ms);
        }
        Ok(c)
    }

    /// The pause after the `attempts`-th failed attempt (1-based):
    /// `first_backoff * 2^(attempts-1)`, at most `max_backoff`.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.first_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max_backoff)
    }
}

/// The delivery id: the first 16 bytes of SHA-256 over the event id, the
/// webhook id and the webhook event name, so the same event enqueued twice
/// for the same webhook is the same delivery.
pub fn delivery_id(event_id: Uuid, webhook_id: i64, event: &str) -> Uuid {
    let mut h = Sha256::new();
    h.update(event_id.as_bytes());
    h.update(webhook_id.to_be_bytes());
    h.update(event.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Who receives a delivery: an account webhook, an agent bot's
/// `outgoing_url` or an API inbox's `webhook_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subscriber {
    /// `webhooks.deliveries.webhook_id`.
    Webhook(i64),
    /// `webhooks.deliveries.agent_bot_id`.
    AgentBot(i64),
    /// `webhooks.deliveries.api_inbox_id`.
    ApiInbox(i64),
}

impl Subscriber {
    /// The delivery id of `event` for this subscriber: [`delivery_id`] for a
    /// webhook; for a bot or an API inbox the same hash with an
    /// `agent_bot:` or `api_inbox:` prefix, so subscribers of different
    /// kinds with the same id never share a delivery id.
    pub fn delivery_id(self, event_id: Uuid, event: &str) -> Uuid {
        let (prefix, id): (&[u8], i64) = match self {
            Subscriber::Webhook(id) => return delivery_id(event_id, id, event),
            Subscriber::AgentBot(id) => (b"agent_bot:", id),
            Subscriber::ApiInbox(id) => (b"api_inbox:", id),
        };
        let mut h = Sha256::new();
        h.update(prefix);
        h.update(event_id.as_bytes());
        h.update(id.to_be_bytes());
        h.update(event.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// The `(webhook_id, agent_bot_id, api_inbox_id)` columns of a delivery.
    pub fn columns(self) -> (Option<i64>, Option<i64>, Option<i64>) {
        match self {
            Subscriber::Webhook(id) => (Some(id), None, None),
            Subscriber::AgentBot(id) => (None, Some(id), None),
            Subscriber::ApiInbox(id) => (None, None, Some(id)),
        }
    }
}

/// `X-Chatwoot-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the
/// webhook's secret, of `<timestamp>.<body>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // An HMAC accepts a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs the consumer and the dispatcher until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    pool: PgPool,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |rx: &tokio::sync::watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let consumer = tokio::spawn(consumer::run(
        settings.clone(),
        pool.clone(),
        config.clone(),
        wake.clone(),
        stopped(&stop_rx),
    ));
    let dispatcher = tokio::spawn(dispatch::run(pool, config, wake, stopped(&stop_rx)));
    shutdown.await;
    let _ = stop_tx.send(true);
    let (c, d) = tokio::join!(consumer, dispatcher);
    c??;
    d??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = Config {
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            ..Config::default()
        };
        let got: Vec<u64> = (1..=5).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 60, 60]);
        assert_eq!(c.backoff(1000).as_secs(), 60);
    }

    #[test]
    fn delivery_ids_are_stable_and_distinct_per_webhook_and_event() {
        let e = Uuid::new_v4();
        assert_eq!(delivery_id(e, 1, "a"), delivery_id(e, 1, "a"));
        assert_ne!(delivery_id(e, 1, "a"), delivery_id(e, 2, "a"));
        assert_ne!(delivery_id(e, 1, "a"), delivery_id(e, 1, "b"));
    }

    #[test]
    fn bot_and_webhook_deliveries_of_the_same_id_differ() {
        let e = Uuid::new_v4();
        assert_eq!(
            Subscriber::Webhook(5).delivery_id(e, "a"),
            delivery_id(e, 5, "a")
        );
        assert_ne!(
            Subscriber::AgentBot(5).delivery_id(e, "a"),
            Subscriber::Webhook(5).delivery_id(e, "a")
        );
        assert_ne!(
            Subscriber::ApiInbox(5).delivery_id(e, "a"),
            Subscriber::AgentBot(5).delivery_id(e, "a")
        );
    }

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed independently: python3 hmac.new(b"whsec", b'1700000000.{"a":1}', sha256).
        assert_eq!(
            sign("whsec", 1_700_000_000, br#"{"a":1}"#),
            "sha256=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
    }
}
