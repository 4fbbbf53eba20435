//! The command service: the HTTP write API, the event store, the write-side
//! lookups, and the relay to NATS.
//!
//! It sits at the head of the event flow. A request is authenticated
//! ([`auth`]; a caller admitted lately from [`admissions`], forgotten on
//! every change the process makes or its [`listener`] hears), its body
//! read the way Chatwoot reads it ([`body`]); the handler ([`routes`], one
//! module per resource) runs one command in one transaction through the
//! [`event_store`]: load the aggregate's stream, let the pure `domain`
//! decide, update the [`write_model`] lookups, append the events. After the
//! commit it waits until the read models reflect the write
//! ([`consistency`], read-your-writes) and answers with the very shape a
//! GET would give, rendered by the query service's `render` functions. The
//! [`relay`] (its own process, `src/bin/relay.rs`) publishes the log to
//! JetStream; [`admin`] holds the operators' commands behind the
//! `chatwoot-admin` CLI. Errors and their Chatwoot bodies are in [`error`].

pub mod admin;
pub mod admissions;
pub mod auth;
pub mod blobs;
pub mod body;
pub mod consistency;
pub mod error;
pub mod event_store;
pub mod export;
mod generations;
pub mod idempotency;
pub mod listener;
pub mod relay;
pub mod routes;
pub mod write_model;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use chrono::Utc;
use infra::rate_limit::RateLimit;
use infra::stored::Metadata;
use infra::Settings;
use serde_json::Value;
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

use crate::auth::Principal;
use crate::consistency::{ReadYourWrites, Visibility};
use crate::error::ApiError;
use crate::event_store::{CommandContext, EventStore};

/// What every handler shares.
pub struct AppState {
    /// Runs commands.
    pub store: EventStore,
    /// The pool (lookups, rendering).
    pub pool: PgPool,
    /// Waits for read models.
    pub ryw: ReadYourWrites,
    /// Settings.
    pub settings: Settings,
    /// Where attachment and avatar bytes go.
    pub blobs: infra::blobs::BlobStore,
    /// Signs blob URLs in the bodies writes answer with.
    pub blob_urls: query_service::render::BlobUrls,
    /// Conversation ids by account and display id.
    pub conversation_ids: write_model::ConversationIds,
    /// Inboxes' channel types.
    pub inbox_channels: write_model::InboxChannels,
    /// Admissions kept between requests ([`admissions`]).
    pub admitted: admissions::Admissions,
    /// Connections for the admission statement, outside the pool
    /// (`infra::spares`).
    pub admission_connections: infra::spares::Spares,
}

