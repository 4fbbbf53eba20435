//! The durable JetStream consumer that turns the event feed into pending
//! deliveries.
//!
//! Like the projection worker (`projections::worker`), it resumes from its
//! own checkpoint (`webhooks.consumer_state`): on every (re)subscription the
//! durable consumer is recreated to deliver from the next stream sequence,
//! and only one process per consumer name works (an advisory lock; the
//! others stand by). Messages are handled in feed order, in batches of
//! whatever has arrived (up to [`BATCH`]): the deliveries of a batch and the
//! checkpoint commit together, one commit per batch that enqueues any (a
//! batch that enqueues none writes its checkpoint only when one is due,
//! [`CHECKPOINT_EVERY`]), then the batch is
//! acked with one double ack of its last message (the consumer acks all:
//! an ack covers every message before it). A crash between commit and ack
//! means a redelivery, which inserts nothing new (deliveries have
//! deterministic ids).
//! A transient failure (Postgres down) retries the same batch after a
//! backoff without moving on; a message that is not a readable event is
//! logged and skipped.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, AckKind};
use domain::Event;
use futures::future::join_all;
use futures::{FutureExt, StreamExt};
use infra::envelope::Envelope;
use infra::Settings;
use query_service::render::BlobUrls;
use sqlx::types::Json;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::Notify;

use crate::events::{bot_events, inbox_events, webhook_events, WebhookEvent};
use crate::{render, Config, Subscriber};

/// Advisory-lock class of the consumer ("whks"); the key is the hash of the
/// consumer's name.
pub const CONSUMER_LOCK: i32 = 0x7768_6b73;
const STANDBY_RETRY: Duration = Duration::from_millis(500);
const ACK_WAIT: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most messages enqueued in one transaction.
pub const BATCH: usize = 200;
/// How often, at most, the consumer checks that it still holds its lock,
/// and writes a checkpoint that no delivery carries. Batches are small at
/// moderate rates (a few messages each), and most enqueue nothing: both
/// were four statements a batch. A successor, or this consumer after a
/// restart, goes over at most this much of the feed again, which enqueues
/// nothing twice (deliveries have deterministic ids).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The stream sequence of the last message turned into deliveries.
pub async fn checkpoint(pool: &PgPool) -> anyhow::Result<u64> {
    let sequence: i64 =
        sqlx::query_scalar("select stream_sequence from webhooks.consumer_state where id = 1")
            .fetch_one(pool)
            .await
            .context("reading the webhook consumer's checkpoint")?;
    Ok(u64::try_from(sequence).unwrap_or(0))
}

