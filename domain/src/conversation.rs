//! Conversations between a contact and the team, addressed by a per-account
//! `display_id`.

use serde::{Deserialize, Serialize};

use crate::{Actor, Aggregate, Attributes, DomainError, Event};

/// A conversation's status (today's Chatwoot names; the seed's `bot` is `pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Waiting for the team.
    Open,
    /// Done.
    Resolved,
    /// With a bot, not yet handed to the team (the seed's `bot`).
    Pending,
    /// Put aside until a time or the next reply.
    Snoozed,
}

impl ConversationStatus {
    /// All statuses, in Chatwoot's enum order.
    pub const ALL: [ConversationStatus; 4] =
        [Self::Open, Self::Resolved, Self::Pending, Self::Snoozed];

    /// Parses a status from a client: today's names, plus the seed's `bot` for
    /// `pending`. Anything else is a clear 422, not the 500 Chatwoot answers.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        match value {
            "open" => Ok(Self::Open),
            "resolved" => Ok(Self::Resolved),
            "pending" | "bot" => Ok(Self::Pending),
            "snoozed" => Ok(Self::Snoozed),
            other => Err(DomainError::invalid(
                "status",
                format!(
                    "Status '{other}' is not a valid status (open, resolved, pending, snoozed)"
                ),
            )),
        }
    }

    /// Today's Chatwoot name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Pending => "pending",
            Self::Snoozed => "snoozed",
        }
    }
}

/// A conversation as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// `(global id, account id, display id)` once created.
    pub ids: Option<(i64, i64, i64)>,
    /// The inbox.
    pub inbox_id: i64,
    /// The contact.
    pub contact_id: i64,
    /// Current status.
    pub status: Option<ConversationStatus>,
    /// Snoozed until (Unix seconds).
    pub snoozed_until: Option<i64>,
    /// Assigned agent.
    pub assignee_id: Option<i64>,
    /// Assigned team.
    pub team_id: Option<i64>,
    /// Labels, in the order they were given.
    pub labels: Vec<String>,
}

/// What may be asked of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationCommand {
    /// Open a conversation on a contact inbox.
    Create {
        /// New global id.
        conversation_id: i64,
        /// Account.
        account_id: i64,
        /// New per-account display id.
        display_id: i64,
        /// Inbox (of the contact inbox).
        inbox_id: i64,
        /// Contact (of the contact inbox).
        contact_id: i64,
        /// The contact inbox.
        contact_inbox_id: i64,
        /// Status asked for by the client, if any.
        status: Option<ConversationStatus>,
        /// Whether the inbox has an active agent bot (then it starts `pending`).
        inbox_has_bot: bool,
        /// Assignee asked for (checked by the caller to be a member).
        assignee_id: Option<i64>,
        /// Team asked for (checked by the caller to be in the account).
        team_id: Option<i64>,
        /// Snoozed until (Unix seconds).
        snoozed_until: Option<i64>,
        /// Channel attributes.
        additional_attributes: Attributes,
        /// Agent attributes.
        custom_attributes: Attributes,
    },
    /// Set the status, or toggle it when none is given.
    ToggleStatus {
        /// The status asked for; `None` toggles (open → resolved, else → open).
        status: Option<ConversationStatus>,
        /// With `snoozed`: until when (Unix seconds).
        snoozed_until: Option<i64>,
        /// Who asks.
        actor: Actor,
    },
    // ---- messages and labels ----
    /// Replace the whole label set (Chatwoot's `POST .../labels`).
    ReplaceLabels {
        /// The new set; blanks and repeats are dropped.
        labels: Vec<String>,
        /// Who asks.
        actor: Actor,
    },
    /// An incoming message arrived: a resolved or snoozed conversation reopens.
    ReopenOnIncoming,
}

/// Trims labels and drops blanks and repeats, keeping the first occurrence.
pub fn normalize_labels(labels: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for label in labels {
        let label = label.trim();
        if !label.is_empty() && !out.iter().any(|l| l == label) {
            out.push(label.to_owned());
        }
    }
    out
}

