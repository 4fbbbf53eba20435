//! Integration tests of the command service: the event store, the relay and
//! the HTTP write API, on a fresh database per test and real NATS.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly; clippy's allow-unwrap-in-tests only covers #[test] fns"
)]

mod admissions;
mod agent_bots;
mod app;
mod assignment_activity;
mod attachments;
mod bad_input;
mod client_compat;
mod concurrency;
mod conformance;
mod conformance_cases;
mod connections;
mod event_store;
mod export;
mod helpers;
// ---- audit ----
mod history;
mod idempotency;
mod integrations;
mod isolation;
mod messages;
mod openapi;
mod pipeline;
mod platform;
mod read_your_writes;
mod relay;
mod reports;
mod secrets;
mod slice;
mod teams;
mod webhooks;