async fn consumer(
    js: &jetstream::Context,
    settings: &Settings,
    name: &str,
    after: u64,
) -> anyhow::Result<PullConsumer> {
    let mut stream = infra::nats::ensure_stream(js, settings).await?;
    let last = stream
        .info()
        .await
        .context("reading the stream's state")?
        .state
        .last_sequence;
    // A stream younger than the checkpoint was recreated: start over (what
    // was enqueued already is skipped by its delivery id).
    let after = if after > last { 0 } else { after };
    if stream.consumer_info(name).await.is_ok() {
        stream
            .delete_consumer(name)
            .await
            .map_err(|e| anyhow::anyhow!("deleting consumer {name}: {e}"))?;
    }
    stream
        .create_consumer(pull::Config {
            durable_name: Some(name.to_owned()),
            description: Some("turns the event feed into webhook deliveries".into()),
            // Acking a message acks every one before it: one ack per batch.
            ack_policy: AckPolicy::All,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ack_wait: ACK_WAIT,
            filter_subject: format!("{}.>", settings.subject_prefix),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating consumer {name}: {e}"))
}

/// Consumes the feed into `webhooks.deliveries` until `shutdown` resolves;
/// lost connections are retried, never fatal. `wake` is notified after each
/// batch that enqueued something.
pub async fn run(
    settings: Settings,
    pool: PgPool,
    config: Config,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let shutdown = shutdown.fuse();
    let mut shutdown = std::pin::pin!(shutdown);
    let urls = BlobUrls::from_settings(&settings);
    let js = tokio::select! {
        biased;
        _ = &mut shutdown => return Ok(()),
        js = infra::nats::connect(&settings) => js?,
    };
    let mut lock_conn = tokio::select! {
        biased;
        _ = &mut shutdown => return Ok(()),
        conn = wait_to_lead(&pool, CONSUMER_LOCK, &config.consumer) => conn,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let subscribed = async {
            let after = checkpoint(&pool).await?;
            let consumer = consumer(&js, &settings, &config.consumer, after).await?;
            consumer
                .messages()
                .await
                .context("subscribing to the consumer")
        };
        let messages = tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            m = subscribed => m,
        };
        match messages {
            Ok(mut messages) => {
                backoff = FIRST_BACKOFF;
                tracing::info!(consumer = %config.consumer, "webhook consumer consuming");
                let mut last_checked = Instant::now();
                let mut last_saved = Instant::now();
                loop {
                    let next = tokio::select! {
                        biased;
                        _ = &mut shutdown => return Ok(()),
                        m = messages.next() => m,
                    };
                    let mut batch = match next {
                        Some(Ok(m)) => vec![m],
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "the message stream broke; subscribing again");
                            break;
                        }
                        None => break,
                    };
                    // Whatever has already arrived joins the batch; nothing
                    // waits for more.
                    let mut broken = false;
                    while batch.len() < BATCH {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(m))) => batch.push(m),
                            Some(Some(Err(_)) | None) => {
                                broken = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    // Still the only consumer? A broken lock connection
                    // means another may lead now; what both enqueue meanwhile
                    // is enqueued once (deterministic ids).
                    if last_checked.elapsed() >= CHECKPOINT_EVERY {
                        if lock_conn.execute("select 1").await.is_err() {
                            tracing::warn!("lost the consumer lock; waiting to lead again");
                            lock_conn = tokio::select! {
                                biased;
                                _ = &mut shutdown => return Ok(()),
                                conn = wait_to_lead(&pool, CONSUMER_LOCK, &config.consumer) => conn,
                            };
                            break;
                        }
                        last_checked = Instant::now();
                    }
                    let checkpoint_due = last_saved.elapsed() >= CHECKPOINT_EVERY;
                    let handled =
                        handle(&pool, &urls, &config, &batch, checkpoint_due, &mut shutdown).await;
                    let Ok(handled) = handled else {
                        return Ok(());
                    };
                    if handled.saved {
                        last_saved = Instant::now();
                    }
                    if handled.enqueued > 0 {
                        wake.notify_one();
                    }
                    if broken {
                        tracing::warn!("the message stream broke after a batch; subscribing again");
                        break;
                    }
                }
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "cannot reach the event stream"),
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits until this process holds the session advisory lock `(class,
/// hashtext(name))`, and returns the connection that holds it.
pub(crate) async fn wait_to_lead(pool: &PgPool, class: i32, name: &str) -> PgConnection {
    loop {
        let attempt = async {
            let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
            loop {
                let led: bool = sqlx::query_scalar("select pg_try_advisory_lock($1, hashtext($2))")
                    .bind(class)
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await?;
                if led {
                    return Ok::<_, sqlx::Error>(conn);
                }
                tokio::time::sleep(STANDBY_RETRY).await;
            }
        };
        match attempt.await {
            Ok(conn) => return conn,
            Err(e) => {
                tracing::error!(error = %e, "cannot take a webhook process lock; retrying");
                tokio::time::sleep(STANDBY_RETRY).await;
            }
        }
    }
}

/// Shutdown came while a message was being retried.
struct Abandoned;

/// What became of a batch.
#[derive(Debug, Clone, Copy)]
struct Handled {
    /// Deliveries enqueued.
    enqueued: u64,
    /// Whether the checkpoint was written.
    saved: bool,
}

/// Enqueues a batch of messages until it commits, then acks them. The
/// checkpoint is written with any deliveries, or when `checkpoint_due`.
async fn handle<S>(
    pool: &PgPool,
    urls: &BlobUrls,
    config: &Config,
    batch: &[jetstream::Message],
    checkpoint_due: bool,
    shutdown: &mut S,
) -> Result<Handled, Abandoned>
where
    S: Future<Output = ()> + Unpin + futures::future::FusedFuture,
{
    let envelopes: Vec<Option<Envelope>> = batch
        .iter()
        .map(|message| match serde_json::from_slice::<Envelope>(&message.payload) {
            Ok(env) => Some(env),
            Err(e) => {
                tracing::error!(error = %e, subject = %message.subject, "skipping a message that is not an event envelope");
                None
            }
        })
        .collect();
    let sequence = batch
        .iter()
        .filter_map(|m| m.info().ok().map(|i| i.stream_sequence))
        .max()
        .unwrap_or(0);
    let mut backoff = FIRST_BACKOFF;
    let handled = loop {
        let attempt = enqueue(pool, urls, config, &envelopes, sequence, checkpoint_due);
        let outcome = tokio::select! {
            biased;
            _ = &mut *shutdown => return Err(Abandoned),
            o = attempt => o,
        };
        match outcome {
            Ok(n) => break n,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = backoff.as_millis() as u64,
                    "enqueueing failed and is retried"
                );
                join_all(batch.iter().map(|m| m.ack_with(AckKind::Progress))).await;
                tokio::select! {
                    biased;
                    _ = &mut *shutdown => return Err(Abandoned),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    // The consumer acks all: the last message's ack covers the batch.
    if let Some(last) = batch.last() {
        if let Err(e) = last.double_ack().await {
            tracing::warn!(error = %e, "ack failed; the batch will be redelivered");
        }
    }
    Ok(handled)
}

/// Waits until the read model has applied `version` of `stream`, for at most
/// `wait`; returns whether it has.
async fn wait_applied(
    pool: &PgPool,
    stream: &str,
    version: i64,
    wait: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        let applied: Option<i64> = sqlx::query_scalar(
            "select version from read_model.stream_versions where stream_id = $1",
        )
        .bind(stream)
        .fetch_optional(pool)
        .await?;
        if applied.is_some_and(|v| v >= version) {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A receiver of a conversation's events that its inbox decides.
#[derive(Debug, Clone, Copy)]
enum ByInbox {
    /// The agent bot connected to the inbox.
    AgentBot,
    /// The inbox itself, when it is an API inbox with a `webhook_url`.
    ApiInbox,
}

impl ByInbox {
    async fn find(
        self,
        pool: &PgPool,
        account_id: i64,
        conversation_id: i64,
    ) -> Result<Option<Subscriber>, sqlx::Error> {
        Ok(match self {
            ByInbox::AgentBot => connected_bot(pool, account_id, conversation_id)
                .await?
                .map(Subscriber::AgentBot),
            ByInbox::ApiInbox => api_inbox(pool, account_id, conversation_id)
                .await?
                .map(Subscriber::ApiInbox),
        })
    }
}

/// The agent bot with an `outgoing_url` connected to the inbox of a
/// conversation, as the read model shows it now.
async fn connected_bot(
    pool: &PgPool,
    account_id: i64,
    conversation_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select b.id from read_model.conversations c \
         join read_model.agent_bot_inboxes i on i.inbox_id = c.inbox_id and i.account_id = c.account_id \
         join read_model.agent_bots b on b.id = i.agent_bot_id \
         where c.id = $1 and c.account_id = $2 and coalesce(b.outgoing_url, '') <> ''",
    )
    .bind(conversation_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// The deliveries one event makes: for each of its webhook events, the
/// account webhooks subscribed to it, the agent bot connected to the
/// conversation's inbox (for [`bot_events`]) and the conversation's API
/// inbox with a `webhook_url` (for [`inbox_events`]), each rendered once.
async fn subscribers_of(
    pool: &PgPool,
    urls: &BlobUrls,
    config: &Config,
    receivers: &mut Receivers,
    env: &Envelope,
    event: &Event,
    account_id: i64,
) -> Result<Vec<Pending>, sqlx::Error> {
    let wanted = webhook_events(event);
    let for_bots = bot_events(event);
    let for_inboxes = inbox_events(event);
    let mut pending = Vec::new();
    if wanted.is_empty() && for_bots.is_empty() {
        return Ok(pending);
    }
    // No webhook, no bot-connected inbox and no API inbox with a URL in the
    // account now: nothing to render, no need to wait for the read model.
    let (any_hooks, any_bots, any_inboxes) = receivers.of(pool, account_id).await?;
    let any_hooks = any_hooks && !wanted.is_empty();
    let any_bots = any_bots && !for_bots.is_empty();
    let any_inboxes = any_inboxes && !for_inboxes.is_empty();
    if !(any_hooks || any_bots || any_inboxes) {
        return Ok(pending);
    }
    if !wait_applied(pool, &env.streamid, env.streamversion, config.render_wait).await? {
        tracing::warn!(stream = %env.streamid, version = env.streamversion, "the read model has not applied the event in time; rendering what it shows");
    }
    if any_hooks {
        let hooks: Vec<(i64, Json<Vec<String>>)> = sqlx::query_as(
            "select id, subscriptions from read_model.webhooks where account_id = $1 order by id",
        )
        .bind(account_id)
        .fetch_all(pool)
        .await?;
        for (ordinal, we) in wanted.iter().enumerate() {
            let subscribers: Vec<Subscriber> = hooks
                .iter()
                .filter(|(_, subs)| subs.0.iter().any(|s| s == we.name))
                .map(|(id, _)| Subscriber::Webhook(*id))
                .collect();
            push(
                pool,
                urls,
                account_id,
                we,
                ordinal,
                subscribers,
                &mut pending,
            )
            .await?;
        }
    }
    for (wanted, events, receiver) in [
        (any_bots, &for_bots, ByInbox::AgentBot),
        (any_inboxes, &for_inboxes, ByInbox::ApiInbox),
    ] {
        if !wanted {
            continue;
        }
        for (ordinal, (we, conversation_id)) in events.iter().enumerate() {
            let subscribers = receiver
                .find(pool, account_id, *conversation_id)
                .await?
                .into_iter()
                .collect();
            push(
                pool,
                urls,
                account_id,
                we,
                ordinal,
                subscribers,
                &mut pending,
            )
            .await?;
        }
    }
    Ok(pending)
}

/// The conversation's inbox, when it is an API inbox with a `webhook_url`.
async fn api_inbox(
    pool: &PgPool,
    account_id: i64,
    conversation_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select i.id from read_model.conversations c \
         join read_model.inboxes i on i.id = c.inbox_id and i.account_id = c.account_id \
         where c.id = $1 and c.account_id = $2 and i.channel_type = 'Channel::Api' \
           and coalesce(i.channel->>'webhook_url', '') <> ''",
    )
    .bind(conversation_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// Renders `we` once and queues it for each subscriber.
async fn push(
    pool: &PgPool,
    urls: &BlobUrls,
    account_id: i64,
    we: &WebhookEvent,
    ordinal: usize,
    subscribers: Vec<Subscriber>,
    pending: &mut Vec<Pending>,
) -> Result<(), sqlx::Error> {
    if subscribers.is_empty() {
        return Ok(());
    }
    let Some(payload) = render::payload(pool, urls, account_id, we).await? else {
        tracing::warn!(event = we.name, ?we.resource, "the resource is gone; nothing to send");
        return Ok(());
    };
    for subscriber in subscribers {
        pending.push(Pending {
            subscriber,
            name: we.name,
            lane: we.lane.clone(),
            ordinal: i16::try_from(ordinal).unwrap_or(i16::MAX),
            payload: payload.clone(),
        });
    }
    Ok(())
}

/// Which kinds of receiver an account has, asked once per account and
/// batch (a batch is what had arrived together, so "now" for all of it).
#[derive(Debug, Default)]
struct Receivers(HashMap<i64, (bool, bool, bool)>);

impl Receivers {
    /// Whether the account has webhooks, bot-connected inboxes and API
    /// inboxes with a `webhook_url`.
    async fn of(
        &mut self,
        pool: &PgPool,
        account_id: i64,
    ) -> Result<(bool, bool, bool), sqlx::Error> {
        if let Some(known) = self.0.get(&account_id) {
            return Ok(*known);
        }
        let found: (bool, bool, bool) = sqlx::query_as(
            "select exists(select 1 from write_model.webhooks where account_id = $1), \
                    exists(select 1 from write_model.inboxes \
                           where account_id = $1 and agent_bot_id is not null), \
                    exists(select 1 from read_model.inboxes \
                           where account_id = $1 and channel_type = 'Channel::Api' \
                             and coalesce(channel->>'webhook_url', '') <> '')",
        )
        .bind(account_id)
        .fetch_one(pool)
        .await?;
        self.0.insert(account_id, found);
        Ok(found)
    }
}

/// One pending delivery to insert.
struct Pending {
    subscriber: Subscriber,
    name: &'static str,
    lane: String,
    ordinal: i16,
    payload: serde_json::Value,
}

/// The deliveries of a batch of messages, inserted with the checkpoint (the
/// batch's last stream sequence) in one transaction; without deliveries,
/// the checkpoint alone only when `checkpoint_due`.
async fn enqueue(
    pool: &PgPool,
    urls: &BlobUrls,
    config: &Config,
    envelopes: &[Option<Envelope>],
    sequence: u64,
    checkpoint_due: bool,
) -> anyhow::Result<Handled> {
    let mut receivers = Receivers::default();
    let mut pending = Vec::new();
    for env in envelopes.iter().flatten() {
        let event = match env.decode() {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, event_id = %env.id, "skipping an event this code cannot read");
                continue;
            }
        };
        let Some(account_id) = env.accountid.or(event.account_id()) else {
            continue;
        };
        for p in subscribers_of(pool, urls, config, &mut receivers, env, &event, account_id).await?
        {
            pending.push((env, account_id, p));
        }
    }
    if pending.is_empty() && !checkpoint_due {
        return Ok(Handled {
            enqueued: 0,
            saved: false,
        });
    }
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for (env, account_id, p) in &pending {
        let (webhook_id, agent_bot_id, api_inbox_id) = p.subscriber.columns();
        inserted += sqlx::query(
            "insert into webhooks.deliveries \
               (id, webhook_id, agent_bot_id, api_inbox_id, account_id, event_id, event, lane, \
                position, ordinal, payload) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (id) do nothing",
        )
        .bind(p.subscriber.delivery_id(env.id, p.name))
        .bind(webhook_id)
        .bind(agent_bot_id)
        .bind(api_inbox_id)
        .bind(account_id)
        .bind(env.id)
        .bind(p.name)
        .bind(&p.lane)
        .bind(env.position)
        .bind(p.ordinal)
        .bind(&p.payload)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    sqlx::query(
        "update webhooks.consumer_state set stream_sequence = greatest(stream_sequence, $1) where id = 1",
    )
    .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Handled {
        enqueued: inserted,
        saved: true,
    })
}
