//! Accounts (tenants) and their members.
//!
//! Memberships live in the account's stream so that role changes of one
//! account are linearised with each other and with the account's deletion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::validate::name_length;
use crate::{Aggregate, Attributes, DomainError, Event};

/// A member's role in an account (Chatwoot's `agent` = 0, `administrator` = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the conversations of the inboxes they belong to.
    Agent,
    /// Manages the account and sees everything in it.
    Administrator,
}

impl Role {
    /// Parses Chatwoot's role names; anything else is a clear 422, not the
    /// 500 Chatwoot answers.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        match value {
            "agent" => Ok(Role::Agent),
            "administrator" => Ok(Role::Administrator),
            other => Err(DomainError::invalid(
                "role",
                format!("Role '{other}' is not a valid role (agent, administrator)"),
            )),
        }
    }

    /// Chatwoot's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Administrator => "administrator",
        }
    }
}

/// A membership as the account knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The membership's id.
    pub account_user_id: i64,
    /// The member's role.
    pub role: Role,
}

/// An account as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// Set once created.
    pub id: Option<i64>,
    /// Set once deleted.
    pub deleted: bool,
    /// Display name.
    pub name: String,
    /// Locale.
    pub locale: String,
    /// Custom domain.
    pub domain: Option<String>,
    /// Support e-mail.
    pub support_email: Option<String>,
    /// Free-form attributes.
    pub custom_attributes: Attributes,
    /// Members by user id.
    pub members: BTreeMap<i64, Membership>,
}

/// Changes to an account's settings; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountChanges {
    /// New name.
    pub name: Option<String>,
    /// New locale.
    pub locale: Option<String>,
    /// New domain (`Some(None)` clears it).
    pub domain: Option<Option<String>>,
    /// New support e-mail (`Some(None)` clears it).
    pub support_email: Option<Option<String>>,
    /// Attributes merged into the current ones.
    pub custom_attributes: Option<Attributes>,
}

/// What may be asked of an account.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    /// Create the account with a freshly allocated id.
    Create {
        /// The new id.
        account_id: i64,
        /// The settings; `name` is required.
        changes: AccountChanges,
    },
    /// Change its settings.
    Update(AccountChanges),
    /// Delete it.
    Delete,
    /// Add a member or change an existing member's role (Chatwoot's upsert).
    UpsertMember {
        /// Id for the membership if it is new (allocated by the caller).
        new_account_user_id: i64,
        /// The user; the caller has checked that the user exists.
        user_id: i64,
        /// The role; a new member without one becomes an agent.
        role: Option<Role>,
        /// Who invited them.
        inviter_id: Option<i64>,
    },
    /// Remove a member; removing a non-member is a no-op, as in Chatwoot.
    RemoveMember {
        /// The user.
        user_id: i64,
    },
}

impl Account {
    /// Whether the account exists and is not deleted.
    pub fn is_live(&self) -> bool {
        self.id.is_some() && !self.deleted
    }

    fn apply(&self, changes: &AccountChanges) -> Result<Account, DomainError> {
        let mut next = self.clone();
        if let Some(name) = &changes.name {
            next.name = name.trim().to_owned();
        }
        if next.name.is_empty() {
            return Err(DomainError::invalid("name", "Name can't be blank"));
        }
        name_length(&next.name)?;
        if let Some(locale) = &changes.locale {
            next.locale = locale.clone();
        }
        if next.locale.is_empty() {
            next.locale = "en".into();
        }
        if let Some(domain) = &changes.domain {
            next.domain = domain.clone();
        }
        if let Some(email) = &changes.support_email {
            next.support_email = email.clone();
        }
        if let Some(attrs) = &changes.custom_attributes {
            next.custom_attributes.extend(attrs.clone());
        }
        Ok(next)
    }
}

