//! Platform apps: installation-level automation that manages accounts, users
//! and agent bots, each app only the objects it created or was granted.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError, Event};

/// An object a platform app may manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Permissible {
    /// An account.
    Account(i64),
    /// A user.
    User(i64),
    /// An agent bot.
    AgentBot(i64),
}

/// A platform app as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformApp {
    /// Set once created.
    pub id: Option<i64>,
    /// The app's name.
    pub name: String,
    /// What it may manage.
    pub grants: BTreeSet<Permissible>,
}

/// What may be asked of a platform app.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformAppCommand {
    /// Register the app.
    Create {
        /// The new id.
        app_id: i64,
        /// Its name.
        name: String,
        /// SHA-256 of its access token.
        access_token_hash: String,
    },
    /// Grant it an object; granting twice is a no-op.
    Grant(Permissible),
}

impl Aggregate for PlatformApp {
    type Command = PlatformAppCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::PlatformAppCreated { app_id, name, .. } => {
                self.id = Some(*app_id);
                self.name = name.clone();
            }
            Event::PermissibleGranted { target, .. } => {
                self.grants.insert(*target);
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &PlatformAppCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            PlatformAppCommand::Create {
                app_id,
                name,
                access_token_hash,
            } => {
                if self.id.is_some() {
                    return Err(DomainError::Rejected("Platform app already exists".into()));
                }
                let name = name.trim();
                if name.is_empty() {
                    return Err(DomainError::invalid("name", "Name can't be blank"));
                }
                Ok(vec![Event::PlatformAppCreated {
                    app_id: *app_id,
                    name: name.to_owned(),
                    access_token_hash: access_token_hash.clone(),
                }])
            }
            PlatformAppCommand::Grant(target) => {
                let app_id = self.id.ok_or(DomainError::NotFound)?;
                if self.grants.contains(target) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::PermissibleGranted {
                    app_id,
                    target: *target,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::when;

    fn created() -> Event {
        Event::PlatformAppCreated {
            app_id: 1,
            name: "ops".into(),
            access_token_hash: "h".into(),
        }
    }

    #[test]
    fn given_nothing_when_create_then_platform_app_created() {
        let cmd = PlatformAppCommand::Create {
            app_id: 1,
            name: " ops ".into(),
            access_token_hash: "h".into(),
        };
        assert_eq!(when::<PlatformApp>(&[], cmd).unwrap(), vec![created()]);
    }

    #[test]
    fn given_an_app_when_granted_an_account_then_permissible_granted_once() {
        let grant = PlatformAppCommand::Grant(Permissible::Account(4));
        let events = when::<PlatformApp>(&[created()], grant.clone()).unwrap();
        assert_eq!(
            events,
            vec![Event::PermissibleGranted {
                app_id: 1,
                target: Permissible::Account(4)
            }]
        );
        let history = [created(), events[0].clone()];
        assert!(when::<PlatformApp>(&history, grant).unwrap().is_empty());
    }

    #[test]
    fn given_nothing_when_granted_then_not_found() {
        let grant = PlatformAppCommand::Grant(Permissible::User(4));
        assert_eq!(when::<PlatformApp>(&[], grant), Err(DomainError::NotFound));
    }
}
