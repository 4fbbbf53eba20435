//! Integration tests of the command service: the event store, the relay and
//! the HTTP write API, on a fresh database per test and real NATS.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly; clippy's allow-unwrap-in-tests only covers #[test] fns"
)]

mod app;
mod event_store;
mod helpers;
mod pipeline;
mod platform;
mod relay;
mod slice;
mod teams;