impl Aggregate for Account {
    type Command = AccountCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::AccountCreated {
                account_id,
                name,
                locale,
                domain,
                support_email,
                custom_attributes,
            }
            | Event::AccountUpdated {
                account_id,
                name,
                locale,
                domain,
                support_email,
                custom_attributes,
            } => {
                self.id = Some(*account_id);
                self.name = name.clone();
                self.locale = locale.clone();
                self.domain = domain.clone();
                self.support_email = support_email.clone();
                self.custom_attributes = custom_attributes.clone();
            }
            Event::AccountDeleted { .. } => self.deleted = true,
            Event::AccountUserAdded {
                account_user_id,
                user_id,
                role,
                ..
            } => {
                self.members.insert(
                    *user_id,
                    Membership {
                        account_user_id: *account_user_id,
                        role: *role,
                    },
                );
            }
            Event::AccountUserRoleChanged { user_id, to, .. } => {
                if let Some(m) = self.members.get_mut(user_id) {
                    m.role = *to;
                }
            }
            Event::AccountUserRemoved { user_id, .. } => {
                self.members.remove(user_id);
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &AccountCommand) -> Result<Vec<Event>, DomainError> {
        if let AccountCommand::Create {
            account_id,
            changes,
        } = command
        {
            if self.id.is_some() {
                return Err(DomainError::Rejected("Account already exists".into()));
            }
            let next = Account::default().apply(changes)?;
            return Ok(vec![Event::AccountCreated {
                account_id: *account_id,
                name: next.name,
                locale: next.locale,
                domain: next.domain,
                support_email: next.support_email,
                custom_attributes: next.custom_attributes,
            }]);
        }
        let Some(account_id) = self.id.filter(|_| !self.deleted) else {
            return Err(DomainError::NotFound);
        };
        match command {
            AccountCommand::Create { .. } => Ok(vec![]),
            AccountCommand::Update(changes) => {
                let next = self.apply(changes)?;
                if next == *self {
                    return Ok(vec![]);
                }
                Ok(vec![Event::AccountUpdated {
                    account_id,
                    name: next.name,
                    locale: next.locale,
                    domain: next.domain,
                    support_email: next.support_email,
                    custom_attributes: next.custom_attributes,
                }])
            }
            AccountCommand::Delete => Ok(vec![Event::AccountDeleted { account_id }]),
            AccountCommand::UpsertMember {
                new_account_user_id,
                user_id,
                role,
                inviter_id,
            } => match self.members.get(user_id) {
                Some(m) => match role {
                    Some(to) if *to != m.role => Ok(vec![Event::AccountUserRoleChanged {
                        account_id,
                        account_user_id: m.account_user_id,
                        user_id: *user_id,
                        from: m.role,
                        to: *to,
                    }]),
                    _ => Ok(vec![]),
                },
                None => Ok(vec![Event::AccountUserAdded {
                    account_id,
                    account_user_id: *new_account_user_id,
                    user_id: *user_id,
                    role: role.unwrap_or(Role::Agent),
                    inviter_id: *inviter_id,
                }]),
            },
            AccountCommand::RemoveMember { user_id } => Ok(self
                .members
                .get(user_id)
                .map(|m| Event::AccountUserRemoved {
                    account_id,
                    account_user_id: m.account_user_id,
                    user_id: *user_id,
                })
                .into_iter()
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::when;

    fn created() -> Event {
        Event::AccountCreated {
            account_id: 1,
            name: "Acme".into(),
            locale: "en".into(),
            domain: None,
            support_email: None,
            custom_attributes: Attributes::new(),
        }
    }

    fn create(name: &str) -> AccountCommand {
        AccountCommand::Create {
            account_id: 1,
            changes: AccountChanges {
                name: Some(name.into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn given_nothing_when_create_then_account_created_in_english() {
        assert_eq!(
            when::<Account>(&[], create("Acme")).unwrap(),
            vec![created()]
        );
    }

    #[test]
    fn given_nothing_when_create_without_name_then_name_cant_be_blank() {
        let err = when::<Account>(&[], create("  ")).unwrap_err();
        assert_eq!(err, DomainError::invalid("name", "Name can't be blank"));
    }

    #[test]
    fn given_an_account_when_create_again_then_rejected() {
        assert!(matches!(
            when::<Account>(&[created()], create("X")),
            Err(DomainError::Rejected(_))
        ));
    }

    #[test]
    fn given_an_account_when_renamed_then_account_updated_with_the_new_name() {
        let events = when::<Account>(
            &[created()],
            AccountCommand::Update(AccountChanges {
                name: Some("Beta".into()),
                ..Default::default()
            }),
        )
        .unwrap();
        assert!(matches!(&events[..], [Event::AccountUpdated { name, .. }] if name == "Beta"));
    }

    #[test]
    fn given_an_account_when_updated_with_the_same_values_then_nothing_happens() {
        let events = when::<Account>(
            &[created()],
            AccountCommand::Update(AccountChanges {
                name: Some("Acme".into()),
                ..Default::default()
            }),
        )
        .unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn given_a_deleted_account_when_updated_then_not_found() {
        let history = [created(), Event::AccountDeleted { account_id: 1 }];
        let result = when::<Account>(&history, AccountCommand::Update(AccountChanges::default()));
        assert_eq!(result, Err(DomainError::NotFound));
    }

    #[test]
    fn given_nothing_when_deleted_then_not_found() {
        assert_eq!(
            when::<Account>(&[], AccountCommand::Delete),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn given_an_account_when_deleted_then_account_deleted() {
        assert_eq!(
            when::<Account>(&[created()], AccountCommand::Delete).unwrap(),
            vec![Event::AccountDeleted { account_id: 1 }]
        );
    }

    fn upsert(role: Option<Role>) -> AccountCommand {
        AccountCommand::UpsertMember {
            new_account_user_id: 9,
            user_id: 5,
            role,
            inviter_id: None,
        }
    }

    #[test]
    fn given_an_account_when_a_member_is_added_without_role_then_they_are_an_agent() {
        let events = when::<Account>(&[created()], upsert(None)).unwrap();
        assert_eq!(
            events,
            vec![Event::AccountUserAdded {
                account_id: 1,
                account_user_id: 9,
                user_id: 5,
                role: Role::Agent,
                inviter_id: None
            }]
        );
    }

    #[test]
    fn given_an_agent_when_upserted_as_administrator_then_role_changed() {
        let added = when::<Account>(&[created()], upsert(None)).unwrap();
        let history = [vec![created()], added].concat();
        let events = when::<Account>(&history, upsert(Some(Role::Administrator))).unwrap();
        assert_eq!(
            events,
            vec![Event::AccountUserRoleChanged {
                account_id: 1,
                account_user_id: 9,
                user_id: 5,
                from: Role::Agent,
                to: Role::Administrator
            }]
        );
    }

    #[test]
    fn given_a_member_when_upserted_with_the_same_role_then_nothing_happens() {
        let added = when::<Account>(&[created()], upsert(Some(Role::Agent))).unwrap();
        let history = [vec![created()], added].concat();
        assert!(when::<Account>(&history, upsert(Some(Role::Agent)))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn given_a_member_when_removed_then_account_user_removed() {
        let added = when::<Account>(&[created()], upsert(None)).unwrap();
        let history = [vec![created()], added].concat();
        let events =
            when::<Account>(&history, AccountCommand::RemoveMember { user_id: 5 }).unwrap();
        assert_eq!(
            events,
            vec![Event::AccountUserRemoved {
                account_id: 1,
                account_user_id: 9,
                user_id: 5
            }]
        );
    }

    #[test]
    fn given_no_such_member_when_removed_then_nothing_happens() {
        let events =
            when::<Account>(&[created()], AccountCommand::RemoveMember { user_id: 5 }).unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn an_unknown_role_name_is_a_validation_error() {
        assert!(matches!(
            Role::parse("owner"),
            Err(DomainError::Invalid { .. })
        ));
        assert_eq!(Role::parse("administrator").unwrap(), Role::Administrator);
    }
}
