//! Export of the log for batch analytics: newline-delimited CloudEvents
//! JSON, the very envelopes of the NATS feed (docs/feed.md), in the feed's
//! order (`chatwoot-admin export`).
//!
//! The export is a snapshot: it takes every event of the log below the
//! transaction horizon of its start (the events the relay may publish, see
//! docs/adr/0002), in `(txid, position)` order, optionally narrowed to a
//! time range (`occurred_at`, from inclusive, to exclusive) and one account.
//! Events are read in keyset pages, so memory stays flat on any log size.
//! Loading an export and then consuming the feed from its end (deduplicating
//! by `id`) gives a complete, duplicate-free copy.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use infra::envelope::Envelope;
use infra::stored::{StoredEvent, COLUMNS, LOG_ORDER};
use sqlx::PgPool;

/// Events read per query.
const PAGE: i64 = 1000;

/// Which events to export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only events that happened at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events that happened before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only this account's events.
    pub account_id: Option<i64>,
}

/// Writes the matching events to `out`, one JSON envelope per line, and
/// returns how many. With `progress`, a progress bar is drawn on stderr.
pub async fn export(
    pool: &PgPool,
    filter: &Filter,
    out: &mut impl Write,
    progress: bool,
) -> anyhow::Result<u64> {
    let horizon: i64 =
        sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await?;
    let total: i64 = sqlx::query_scalar(
        "select count(*) from event_store.events \
         where txid < $1::text::xid8 \
           and ($2::timestamptz is null or occurred_at >= $2) \
           and ($3::timestamptz is null or occurred_at < $3) \
           and ($4::bigint is null or account_id = $4)",
    )
    .bind(horizon.to_string())
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.account_id)
    .fetch_one(pool)
    .await?;
    let bar = if progress {
        ProgressBar::with_draw_target(
            Some(u64::try_from(total).unwrap_or(0)),
            ProgressDrawTarget::stderr(),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} exporting [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .context("the progress bar template")?
        .progress_chars("=> "),
    );

    let (mut txid, mut position) = (0_i64, 0_i64);
    let mut written = 0_u64;
    loop {
        let page: Vec<StoredEvent> = sqlx::query_as(&format!(
            "select {COLUMNS} from event_store.events \
             where txid < $1::text::xid8 \
               and (txid, position) > ($2::text::xid8, $3) \
               and ($4::timestamptz is null or occurred_at >= $4) \
               and ($5::timestamptz is null or occurred_at < $5) \
               and ($6::bigint is null or account_id = $6) \
             order by {LOG_ORDER} limit $7"
        ))
        .bind(horizon.to_string())
        .bind(txid.to_string())
        .bind(position)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.account_id)
        .bind(PAGE)
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else { break };
        (txid, position) = (last.txid, last.position);
        for stored in &page {
            serde_json::to_writer(&mut *out, &Envelope::from_stored(stored))?;
            out.write_all(b"\n")?;
        }
        written += page.len() as u64;
        bar.inc(page.len() as u64);
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(written)
}
