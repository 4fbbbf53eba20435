//! The query service: every `GET` of the Chatwoot contract, served from the
//! read models only.
//!
//! It sits at the end of the event flow: the command service appends events,
//! the relay publishes them, projections apply them to the `read_model`
//! schema, and this service reads that schema — it only ever `SELECT`s, and
//! the pool it opens itself is read-only (`default_transaction_read_only`).
//! A request is authenticated in `auth` (Chatwoot's order of checks), the
//! handler in `routes` (one module per resource) calls small query
//! functions in `repo` (all the SQL), and the JSON is produced by [`render`],
//! where each Chatwoot shape has exactly one function. `render` is public so
//! that the command service answers its writes with the very body a `GET`
//! gives. Errors and their Chatwoot bodies are in [`error`]. Rendered
//! conversation pages are kept in `cache` while the read model they came
//! from is unchanged (docs/adr/0009).

mod auth;
mod cache;
pub mod error;
mod page_keys;
pub mod render;
mod repo;
mod routes;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use infra::rate_limit::RateLimit;
use infra::settings::Secret;
use infra::Settings;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

/// What every handler shares.
pub(crate) struct AppState {
    /// The read-model pool.
    pub pool: PgPool,
    /// Derives the access tokens the profile and platform user bodies show.
    pub token_secret: Secret,
    /// Signs the URLs of attachments and avatars.
    pub blob_urls: render::BlobUrls,
    /// Where attachment and avatar bytes are read from.
    pub blobs: infra::blobs::BlobStore,
    /// Rendered conversation pages.
    pub pages: cache::PageCache,
    /// Where deep pages of conversation lists start.
    pub page_keys: page_keys::PageKeys,
    /// Connections for the admission statement, outside the pool.
    pub admissions: infra::spares::Spares,
}

/// The running HTTP server and the port it bound.
pub struct Application {
    port: u16,
    server: Server,
}

/// Opens a pool whose sessions refuse to write, as the role of
/// `QUERY_DATABASE_URL` (the read-only `chatwoot_reader` in a deployment):
/// the query side can only read.
async fn connect_read_only(settings: &Settings) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = settings
        .query_database_url
        .expose()
        .parse()
        .context("QUERY_DATABASE_URL (or DATABASE_URL) is not a valid Postgres URL")?;
    // Lazily: the service starts (and answers /health) even while the
    // migrations that create its role, or Postgres itself, are not there
    // yet; /ready says when it can read.
    Ok(infra::db::pool_options(settings).connect_lazy_with(
        infra::db::named(options).options([("default_transaction_read_only", "on")]),
    ))
}

impl Application {
    /// Connects read-only and binds `settings.host:settings.port` (0 picks a port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = connect_read_only(&settings).await?;
        Self::build_with_pool(settings, pool).await
    }

    /// Like [`Application::build`], on an existing pool.
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            token_secret: settings.token_secret.clone(),
            blob_urls: render::BlobUrls::from_settings(&settings),
            blobs: infra::blobs::BlobStore::from_settings(&settings)?,
            pages: cache::PageCache::new(settings.read_cache_bytes),
            page_keys: page_keys::PageKeys::default(),
            admissions: infra::spares::Spares::beside(&pool),
        });
        let pool_data = web::Data::new(pool);
        let rate_limit = RateLimit::from_settings(&settings);
        tokio::spawn(rate_limit.clone().sweep_forever());
        let rate_limit = web::Data::new(rate_limit);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                .wrap(from_fn(infra::http::refuse_nul_in_query))
                .wrap(from_fn(infra::rate_limit::middleware))
                .wrap(TracingLogger::default())
                // Every error answer is JSON (actix's own are plain text).
                .wrap(infra::http::json_errors())
                .app_data(rate_limit.clone())
                .app_data(state.clone())
                .app_data(pool_data.clone())
                .app_data(routes::path_config())
                .app_data(routes::query_config())
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
