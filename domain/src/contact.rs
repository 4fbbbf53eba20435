//! Contacts (the customers) and the inboxes they can be reached through.

use serde::{Deserialize, Serialize};

use crate::validate::{blank_to_none, is_e164, is_email, name_length};
use crate::{Aggregate, Attributes, DomainError, Event};

/// A contact's fields as events carry them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFields {
    /// Name (may be empty).
    pub name: String,
    /// E-mail, lowercased; unique per account.
    pub email: Option<String>,
    /// Phone number in E.164; unique per account.
    pub phone_number: Option<String>,
    /// The customer's id in the client's own system; unique per account.
    pub identifier: Option<String>,
    /// Attributes from the channel.
    pub additional_attributes: Attributes,
    /// Attributes set by agents.
    pub custom_attributes: Attributes,
}

/// Fields a client may send; `None` keeps the current value. Attributes are merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactChanges {
    /// Name.
    pub name: Option<String>,
    /// E-mail (blank clears it).
    pub email: Option<String>,
    /// Phone (blank clears it).
    pub phone_number: Option<String>,
    /// Identifier (blank clears it).
    pub identifier: Option<String>,
    /// Merged into `additional_attributes`.
    pub additional_attributes: Option<Attributes>,
    /// Merged into `custom_attributes`.
    pub custom_attributes: Option<Attributes>,
}

/// Which unique fields other contacts of the account already hold, looked up
/// by the caller for the values being written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// Another contact has this e-mail.
    pub email: bool,
    /// Another contact has this phone number.
    pub phone_number: bool,
    /// Another contact has this identifier.
    pub identifier: bool,
}

/// A contact inbox as the contact knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactInbox {
    /// Its id.
    pub id: i64,
    /// The inbox.
    pub inbox_id: i64,
    /// The contact's address there.
    pub source_id: String,
}

/// A contact as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    /// `(contact id, account id)` once created.
    pub ids: Option<(i64, i64)>,
    /// Current fields.
    pub fields: ContactFields,
    /// Inboxes it is reachable through.
    pub contact_inboxes: Vec<ContactInbox>,
}

/// A contact inbox to open, with the id and source the caller settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContactInbox {
    /// New contact inbox id.
    pub contact_inbox_id: i64,
    /// The inbox (checked by the caller to be in the contact's account).
    pub inbox_id: i64,
    /// The source id (given by the client, or generated).
    pub source_id: String,
    /// Whether another contact inbox of that inbox already has this source id.
    pub source_taken: bool,
}

/// What may be asked of a contact.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactCommand {
    /// Create the contact, optionally reachable through one inbox at once.
    Create {
        /// New id.
        contact_id: i64,
        /// Owning account.
        account_id: i64,
        /// Fields.
        changes: ContactChanges,
        /// Uniqueness facts.
        taken: Taken,
        /// Optional first contact inbox.
        contact_inbox: Option<NewContactInbox>,
    },
    /// Change fields.
    Update {
        /// Fields.
        changes: ContactChanges,
        /// Uniqueness facts.
        taken: Taken,
    },
    /// Make the contact reachable through an inbox.
    AddContactInbox(NewContactInbox),
}

