//! Who caused an event.

use serde::{Deserialize, Serialize};

/// The kind of principal behind a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person with a user access token.
    User,
    /// An agent bot with its own access token.
    AgentBot,
    /// A platform app (installation-level automation).
    PlatformApp,
    /// The system itself (operators' CLI, automatic transitions).
    System,
}

/// The principal that caused an event: recorded in every event's metadata and,
/// where readers need it (e.g. "resolved by ..."), in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// Principal kind.
    pub kind: ActorKind,
    /// The principal's id; `None` only for [`ActorKind::System`].
    pub id: Option<i64>,
}

impl Actor {
    /// A user actor.
    pub fn user(id: i64) -> Self {
        Actor {
            kind: ActorKind::User,
            id: Some(id),
        }
    }
    /// An agent-bot actor.
    pub fn agent_bot(id: i64) -> Self {
        Actor {
            kind: ActorKind::AgentBot,
            id: Some(id),
        }
    }
    /// A platform-app actor.
    pub fn platform_app(id: i64) -> Self {
        Actor {
            kind: ActorKind::PlatformApp,
            id: Some(id),
        }
    }
    /// The system.
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
        }
    }
}
