//! Access tokens.
//!
//! A token is derived, not drawn: `HMAC-SHA256(TOKEN_SECRET, "<owner type>:<owner id>")`
//! in hex. Only its SHA-256 is stored (write model and read model), so a copy of
//! the database reveals no usable token, while the services can still show a
//! user their own token where Chatwoot's API returns it (profile, platform user)
//! by deriving it again. See docs/adr/0005-access-tokens.md.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::settings::Secret;

/// Who a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerType {
    /// A user.
    User,
    /// An agent bot.
    AgentBot,
    /// A platform app.
    PlatformApp,
}

impl OwnerType {
    /// The name stored in the token tables.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerType::User => "user",
            OwnerType::AgentBot => "agent_bot",
            OwnerType::PlatformApp => "platform_app",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(OwnerType::User),
            "agent_bot" => Some(OwnerType::AgentBot),
            "platform_app" => Some(OwnerType::PlatformApp),
            _ => None,
        }
    }
}

/// The access token of an owner.
pub fn derive(secret: &Secret, owner: OwnerType, owner_id: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{}:{owner_id}", owner.as_str()).as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..24])
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random hex string of `bytes` bytes (widget tokens, SSO tokens, ...).
pub fn random_hex(bytes: usize) -> String {
    let mut out = Vec::with_capacity(bytes);
    while out.len() < bytes {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(bytes);
    hex::encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_owner_and_secret_and_are_stable() {
        let s = Secret::new("k");
        let a = derive(&s, OwnerType::User, 1);
        assert_eq!(a, derive(&s, OwnerType::User, 1));
        assert_ne!(a, derive(&s, OwnerType::User, 2));
        assert_ne!(a, derive(&s, OwnerType::AgentBot, 1));
        assert_ne!(a, derive(&Secret::new("other"), OwnerType::User, 1));
        assert_eq!(a.len(), 48);
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn random_hex_has_the_asked_length() {
        assert_eq!(random_hex(32).len(), 64);
        assert_ne!(random_hex(8), random_hex(8));
    }
}
