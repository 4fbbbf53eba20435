//! Integration tests of the projections against a real Postgres
//! (127.0.0.1:5432) and a real NATS JetStream (127.0.0.1:4222). Each test
//! has a database and a stream of its own.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly; clippy's allow-unwrap-in-tests only covers #[test] fns"
)]

mod agent_bots;
mod apply;
mod assignment_activity;
mod batch;
mod counters;
mod harness;
mod helpers;
// ---- audit ----
mod history;
mod messages;
mod parked;
mod patches;
mod rebuild;
mod reports;
mod runs;
mod schema;
mod worker;
// ---- webhooks ----
mod webhooks;
