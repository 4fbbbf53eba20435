//! Settings, read once from the environment. Every variable is listed,
//! with its default, in `.env.example`.

use std::time::Duration;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything a process of the system is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Postgres URL (`DATABASE_URL`).
    pub database_url: Secret,
    /// Largest Postgres pool (`DATABASE_POOL_SIZE`).
    pub database_pool_size: u32,
    /// NATS URL (`NATS_URL`).
    pub nats_url: String,
    /// JetStream stream carrying the events (`NATS_STREAM`).
    pub nats_stream: String,
    /// Subject prefix of published events (`NATS_SUBJECT_PREFIX`).
    pub subject_prefix: String,
    /// The query service's connection (`QUERY_DATABASE_URL`; `DATABASE_URL`
    /// when unset): meant for the `chatwoot_reader` role, which may only
    /// read the read model.
    pub query_database_url: Secret,
    /// Key access tokens are derived from (`TOKEN_SECRET`).
    pub token_secret: Secret,
    /// Address to listen on (`HOST`).
    pub host: String,
    /// Port to listen on (`PORT`; 0 picks a free one).
    pub port: u16,
    /// How long a write waits for the read models (`READ_YOUR_WRITES_TIMEOUT_MS`).
    pub read_your_writes_timeout: Duration,
    /// Base URL of the dashboard, used in SSO links (`FRONTEND_URL`).
    pub frontend_url: String,
    /// Largest accepted request body in bytes (`MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Requests per second each token (or, without one, each client
    /// address) may make to this process, sustained (`RATE_LIMIT_PER_SECOND`;
    /// 0 turns the limit off).
    pub rate_limit_per_second: u32,
    /// Requests a token may make at once above the sustained rate
    /// (`RATE_LIMIT_BURST`).
    pub rate_limit_burst: u32,
    /// Bytes of rendered pages the query service may keep per process
    /// (`READ_CACHE_MB`, in MiB; 0 turns the cache off).
    pub read_cache_bytes: u64,
    /// Streams the command service keeps folded between commands
    /// (`AGGREGATE_CACHE_STREAMS`; 0 turns the cache off).
    pub aggregate_cache_streams: usize,
    /// Callers the command service keeps admitted between requests
    /// (`ADMISSION_CACHE_ENTRIES`, token and account pairs; 0 turns the
    /// cache off; docs/adr/0011).
    pub admission_cache_entries: u64,
    /// Where attachment and avatar bytes are kept (`BLOB_STORE`, `BLOB_DIR`,
    /// `S3_*`).
    pub blob_backend: BlobBackend,
    /// Largest accepted uploaded file in bytes (`MAX_FILE_BYTES`).
    pub max_file_bytes: usize,
}

/// The blob store back end.
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// A local directory (`BLOB_STORE=local`, the default; `BLOB_DIR`,
    /// default `.run/blobs`, relative to the working directory unless absolute).
    Local(std::path::PathBuf),
    /// An S3-compatible bucket (`BLOB_STORE=s3`).
    S3 {
        /// `S3_ENDPOINT` (unset: AWS itself).
        endpoint: Option<String>,
        /// `S3_BUCKET`.
        bucket: String,
        /// `S3_REGION` (default `us-east-1`).
        region: String,
        /// `S3_ACCESS_KEY_ID`.
        access_key_id: String,
        /// `S3_SECRET_ACCESS_KEY`.
        secret_access_key: Secret,
    },
}

fn blob_backend() -> anyhow::Result<BlobBackend> {
    match var("BLOB_STORE").as_deref().unwrap_or("local") {
        "local" => Ok(BlobBackend::Local(
            var("BLOB_DIR")
                .unwrap_or_else(|| ".run/blobs".into())
                .into(),
        )),
        "s3" => {
            let need =
                |name: &str| var(name).ok_or_else(|| anyhow::anyhow!("BLOB_STORE=s3 needs {name}"));
            Ok(BlobBackend::S3 {
                endpoint: var("S3_ENDPOINT"),
                bucket: need("S3_BUCKET")?,
                region: var("S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                access_key_id: need("S3_ACCESS_KEY_ID")?,
                secret_access_key: Secret::new(need("S3_SECRET_ACCESS_KEY")?),
            })
        }
        other => Err(anyhow::anyhow!(
            "BLOB_STORE={other:?} is not valid (local, s3)"
        )),
    }
}

/// Streams the command service keeps folded unless `AGGREGATE_CACHE_STREAMS`
/// says otherwise. A conversation's state costs about 300 bytes of the
/// process's memory (docs/performance.md), so this is some 30 MB: enough
/// for a big desk's whole working set, whose misses each fold a stream
/// from its first event.
pub const DEFAULT_AGGREGATE_CACHE_STREAMS: usize = 100_000;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not valid")),
    }
}

impl Settings {
    /// Reads the environment; `default_port` is the process's usual port.
    pub fn from_env(default_port: u16) -> anyhow::Result<Self> {
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/chatwoot_es".into());
        Ok(Settings {
            query_database_url: Secret::new(
                var("QUERY_DATABASE_URL").unwrap_or_else(|| database_url.clone()),
            ),
            database_url: Secret::new(database_url),
            database_pool_size: parsed("DATABASE_POOL_SIZE", 10)?,
            nats_url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            nats_stream: var("NATS_STREAM").unwrap_or_else(|| "CHATWOOT_EVENTS".into()),
            subject_prefix: var("NATS_SUBJECT_PREFIX").unwrap_or_else(|| "chatwoot.events".into()),
            token_secret: Secret::new(
                var("TOKEN_SECRET").unwrap_or_else(|| "development-only-token-secret".into()),
            ),
            host: var("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: parsed("PORT", default_port)?,
            read_your_writes_timeout: Duration::from_millis(parsed(
                "READ_YOUR_WRITES_TIMEOUT_MS",
                5000,
            )?),
            frontend_url: var("FRONTEND_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            max_body_bytes: parsed("MAX_BODY_BYTES", 40 * 1024 * 1024)?,
            rate_limit_per_second: parsed("RATE_LIMIT_PER_SECOND", 100)?,
            rate_limit_burst: parsed("RATE_LIMIT_BURST", 300)?,
            read_cache_bytes: parsed::<u64>("READ_CACHE_MB", 64)?.saturating_mul(1024 * 1024),
            aggregate_cache_streams: parsed(
                "AGGREGATE_CACHE_STREAMS",
                DEFAULT_AGGREGATE_CACHE_STREAMS,
            )?,
            admission_cache_entries: parsed("ADMISSION_CACHE_ENTRIES", 10_000)?,
            blob_backend: blob_backend()?,
            max_file_bytes: parsed("MAX_FILE_BYTES", 40 * 1024 * 1024)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