impl Aggregate for Conversation {
    type Command = ConversationCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::ConversationCreated {
                conversation_id,
                account_id,
                display_id,
                inbox_id,
                contact_id,
                status,
                assignee_id,
                team_id,
                snoozed_until,
                ..
            } => {
                self.ids = Some((*conversation_id, *account_id, *display_id));
                self.inbox_id = *inbox_id;
                self.contact_id = *contact_id;
                self.status = Some(*status);
                self.assignee_id = *assignee_id;
                self.team_id = *team_id;
                self.snoozed_until = *snoozed_until;
            }
            Event::ConversationStatusChanged {
                to, snoozed_until, ..
            } => {
                self.status = Some(*to);
                self.snoozed_until = *snoozed_until;
            }
            Event::ConversationLabelsChanged { labels, .. } => {
                self.labels = labels.clone();
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &ConversationCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            ConversationCommand::Create {
                conversation_id,
                account_id,
                display_id,
                inbox_id,
                contact_id,
                contact_inbox_id,
                status,
                inbox_has_bot,
                assignee_id,
                team_id,
                snoozed_until,
                additional_attributes,
                custom_attributes,
            } => {
                if self.ids.is_some() {
                    return Err(DomainError::Rejected("Conversation already exists".into()));
                }
                let status = status.unwrap_or(if *inbox_has_bot {
                    ConversationStatus::Pending
                } else {
                    ConversationStatus::Open
                });
                Ok(vec![Event::ConversationCreated {
                    conversation_id: *conversation_id,
                    account_id: *account_id,
                    display_id: *display_id,
                    inbox_id: *inbox_id,
                    contact_id: *contact_id,
                    contact_inbox_id: *contact_inbox_id,
                    status,
                    assignee_id: *assignee_id,
                    team_id: *team_id,
                    snoozed_until: snoozed_until.filter(|_| status == ConversationStatus::Snoozed),
                    additional_attributes: additional_attributes.clone(),
                    custom_attributes: custom_attributes.clone(),
                }])
            }
            ConversationCommand::ToggleStatus {
                status,
                snoozed_until,
                actor,
            } => {
                let (Some((conversation_id, account_id, _)), Some(from)) = (self.ids, self.status)
                else {
                    return Err(DomainError::NotFound);
                };
                let to = status.unwrap_or(match from {
                    ConversationStatus::Open => ConversationStatus::Resolved,
                    _ => ConversationStatus::Open,
                });
                let snoozed_until = snoozed_until.filter(|_| to == ConversationStatus::Snoozed);
                if to == from && snoozed_until == self.snoozed_until {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ConversationStatusChanged {
                    conversation_id,
                    account_id,
                    from,
                    to,
                    snoozed_until,
                    actor: *actor,
                }])
            }
            ConversationCommand::ReplaceLabels { labels, actor } => {
                let Some((conversation_id, account_id, _)) = self.ids else {
                    return Err(DomainError::NotFound);
                };
                let labels = normalize_labels(labels);
                let added: Vec<String> = labels
                    .iter()
                    .filter(|l| !self.labels.contains(l))
                    .cloned()
                    .collect();
                let removed: Vec<String> = self
                    .labels
                    .iter()
                    .filter(|l| !labels.contains(l))
                    .cloned()
                    .collect();
                if added.is_empty() && removed.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ConversationLabelsChanged {
                    conversation_id,
                    account_id,
                    labels,
                    added,
                    removed,
                    actor: *actor,
                }])
            }
            ConversationCommand::ReopenOnIncoming => {
                let (Some((conversation_id, account_id, _)), Some(from)) = (self.ids, self.status)
                else {
                    return Err(DomainError::NotFound);
                };
                match from {
                    ConversationStatus::Resolved | ConversationStatus::Snoozed => {
                        Ok(vec![Event::ConversationStatusChanged {
                            conversation_id,
                            account_id,
                            from,
                            to: ConversationStatus::Open,
                            snoozed_until: None,
                            actor: Actor::system(),
                        }])
                    }
                    ConversationStatus::Open | ConversationStatus::Pending => Ok(vec![]),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, when};
    use ConversationStatus::*;

    fn create(status: Option<ConversationStatus>, has_bot: bool) -> ConversationCommand {
        ConversationCommand::Create {
            conversation_id: 100,
            account_id: 1,
            display_id: 1,
            inbox_id: 2,
            contact_id: 3,
            contact_inbox_id: 4,
            status,
            inbox_has_bot: has_bot,
            assignee_id: None,
            team_id: None,
            snoozed_until: Some(99),
            additional_attributes: Attributes::new(),
            custom_attributes: Attributes::new(),
        }
    }

    fn history(status: ConversationStatus) -> Vec<Event> {
        when::<Conversation>(&[], create(Some(status), false)).unwrap()
    }

    fn toggle(status: Option<ConversationStatus>) -> ConversationCommand {
        ConversationCommand::ToggleStatus {
            status,
            snoozed_until: None,
            actor: Actor::user(9),
        }
    }

    fn status_after(history: &[Event], command: ConversationCommand) -> ConversationStatus {
        let events = when::<Conversation>(history, command).unwrap();
        let all: Vec<Event> = history.iter().cloned().chain(events).collect();
        given::<Conversation>(&all).status.unwrap()
    }

    #[test]
    fn given_nothing_when_create_then_conversation_created_open() {
        let events = when::<Conversation>(&[], create(None, false)).unwrap();
        assert!(matches!(
            &events[..],
            [Event::ConversationCreated {
                status: Open,
                display_id: 1,
                snoozed_until: None,
                ..
            }]
        ));
    }

    #[test]
    fn given_an_inbox_with_a_bot_when_create_then_conversation_starts_pending() {
        let events = when::<Conversation>(&[], create(None, true)).unwrap();
        assert!(matches!(
            &events[..],
            [Event::ConversationCreated {
                status: Pending,
                ..
            }]
        ));
    }

    #[test]
    fn given_nothing_when_create_with_status_pending_then_it_is_pending() {
        let events = when::<Conversation>(&[], create(Some(Pending), false)).unwrap();
        assert!(matches!(
            &events[..],
            [Event::ConversationCreated {
                status: Pending,
                ..
            }]
        ));
    }

    #[test]
    fn given_an_open_conversation_when_toggled_without_status_then_resolved() {
        assert_eq!(status_after(&history(Open), toggle(None)), Resolved);
    }

    #[test]
    fn given_a_pending_conversation_when_toggled_then_open() {
        assert_eq!(status_after(&history(Pending), toggle(None)), Open);
    }

    #[test]
    fn given_a_resolved_conversation_when_toggled_then_open() {
        assert_eq!(status_after(&history(Resolved), toggle(None)), Open);
    }

    #[test]
    fn given_an_open_conversation_when_toggle_to_bot_then_pending() {
        let bot = ConversationStatus::parse("bot").unwrap();
        assert_eq!(status_after(&history(Open), toggle(Some(bot))), Pending);
    }

    #[test]
    fn given_an_open_conversation_when_snoozed_until_then_both_are_recorded() {
        let cmd = ConversationCommand::ToggleStatus {
            status: Some(Snoozed),
            snoozed_until: Some(1_900_000_000),
            actor: Actor::user(9),
        };
        let events = when::<Conversation>(&history(Open), cmd).unwrap();
        assert_eq!(
            events,
            vec![Event::ConversationStatusChanged {
                conversation_id: 100,
                account_id: 1,
                from: Open,
                to: Snoozed,
                snoozed_until: Some(1_900_000_000),
                actor: Actor::user(9)
            }]
        );
    }

    #[test]
    fn given_an_open_conversation_when_set_to_open_then_nothing_happens() {
        assert!(when::<Conversation>(&history(Open), toggle(Some(Open)))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn given_nothing_when_toggled_then_not_found() {
        assert_eq!(
            when::<Conversation>(&[], toggle(None)),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn an_unknown_status_is_a_validation_error_not_a_crash() {
        assert!(matches!(
            ConversationStatus::parse("foo"),
            Err(DomainError::Invalid { .. })
        ));
    }

    // ---- messages and labels ----

    fn labels(list: &[&str]) -> ConversationCommand {
        ConversationCommand::ReplaceLabels {
            labels: list.iter().map(|l| (*l).to_owned()).collect(),
            actor: Actor::user(9),
        }
    }

    #[test]
    fn given_labels_when_replaced_then_the_set_is_overwritten_case_57() {
        let mut log = history(Open);
        log.extend(when::<Conversation>(&log, labels(&["label1", "label2"])).unwrap());
        let events = when::<Conversation>(&log, labels(&["label3", "label4"])).unwrap();
        assert_eq!(
            events,
            vec![Event::ConversationLabelsChanged {
                conversation_id: 100,
                account_id: 1,
                labels: vec!["label3".into(), "label4".into()],
                added: vec!["label3".into(), "label4".into()],
                removed: vec!["label1".into(), "label2".into()],
                actor: Actor::user(9),
            }]
        );
        log.extend(events);
        assert_eq!(given::<Conversation>(&log).labels, vec!["label3", "label4"]);
    }

    #[test]
    fn given_labels_when_replaced_by_the_same_set_then_nothing_happens() {
        let mut log = history(Open);
        log.extend(when::<Conversation>(&log, labels(&["a", "b"])).unwrap());
        assert!(when::<Conversation>(&log, labels(&["b", " a", "a", ""]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn given_labels_when_replaced_by_nothing_then_all_are_removed() {
        let mut log = history(Open);
        log.extend(when::<Conversation>(&log, labels(&["a"])).unwrap());
        let events = when::<Conversation>(&log, labels(&[])).unwrap();
        assert!(matches!(
            &events[..],
            [Event::ConversationLabelsChanged { labels, removed, .. }]
                if labels.is_empty() && removed == &vec!["a".to_owned()]
        ));
    }

    #[test]
    fn given_nothing_when_labels_replaced_then_not_found() {
        assert_eq!(
            when::<Conversation>(&[], labels(&["a"])),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn given_a_resolved_conversation_when_an_incoming_message_arrives_then_it_reopens_case_70() {
        let events =
            when::<Conversation>(&history(Resolved), ConversationCommand::ReopenOnIncoming)
                .unwrap();
        assert_eq!(
            events,
            vec![Event::ConversationStatusChanged {
                conversation_id: 100,
                account_id: 1,
                from: Resolved,
                to: Open,
                snoozed_until: None,
                actor: Actor::system(),
            }]
        );
    }

    #[test]
    fn given_a_snoozed_conversation_when_an_incoming_message_arrives_then_it_reopens() {
        assert_eq!(
            status_after(&history(Snoozed), ConversationCommand::ReopenOnIncoming),
            Open
        );
    }

    #[test]
    fn given_an_open_or_pending_conversation_when_an_incoming_message_arrives_then_nothing() {
        for s in [Open, Pending] {
            assert!(
                when::<Conversation>(&history(s), ConversationCommand::ReopenOnIncoming)
                    .unwrap()
                    .is_empty()
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_status() -> impl Strategy<Value = Option<ConversationStatus>> {
            prop_oneof![
                Just(None),
                Just(Some(Open)),
                Just(Some(Resolved)),
                Just(Some(Pending)),
                Just(Some(Snoozed))
            ]
        }

        proptest! {
            /// Whatever sequence of toggles, the folded state has exactly one
            /// status, equal to the `to` of the last change, and each change's
            /// `from` is the status before it.
            #[test]
            fn status_changes_chain_from_one_to_the_next(toggles in proptest::collection::vec(any_status(), 0..30)) {
                let mut log = history(Open);
                for t in toggles {
                    let before = given::<Conversation>(&log).status.unwrap();
                    let events = when::<Conversation>(&log, toggle(t)).unwrap();
                    for e in &events {
                        let Event::ConversationStatusChanged { from, to, .. } = e else { panic!() };
                        prop_assert_eq!(*from, before);
                        prop_assert_ne!(*from, *to);
                    }
                    log.extend(events);
                }
                let last_to = log.iter().rev().find_map(|e| match e {
                    Event::ConversationStatusChanged { to, .. } => Some(*to),
                    _ => None,
                }).unwrap_or(Open);
                prop_assert_eq!(given::<Conversation>(&log).status, Some(last_to));
            }
        }
    }
}
