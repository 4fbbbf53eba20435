//! Projections: the workers that turn the event feed into the read models
//! behind every GET, and the rebuild that derives them again from the log.
//!
//! They sit after the relay in the event flow: the command service appends to
//! the Postgres log, the relay publishes it to JetStream in commit-safe order,
//! and the [`worker`] (a durable pull consumer) applies each event to the
//! `read_model` schema and to its guard state in one transaction, commits, and
//! only then acks. The query service reads `read_model.*`; the command
//! service's read-your-writes waits on the `read_model_applied` notification
//! each apply sends.
//!
//! Modules: [`schema`] creates the read-model schema from
//! `sql/read_model.sql` (docs/adr/0004); [`apply`] folds one event into the
//! read-model tables, guarded by stream version so a second delivery is a
//! no-op, with the bookkeeping of a whole transaction in a [`batch`];
//! [`process`] wraps it with what a consumer needs around one event
//! (skip duplicates, hold a stream behind a parked event, fill a delivery gap
//! from the log, park poison); [`worker`] is the live NATS consumer;
//! [`rebuild`] replays the log into a fresh schema and swaps it in while the
//! query side keeps serving; [`status`] reports progress and lag; [`health`]
//! serves `/health` and `/ready`; [`mod@checksum`] digests a read model so two
//! copies can be compared; [`messages`] keeps the messages table and
//! [`activity`] derives Chatwoot's activity messages from conversation events;
//! [`blobs`] keeps attachment and inbox avatar references.

pub mod activity;
pub mod agent_bots;
pub mod apply;
pub mod batch;
pub mod blobs;
pub mod checksum;
pub mod counts;
pub mod creations;
pub mod health;
pub mod hooks;
pub mod messages;
pub mod parked;
pub mod patches;
pub mod process;
pub mod rebuild;
// ---- reports ----
pub mod reports;
pub mod schema;
pub mod status;
pub mod worker;
// ---- audit ----
pub mod history;
// ---- webhooks ----
pub mod webhooks;

pub use checksum::checksum;

/// Advisory-lock key the live worker holds shared in every apply transaction
/// and a rebuild takes exclusively for its last stretch and the swap ("rmpause").
pub const PAUSE_LOCK: i64 = 0x72_6d_70_61_75_73_65;
