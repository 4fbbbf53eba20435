//! Whole-system tests: the real binaries (both relays, the projection worker,
//! the query and command services) behind nginx, each test on a database and
//! NATS stream of its own, driven through the front door only, as a Chatwoot
//! client drives Chatwoot. The binaries come from `cargo build --workspace
//! --bins` (deploy/test.sh builds them before the tests).
//!
//! - [`harness`]: starting, killing and restarting the processes; a client.
//! - [`first_slice`]: a client's first walk through the API.
//! - [`crash_recovery`]: the relay and the projection worker killed mid-load.
//! - [`fuzz`]: schemathesis against the served OpenAPI document.
//! - [`failover`]: writes keep reaching the read models when a relay is killed.
//! - [`faults`]: the command service, NATS and Postgres fail under load.
//! - [`front_door`]: nginx answers every client of an open-loop load's
//!   thousand-odd connections.
//! - [`read_cache`]: rendered conversation pages are served again only while
//!   nothing they show has changed.

mod crash_recovery;
mod failover;
mod faults;
mod first_slice;
mod front_door;
mod fuzz;
mod harness;
mod read_cache;
