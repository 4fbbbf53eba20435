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
///
/// Every process calls it at start, so several race to create the stream.
/// A create that fails is followed by a look for the stream by name (the
/// winner's), and the whole is tried a few times over about two seconds: a
/// system test once saw a relay exit at start on "subjects overlap with an
/// existing stream" (JetStream error 10065) while its siblings created the
/// same stream.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &Settings,
) -> anyhow::Result<stream::Stream> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        let created = js
            .get_or_create_stream(stream::Config {
                name: settings.nats_stream.clone(),
                subjects: vec![format!("{}.>", settings.subject_prefix)],
                storage: stream::StorageType::File,
                duplicate_window: std::time::Duration::from_secs(120),
                ..Default::default()
            })
            .await;
        let e = match created {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        if let Ok(stream) = js.get_stream(&settings.nats_stream).await {
            return Ok(stream);
        }
        if attempt == ATTEMPTS {
            anyhow::bail!("creating stream {}: {e}", settings.nats_stream);
        }
        tracing::warn!(error = %e, attempt, "creating the stream failed; trying again");
        tokio::time::sleep(std::time::Duration::from_millis(150 * u64::from(attempt))).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Processes start at once and each ensures the stream, each on its own
    /// connection: all must get it. (This has not reproduced the "subjects
    /// overlap" a system test once met; it guards the race in general.)
    #[tokio::test]
    async fn processes_racing_to_create_the_stream_all_get_it() {
        let mut settings = Settings::from_env(0).expect("settings");
        let tag = uuid::Uuid::new_v4().simple().to_string();
        settings.nats_stream = format!("RACE_{tag}");
        settings.subject_prefix = format!("race{tag}.events");
        let js = connect(&settings).await.expect("NATS is reachable");
        for _round in 0..5 {
            let _ = js.delete_stream(&settings.nats_stream).await;
            let mut tasks = Vec::new();
            // A connection each, as separate processes have.
            let mut clients = Vec::new();
            for _ in 0..8 {
                clients.push(connect(&settings).await.expect("NATS is reachable"));
            }
            for js in clients {
                let settings = settings.clone();
                tasks.push(tokio::spawn(async move {
                    ensure_stream(&js, &settings).await.map(|_| ())
                }));
            }
            for task in tasks {
                task.await.expect("the task ran").expect("the stream");
            }
        }
        let _ = js.delete_stream(&settings.nats_stream).await;
    }
}
