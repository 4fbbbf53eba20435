//! Users (people who log in and act as agents or administrators).

use crate::validate::{is_email, name_length};
use crate::{Aggregate, Attributes, DomainError, Event};

/// A user as their stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// Set once created.
    pub id: Option<i64>,
    /// Set once deleted.
    pub deleted: bool,
    /// Full name.
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Login e-mail, lowercased.
    pub email: String,
    /// Free-form attributes.
    pub custom_attributes: Attributes,
}

/// Profile fields; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChanges {
    /// Full name.
    pub name: Option<String>,
    /// Display name (`Some(None)` clears it).
    pub display_name: Option<Option<String>>,
    /// Login e-mail.
    pub email: Option<String>,
    /// Password; checked for length, never stored in the log.
    pub password: Option<String>,
    /// Attributes merged into the current ones.
    pub custom_attributes: Option<Attributes>,
}

/// What may be asked of a user.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// Create the user.
    Create {
        /// The new id.
        user_id: i64,
        /// The profile; name and e-mail are required.
        changes: UserChanges,
        /// SHA-256 of the access token issued to them.
        access_token_hash: String,
        /// Whether another user already has this e-mail (looked up by the caller).
        email_taken: bool,
    },
    /// Change the profile.
    Update {
        /// The changes.
        changes: UserChanges,
        /// Whether another user already has the new e-mail.
        email_taken: bool,
    },
    /// Delete the user.
    Delete,
}

impl User {
    fn apply(&self, changes: &UserChanges, email_taken: bool) -> Result<User, DomainError> {
        let mut next = self.clone();
        if let Some(name) = &changes.name {
            next.name = name.trim().to_owned();
        }
        if let Some(display_name) = &changes.display_name {
            next.display_name = display_name.clone();
        }
        if let Some(email) = &changes.email {
            next.email = email.trim().to_lowercase();
        }
        if let Some(attrs) = &changes.custom_attributes {
            next.custom_attributes.extend(attrs.clone());
        }
        let mut problems = Vec::new();
        if next.name.is_empty() {
            problems.push(("name", "Name can't be blank".to_owned()));
        } else if let Err(DomainError::Invalid { message, .. }) = name_length(&next.name) {
            problems.push(("name", message));
        }
        if next.email.is_empty() {
            problems.push(("email", "Email can't be blank".to_owned()));
        } else if !is_email(&next.email) {
            problems.push(("email", "Email is invalid".to_owned()));
        } else if email_taken && next.email != self.email {
            problems.push(("email", "Email has already been taken".to_owned()));
        }
        if let Some(password) = &changes.password {
            if password.chars().count() < 6 {
                problems.push((
                    "password",
                    "Password is too short (minimum is 6 characters)".to_owned(),
                ));
            } else if password.chars().count() > 128 {
                problems.push((
                    "password",
                    "Password is too long (maximum is 128 characters)".to_owned(),
                ));
            }
        }
        if problems.is_empty() {
            Ok(next)
        } else {
            Err(DomainError::Invalid {
                message: problems
                    .iter()
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                attributes: problems.iter().map(|(a, _)| (*a).to_owned()).collect(),
            })
        }
    }
}

