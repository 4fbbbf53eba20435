//! Integration tests of the query service: the real server on 127.0.0.1:0
//! over a fresh database per test, its read model seeded with plain INSERTs
//! (the pipeline that fills it for real is tested end to end elsewhere).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly; clippy's allow-unwrap-in-tests only covers #[test] fns"
)]

mod auth;
mod contacts;
mod conversations;
mod helpers;
mod inboxes;
mod platform;
mod profile;
mod reports;
mod robustness;
