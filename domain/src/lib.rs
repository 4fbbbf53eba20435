//! The pure model of the support desk.
//!
//! Everything a write must decide lives here, with no IO, no clock, no
//! randomness and no async: ids, the time and facts looked up elsewhere come in
//! on the commands. Each aggregate is a *decider*: `decide(&state, command)`
//! returns the events to append (or a [`DomainError`]), and `evolve(state, &event)`
//! folds an event into the state. The command service loads a stream, folds it,
//! decides, and appends; projections turn the same [`Event`]s into read models.
//!
//! Modules, one per aggregate: [`account`] (accounts and their members),
//! [`user`], [`platform_app`] (apps and their grants), [`inbox`], [`contact`]
//! (contacts and their contact inboxes), [`conversation`] (with its labels,
//! assignee and team), [`message`], [`team`] (teams and their members),
//! [`inbox_member`] (who works an inbox), [`integration`] (the apps
//! catalogue and hooks), [`attachment`] (blob references of message
//! attachments and inbox avatars). Shared pieces: [`members`]
//! (membership set changes), [`event`] (the persisted event vocabulary, type
//! names, schema versions and
//! upcasting), [`aggregate`] (the decider trait), [`actor`], [`validate`] and
//! [`error`].

pub mod account;
pub mod actor;
pub mod agent_bot;
pub mod aggregate;
pub mod attachment;
pub mod contact;
pub mod conversation;
pub mod error;
pub mod event;
pub mod inbox;
pub mod inbox_member;
pub mod integration;
pub mod members;
pub mod message;
pub mod platform_app;
pub mod team;
pub mod user;
pub mod validate;
// ---- webhooks ----
pub mod webhook;

#[cfg(test)]
mod testing;

pub use actor::{Actor, ActorKind};
pub use aggregate::Aggregate;
pub use error::DomainError;
pub use event::{Event, StreamId};

/// A JSON object of free-form attributes (`custom_attributes`, `additional_attributes`).
pub type Attributes = serde_json::Map<String, serde_json::Value>;