impl Aggregate for User {
    type Command = UserCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::UserCreated {
                user_id,
                name,
                display_name,
                email,
                custom_attributes,
                ..
            }
            | Event::UserUpdated {
                user_id,
                name,
                display_name,
                email,
                custom_attributes,
            } => {
                self.id = Some(*user_id);
                self.name = name.clone();
                self.display_name = display_name.clone();
                self.email = email.clone();
                self.custom_attributes = custom_attributes.clone();
            }
            Event::UserDeleted { .. } => self.deleted = true,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &UserCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            UserCommand::Create {
                user_id,
                changes,
                access_token_hash,
                email_taken,
            } => {
                if self.id.is_some() {
                    return Err(DomainError::Rejected("User already exists".into()));
                }
                let next = User::default().apply(changes, *email_taken)?;
                Ok(vec![Event::UserCreated {
                    user_id: *user_id,
                    name: next.name,
                    display_name: next.display_name,
                    email: next.email,
                    custom_attributes: next.custom_attributes,
                    access_token_hash: access_token_hash.clone(),
                }])
            }
            UserCommand::Update {
                changes,
                email_taken,
            } => {
                let user_id = self
                    .id
                    .filter(|_| !self.deleted)
                    .ok_or(DomainError::NotFound)?;
                let next = self.apply(changes, *email_taken)?;
                if next == *self {
                    return Ok(vec![]);
                }
                Ok(vec![Event::UserUpdated {
                    user_id,
                    name: next.name,
                    display_name: next.display_name,
                    email: next.email,
                    custom_attributes: next.custom_attributes,
                }])
            }
            UserCommand::Delete => {
                let user_id = self
                    .id
                    .filter(|_| !self.deleted)
                    .ok_or(DomainError::NotFound)?;
                Ok(vec![Event::UserDeleted { user_id }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::when;

    fn changes(name: &str, email: &str) -> UserChanges {
        UserChanges {
            name: Some(name.into()),
            email: Some(email.into()),
            ..Default::default()
        }
    }

    fn create(name: &str, email: &str, taken: bool) -> UserCommand {
        UserCommand::Create {
            user_id: 3,
            changes: changes(name, email),
            access_token_hash: "h".into(),
            email_taken: taken,
        }
    }

    fn created() -> Event {
        Event::UserCreated {
            user_id: 3,
            name: "Ann".into(),
            display_name: None,
            email: "ann@example.com".into(),
            custom_attributes: Attributes::new(),
            access_token_hash: "h".into(),
        }
    }

    #[test]
    fn given_nothing_when_create_then_user_created_with_lowercased_email() {
        let events = when::<User>(&[], create("Ann", "Ann@Example.com", false)).unwrap();
        assert_eq!(events, vec![created()]);
    }

    #[test]
    fn given_nothing_when_create_with_a_taken_email_then_email_has_already_been_taken() {
        let err = when::<User>(&[], create("Ann", "ann@example.com", true)).unwrap_err();
        assert_eq!(
            err,
            DomainError::invalid("email", "Email has already been taken")
        );
    }

    #[test]
    fn given_nothing_when_create_with_bad_email_and_no_name_then_both_are_reported() {
        let err = when::<User>(&[], create("", "nope", false)).unwrap_err();
        assert_eq!(
            err,
            DomainError::Invalid {
                message: "Name can't be blank, Email is invalid".into(),
                attributes: vec!["name".into(), "email".into()]
            }
        );
    }

    #[test]
    fn given_nothing_when_create_with_a_short_password_then_invalid() {
        let mut c = changes("Ann", "ann@example.com");
        c.password = Some("123".into());
        let cmd = UserCommand::Create {
            user_id: 3,
            changes: c,
            access_token_hash: "h".into(),
            email_taken: false,
        };
        assert!(matches!(
            when::<User>(&[], cmd),
            Err(DomainError::Invalid { .. })
        ));
    }

    #[test]
    fn given_a_user_when_renamed_then_user_updated() {
        let cmd = UserCommand::Update {
            changes: UserChanges {
                name: Some("Bea".into()),
                ..Default::default()
            },
            email_taken: false,
        };
        let events = when::<User>(&[created()], cmd).unwrap();
        assert!(
            matches!(&events[..], [Event::UserUpdated { name, email, .. }] if name == "Bea" && email == "ann@example.com")
        );
    }

    #[test]
    fn given_a_user_when_custom_attributes_are_sent_then_they_are_merged() {
        let mut first = Attributes::new();
        first.insert("a".into(), 1.into());
        let history = [
            created(),
            Event::UserUpdated {
                user_id: 3,
                name: "Ann".into(),
                display_name: None,
                email: "ann@example.com".into(),
                custom_attributes: first,
            },
        ];
        let mut second = Attributes::new();
        second.insert("b".into(), 2.into());
        let cmd = UserCommand::Update {
            changes: UserChanges {
                custom_attributes: Some(second),
                ..Default::default()
            },
            email_taken: false,
        };
        let events = when::<User>(&history, cmd).unwrap();
        let Event::UserUpdated {
            custom_attributes, ..
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(custom_attributes.len(), 2);
    }

    #[test]
    fn given_nothing_when_updated_then_not_found() {
        let cmd = UserCommand::Update {
            changes: UserChanges::default(),
            email_taken: false,
        };
        assert_eq!(when::<User>(&[], cmd), Err(DomainError::NotFound));
    }

    #[test]
    fn given_a_user_when_deleted_then_user_deleted_and_again_not_found() {
        let events = when::<User>(&[created()], UserCommand::Delete).unwrap();
        assert_eq!(events, vec![Event::UserDeleted { user_id: 3 }]);
        let history = [created(), events[0].clone()];
        assert_eq!(
            when::<User>(&history, UserCommand::Delete),
            Err(DomainError::NotFound)
        );
    }
}
