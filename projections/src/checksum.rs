//! A digest of a read model, so a rebuilt copy can be compared with the live
//! one (DESIGN §7.2).
//!
//! Every table is dumped row by row in primary-key order and hashed. All
//! columns count, timestamps included: they come from the events' time, so
//! they are as deterministic as the rest. Left out are only the columns that
//! say when the projection did its work: `projection_state.updated_at`,
//! `parked_events.parked_at` and `account_generations.generation` (the id of
//! the transaction that last changed the account; only which accounts have
//! one counts).

use anyhow::Context;
use sqlx::PgPool;

use crate::schema::identifier;

/// Each table with the columns that count and its key order.
const TABLES: [(&str, &str, &str); 28] = [
    (
        "projection_state",
        "id, version, last_txid, last_position, applied",
        "id",
    ),
    ("stream_versions", "*", "stream_id"),
    ("account_generations", "account_id", "account_id"),
    (
        "parked_events",
        "position, stream_id, event_type, error, envelope",
        "position",
    ),
    ("access_tokens", "*", "token_hash"),
    ("accounts", "*", "id"),
    ("users", "*", "id"),
    ("account_users", "*", "id"),
    (
        "platform_app_permissibles",
        "*",
        "app_id, target_kind, target_id",
    ),
    ("inboxes", "*", "id"),
    ("inbox_members", "*", "inbox_id, user_id"),
    ("contacts", "*", "id"),
    ("contact_inboxes", "*", "id"),
    ("conversations", "*", "id"),
    (
        "conversation_counts",
        "*",
        "account_id, inbox_id, status, assignee_id, team_id",
    ),
    ("messages", "*", "id"),
    // ---- teams, members, assignments ----
    ("teams", "*", "id"),
    ("team_members", "*", "team_id, user_id"),
    // ---- agent bots and sso ----
    ("agent_bots", "*", "id"),
    ("agent_bot_inboxes", "*", "inbox_id"),
    // ---- integrations ----
    ("hooks", "*", "id"),
    // ---- attachments and avatars ----
    ("attachments", "*", "id"),
    ("inbox_avatars", "*", "inbox_id"),
    // ---- audit ----
    ("history", "*", "stream_id, stream_version"),
    // ---- reports ----
    ("report_conversations", "*", "conversation_id"),
    ("report_messages", "*", "message_id"),
    ("report_resolutions", "*", "conversation_id, stream_version"),
    // ---- webhooks ----
    ("webhooks", "*", "id"),
];

/// A digest of every table of the read model in schema `schema`
/// (`read_model`, or `read_model_next` mid-rebuild): one line per table, its
/// name and the md5 (hex) of a deterministic dump of its rows, so that two
/// digests that differ show where.
pub async fn checksum(pool: &PgPool, schema: &str) -> anyhow::Result<String> {
    let schema = identifier(schema)?;
    let mut digests = String::new();
    for (table, columns, order) in TABLES {
        // Rows are rendered as records (`t::text`), so the dump does not
        // depend on the client; ordering by the key makes it deterministic.
        let digest: String = sqlx::query_scalar(&format!(
            "select md5(coalesce(string_agg(t::text, E'\\n' order by {order}), '')) \
             from (select {columns} from {schema}.{table}) t"
        ))
        .fetch_one(pool)
        .await
        .with_context(|| format!("digesting {schema}.{table}"))?;
        digests.push_str(&format!("{table} {digest}\n"));
    }
    Ok(digests)
}