fn apply(
    current: &ContactFields,
    c: &ContactChanges,
    taken: Taken,
) -> Result<ContactFields, DomainError> {
    let mut f = current.clone();
    if let Some(v) = &c.name {
        f.name = v.trim().to_owned();
    }
    if let Some(v) = &c.email {
        f.email = blank_to_none(Some(v)).map(|e| e.to_lowercase());
    }
    if let Some(v) = &c.phone_number {
        f.phone_number = blank_to_none(Some(v));
    }
    if let Some(v) = &c.identifier {
        f.identifier = blank_to_none(Some(v));
    }
    if let Some(v) = &c.additional_attributes {
        f.additional_attributes.extend(v.clone());
    }
    if let Some(v) = &c.custom_attributes {
        f.custom_attributes.extend(v.clone());
    }
    let mut problems: Vec<(&str, String)> = Vec::new();
    if let Err(DomainError::Invalid { message, .. }) = name_length(&f.name) {
        problems.push(("name", message));
    }
    if let Some(email) = &f.email {
        if !is_email(email) {
            problems.push(("email", "Email Invalid email".into()));
        } else if taken.email && f.email != current.email {
            problems.push(("email", "Email has already been taken".into()));
        }
    }
    if let Some(phone) = &f.phone_number {
        if !is_e164(phone) {
            problems.push((
                "phone_number",
                "Phone number should be in e164 format".into(),
            ));
        } else if taken.phone_number && f.phone_number != current.phone_number {
            problems.push(("phone_number", "Phone number has already been taken".into()));
        }
    }
    if f.identifier.is_some() && taken.identifier && f.identifier != current.identifier {
        problems.push(("identifier", "Identifier has already been taken".into()));
    }
    if problems.is_empty() {
        Ok(f)
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

fn contact_inbox_event(
    contact_id: i64,
    account_id: i64,
    ci: &NewContactInbox,
) -> Result<Event, DomainError> {
    let source_id = ci.source_id.trim();
    if source_id.is_empty() {
        return Err(DomainError::invalid("source_id", "Source can't be blank"));
    }
    if ci.source_taken {
        return Err(DomainError::invalid(
            "source_id",
            "Source has already been taken",
        ));
    }
    Ok(Event::ContactInboxCreated {
        contact_id,
        account_id,
        contact_inbox_id: ci.contact_inbox_id,
        inbox_id: ci.inbox_id,
        source_id: source_id.to_owned(),
    })
}

impl Aggregate for Contact {
    type Command = ContactCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::ContactCreated {
                contact_id,
                account_id,
                fields,
            }
            | Event::ContactUpdated {
                contact_id,
                account_id,
                fields,
            } => {
                self.ids = Some((*contact_id, *account_id));
                self.fields = fields.clone();
            }
            Event::ContactInboxCreated {
                contact_inbox_id,
                inbox_id,
                source_id,
                ..
            } => {
                self.contact_inboxes.push(ContactInbox {
                    id: *contact_inbox_id,
                    inbox_id: *inbox_id,
                    source_id: source_id.clone(),
                });
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &ContactCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            ContactCommand::Create {
                contact_id,
                account_id,
                changes,
                taken,
                contact_inbox,
            } => {
                if self.ids.is_some() {
                    return Err(DomainError::Rejected("Contact already exists".into()));
                }
                let fields = apply(&ContactFields::default(), changes, *taken)?;
                let mut events = vec![Event::ContactCreated {
                    contact_id: *contact_id,
                    account_id: *account_id,
                    fields,
                }];
                if let Some(ci) = contact_inbox {
                    events.push(contact_inbox_event(*contact_id, *account_id, ci)?);
                }
                Ok(events)
            }
            ContactCommand::Update { changes, taken } => {
                let (contact_id, account_id) = self.ids.ok_or(DomainError::NotFound)?;
                let fields = apply(&self.fields, changes, *taken)?;
                if fields == self.fields {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ContactUpdated {
                    contact_id,
                    account_id,
                    fields,
                }])
            }
            ContactCommand::AddContactInbox(ci) => {
                let (contact_id, account_id) = self.ids.ok_or(DomainError::NotFound)?;
                Ok(vec![contact_inbox_event(contact_id, account_id, ci)?])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::when;
    use serde_json::json;

    fn attrs(v: serde_json::Value) -> Attributes {
        v.as_object().cloned().unwrap()
    }

    fn create(changes: ContactChanges, taken: Taken) -> ContactCommand {
        ContactCommand::Create {
            contact_id: 7,
            account_id: 1,
            changes,
            taken,
            contact_inbox: None,
        }
    }

    fn created() -> Vec<Event> {
        let changes = ContactChanges {
            name: Some("Jane".into()),
            email: Some("Jane@Example.com".into()),
            custom_attributes: Some(attrs(json!({"test": "t", "test1": "t1"}))),
            ..Default::default()
        };
        when::<Contact>(&[], create(changes, Taken::default())).unwrap()
    }

    #[test]
    fn given_nothing_when_create_then_contact_created_with_lowercased_email() {
        let events = created();
        let [Event::ContactCreated { fields, .. }] = &events[..] else {
            panic!()
        };
        assert_eq!(fields.email.as_deref(), Some("jane@example.com"));
        assert_eq!(
            fields.custom_attributes,
            attrs(json!({"test": "t", "test1": "t1"}))
        );
    }

    #[test]
    fn given_nothing_when_create_with_blank_email_then_email_is_null() {
        let changes = ContactChanges {
            email: Some(" ".into()),
            ..Default::default()
        };
        let events = when::<Contact>(&[], create(changes, Taken::default())).unwrap();
        let [Event::ContactCreated { fields, .. }] = &events[..] else {
            panic!()
        };
        assert_eq!(fields.email, None);
    }

    #[test]
    fn given_nothing_when_create_with_a_taken_email_then_invalid_on_email() {
        let changes = ContactChanges {
            email: Some("a@b.co".into()),
            ..Default::default()
        };
        let taken = Taken {
            email: true,
            ..Default::default()
        };
        let err = when::<Contact>(&[], create(changes, taken)).unwrap_err();
        assert_eq!(
            err,
            DomainError::invalid("email", "Email has already been taken")
        );
    }

    #[test]
    fn given_nothing_when_create_with_a_non_e164_phone_then_invalid() {
        let changes = ContactChanges {
            phone_number: Some("12345".into()),
            ..Default::default()
        };
        let err = when::<Contact>(&[], create(changes, Taken::default())).unwrap_err();
        assert_eq!(
            err,
            DomainError::invalid("phone_number", "Phone number should be in e164 format")
        );
    }

    #[test]
    fn given_nothing_when_create_with_a_name_over_255_chars_then_name_is_too_long() {
        let changes = ContactChanges {
            name: Some("x".repeat(256)),
            ..Default::default()
        };
        let err = when::<Contact>(&[], create(changes, Taken::default())).unwrap_err();
        assert_eq!(
            err,
            DomainError::invalid("name", "Name is too long (maximum is 255 characters)")
        );
    }

    #[test]
    fn given_nothing_when_create_with_an_inbox_then_contact_inbox_created_too() {
        let cmd = ContactCommand::Create {
            contact_id: 7,
            account_id: 1,
            changes: ContactChanges::default(),
            taken: Taken::default(),
            contact_inbox: Some(NewContactInbox {
                contact_inbox_id: 3,
                inbox_id: 2,
                source_id: "abc".into(),
                source_taken: false,
            }),
        };
        let events = when::<Contact>(&[], cmd).unwrap();
        assert!(
            matches!(&events[1], Event::ContactInboxCreated { inbox_id: 2, source_id, .. } if source_id == "abc")
        );
    }

    #[test]
    fn given_a_contact_when_custom_attributes_are_updated_then_they_are_merged() {
        let cmd = ContactCommand::Update {
            changes: ContactChanges {
                custom_attributes: Some(attrs(json!({"test": "new test", "test2": "t2"}))),
                ..Default::default()
            },
            taken: Taken::default(),
        };
        let events = when::<Contact>(&created(), cmd).unwrap();
        let [Event::ContactUpdated { fields, .. }] = &events[..] else {
            panic!()
        };
        assert_eq!(
            fields.custom_attributes,
            attrs(json!({"test": "new test", "test1": "t1", "test2": "t2"}))
        );
    }

    #[test]
    fn given_a_contact_when_updated_to_its_own_email_then_it_is_not_taken() {
        let cmd = ContactCommand::Update {
            changes: ContactChanges {
                email: Some("jane@example.com".into()),
                name: Some("J".into()),
                ..Default::default()
            },
            taken: Taken {
                email: true,
                ..Default::default()
            },
        };
        assert!(when::<Contact>(&created(), cmd).is_ok());
    }

    #[test]
    fn given_a_contact_when_a_taken_source_is_added_then_invalid() {
        let cmd = ContactCommand::AddContactInbox(NewContactInbox {
            contact_inbox_id: 3,
            inbox_id: 2,
            source_id: "abc".into(),
            source_taken: true,
        });
        assert!(matches!(
            when::<Contact>(&created(), cmd),
            Err(DomainError::Invalid { .. })
        ));
    }

    #[test]
    fn given_nothing_when_updated_then_not_found() {
        let cmd = ContactCommand::Update {
            changes: ContactChanges::default(),
            taken: Taken::default(),
        };
        assert_eq!(when::<Contact>(&[], cmd), Err(DomainError::NotFound));
    }
}
