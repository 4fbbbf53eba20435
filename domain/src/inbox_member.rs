//! Who is a member of an inbox (agents see only their inboxes' conversations).
//!
//! Kept on the inbox's own stream but folded by its own small aggregate, so
//! inbox settings and membership change independently in code. Member ids are
//! checked by the caller to be members of the inbox's account.

use std::collections::BTreeSet;

use crate::members::MembersChange;
use crate::{Aggregate, DomainError, Event};

/// An inbox's members as the inbox stream tells them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxMembers {
    /// `(inbox id, account id)` once the inbox exists.
    pub ids: Option<(i64, i64)>,
    /// Member user ids.
    pub members: BTreeSet<i64>,
}

/// What may be asked of an inbox's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxMembersCommand {
    /// Add, remove or replace members.
    Change(MembersChange),
}

impl Aggregate for InboxMembers {
    type Command = InboxMembersCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::InboxCreated {
                inbox_id,
                account_id,
                ..
            } => self.ids = Some((*inbox_id, *account_id)),
            Event::InboxMembersAdded { user_ids, .. } => self.members.extend(user_ids),
            Event::InboxMembersRemoved { user_ids, .. } => {
                for id in user_ids {
                    self.members.remove(id);
                }
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &InboxMembersCommand) -> Result<Vec<Event>, DomainError> {
        let Some((inbox_id, account_id)) = self.ids else {
            return Err(DomainError::NotFound);
        };
        let InboxMembersCommand::Change(change) = command;
        let (added, removed) = change.diff(&self.members);
        let mut events = Vec::new();
        if !added.is_empty() {
            events.push(Event::InboxMembersAdded {
                inbox_id,
                account_id,
                user_ids: added,
            });
        }
        if !removed.is_empty() {
            events.push(Event::InboxMembersRemoved {
                inbox_id,
                account_id,
                user_ids: removed,
            });
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::{Channel, InboxSettings};
    use crate::testing::{given, when};

    fn created() -> Event {
        Event::InboxCreated {
            inbox_id: 5,
            account_id: 1,
            channel_id: 1,
            channel: Channel::Api {
                webhook_url: None,
                hmac_token: "h".into(),
            },
            settings: InboxSettings {
                name: "API".into(),
                greeting_enabled: false,
                greeting_message: None,
                enable_auto_assignment: true,
                working_hours_enabled: false,
                out_of_office_message: None,
                timezone: "UTC".into(),
                working_hours: vec![],
            },
        }
    }

    fn change(c: MembersChange) -> InboxMembersCommand {
        InboxMembersCommand::Change(c)
    }

    #[test]
    fn given_an_inbox_when_members_added_then_inbox_members_added() {
        let events =
            when::<InboxMembers>(&[created()], change(MembersChange::Add(vec![9, 8]))).unwrap();
        assert_eq!(
            events,
            vec![Event::InboxMembersAdded {
                inbox_id: 5,
                account_id: 1,
                user_ids: vec![8, 9]
            }]
        );
    }

    #[test]
    fn given_members_when_replaced_then_added_and_removed() {
        let log = vec![
            created(),
            Event::InboxMembersAdded {
                inbox_id: 5,
                account_id: 1,
                user_ids: vec![8, 9],
            },
        ];
        let events =
            when::<InboxMembers>(&log, change(MembersChange::Replace(vec![9, 10]))).unwrap();
        assert_eq!(events.len(), 2);
        let all: Vec<Event> = log.iter().cloned().chain(events).collect();
        assert_eq!(given::<InboxMembers>(&all).members, [9, 10].into());
        let removed =
            when::<InboxMembers>(&log, change(MembersChange::Remove(vec![8, 11]))).unwrap();
        assert_eq!(
            removed,
            vec![Event::InboxMembersRemoved {
                inbox_id: 5,
                account_id: 1,
                user_ids: vec![8]
            }]
        );
    }

    #[test]
    fn given_no_inbox_when_members_added_then_not_found() {
        assert_eq!(
            when::<InboxMembers>(&[], change(MembersChange::Add(vec![1]))),
            Err(DomainError::NotFound)
        );
    }
}
