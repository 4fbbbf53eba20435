//! Wiring shared by every process of the system, written once.
//!
//! It sits under the services: the command service, the relay, the projection
//! workers and the query service all read their [`settings`] from the
//! environment, start [`telemetry`], open Postgres through [`db`] (which also
//! applies the migrations), reach JetStream through [`nats`], and stop on the
//! same [`shutdown`] signal. [`envelope`] is the documented wire format of an
//! event on NATS (CloudEvents attributes plus stream id, version and position);
//! [`stored`] is an event row of the Postgres log; [`tokens`] derives and hashes
//! access tokens; [`http`] holds the health endpoints and the request-id
//! plumbing every HTTP process shares; [`blobs`] is the blob store of
//! attachment and avatar bytes and signs their URLs; [`spares`] keeps
//! connections outside sqlx's pool for a statement every request runs.

pub mod blobs;
pub mod db;
pub mod envelope;
pub mod http;
pub mod nats;
pub mod rate_limit;
pub mod settings;
pub mod shutdown;
pub mod spares;
pub mod stored;
pub mod telemetry;
pub mod tokens;

pub use settings::Settings;