impl AppState {
    /// The request's command context: actor, correlation and request ids, the clock.
    pub fn context(&self, req: &HttpRequest, principal: Principal) -> CommandContext {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        let request_id = header("x-request-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let actor = principal.actor();
        CommandContext {
            metadata: Metadata {
                actor_type: serde_json::to_value(actor.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                actor_id: actor.id,
                correlation_id: header("x-correlation-id").unwrap_or_else(|| request_id.clone()),
                causation_id: None,
                request_id: Some(request_id),
                idempotency_key: header("idempotency-key"),
            },
            now: Utc::now(),
            idempotency: req.extensions().get::<idempotency::Claim>().cloned(),
        }
    }

    /// The conversation of `display_id` in the account (remembered once
    /// found, [`write_model::ConversationIds`]); 404 when there is none.
    pub async fn conversation(
        &self,
        account_id: i64,
        display_id: i64,
    ) -> Result<write_model::ConversationRef, ApiError> {
        self.conversation_ids
            .get(&self.pool, account_id, display_id)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// Answers a committed write: waits for the read models (unless the client
    /// opted out with `X-Read-Your-Writes: off`), then renders the resource as
    /// a GET would. If the wait ran out, or the client opted out, the body is
    /// `fallback` — the fields the write itself settled — and the header says so.
    pub async fn respond(
        &self,
        req: &HttpRequest,
        written: &[(String, i64)],
        render: impl std::future::Future<Output = Result<Option<Value>, sqlx::Error>>,
        fallback: Value,
    ) -> Result<HttpResponse, ApiError> {
        let opted_out = req
            .headers()
            .get("x-read-your-writes")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("off"));
        let visibility = if opted_out {
            Visibility::Off
        } else {
            self.ryw.wait(written).await
        };
        let body = match visibility {
            Visibility::Visible => render.await?.unwrap_or(fallback),
            Visibility::Timeout | Visibility::Off => fallback,
        };
        Ok(HttpResponse::Ok()
            .insert_header(("X-Read-Your-Writes", visibility.as_str()))
            .json(body))
    }

    /// Answers a committed write whose Chatwoot response is an empty 200.
    pub async fn respond_empty(
        &self,
        req: &HttpRequest,
        written: &[(String, i64)],
    ) -> HttpResponse {
        let opted_out = req
            .headers()
            .get("x-read-your-writes")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("off"));
        let visibility = if opted_out {
            Visibility::Off
        } else {
            self.ryw.wait(written).await
        };
        HttpResponse::Ok()
            .insert_header(("X-Read-Your-Writes", visibility.as_str()))
            .finish()
    }
}

/// The running HTTP server and the port it bound.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects, migrates, binds `settings.host:settings.port` (0 picks a port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = infra::db::connect(&settings).await?;
        infra::db::migrate(&pool).await?;
        Self::build_with_pool(settings, pool).await
    }

    /// Like [`Application::build`], on an existing pool.
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        let port = listener.local_addr()?.port();
        let ryw = ReadYourWrites::new(pool.clone(), settings.read_your_writes_timeout);
        let admitted = admissions::Admissions::new(settings.admission_cache_entries);
        crate::listener::start(pool.clone(), ryw.clone(), admitted.clone()).await?;
        let max_body = settings.max_body_bytes;
        let state = web::Data::new(AppState {
            store: EventStore::new(pool.clone())
                .with_cached_streams(settings.aggregate_cache_streams)
                .with_admissions(admitted.clone()),
            pool: pool.clone(),
            ryw,
            blobs: infra::blobs::BlobStore::from_settings(&settings)?,
            blob_urls: query_service::render::BlobUrls::from_settings(&settings),
            conversation_ids: write_model::ConversationIds::new(100_000),
            inbox_channels: write_model::InboxChannels::new(100_000),
            admitted,
            admission_connections: infra::spares::Spares::beside(&pool),
            settings,
        });
        tokio::spawn(idempotency::sweep_forever(pool.clone()));
        tokio::spawn(blobs::sweep_forever(pool.clone(), state.blobs.clone()));
        let pool_data = web::Data::new(pool);
        let rate_limit = RateLimit::from_settings(&state.settings);
        tokio::spawn(rate_limit.clone().sweep_forever());
        let rate_limit = web::Data::new(rate_limit);
        let server = HttpServer::new(move || {
            App::new()
                // Outermost first: a request over its quota is refused before
                // it claims an idempotency key or reads its body.
                .wrap(from_fn(idempotency::middleware))
                .wrap(from_fn(infra::rate_limit::middleware))
                .wrap(TracingLogger::default())
                // Every error answer is JSON (actix's own are plain text).
                .wrap(infra::http::json_errors())
                .app_data(rate_limit.clone())
                .app_data(state.clone())
                .app_data(pool_data.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(routes::path_config())
                .route("/health", web::get().to(infra::http::health))
                .route("/ready", web::get().to(infra::http::ready))
                .configure(routes::configure)
                .default_service(web::to(infra::http::not_found))
        })
        .keep_alive(infra::http::KEEP_ALIVE)
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Application { port, server })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped (actix handles SIGTERM/SIGINT: it stops accepting,
    /// lets in-flight requests finish, then returns).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
