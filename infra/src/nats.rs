//! JetStream: connecting and the event stream.

use anyhow::Context;
use async_nats::jetstream::{self, stream};

use crate::Settings;

/// Connects to NATS and returns a JetStream context.
pub async fn connect(settings: &Settings) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&settings.nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {}", settings.nats_url))?;
    Ok(jetstream::new(client))
}

/// Creates the event stream if it does not exist: file storage, subjects
/// `<prefix>.>`, and a two-minute duplicate window for `Nats-Msg-Id` dedupe.
/// NATS is not the archive (the Postgres log is), so limits may be set freely.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &Settings,
) -> anyhow::Result<stream::Stream> {
    js.get_or_create_stream(stream::Config {
        name: settings.nats_stream.clone(),
        subjects: vec![format!("{}.>", settings.subject_prefix)],
        storage: stream::StorageType::File,
        duplicate_window: std::time::Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating stream {}: {e}", settings.nats_stream))
}
