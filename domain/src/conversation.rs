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
    // ---- teams, members, assignments ----
    /// Set or clear the assignee (the caller checked that the assignee is a
    /// member of the account with access to the inbox).
    Assign {
        /// The new assignee; `None` unassigns.
        assignee_id: Option<i64>,
        /// Who asks.
        actor: Actor,
    },
    /// Set or clear the team.
    AssignTeam {
        /// The team and the facts about it; `None` clears the team.
        team: Option<TeamAssignment>,
        /// Who asks.
        actor: Actor,
    },
    /// A team was deleted: the conversation drops it if it still has it.
    ClearTeam {
        /// The deleted team.
        team_id: i64,
        /// Who deleted it.
        actor: Actor,
    },
}

/// A team being assigned to a conversation, with what the decision needs to
/// know about it (looked up by the caller in the same transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamAssignment {
    /// The team (of the conversation's account).
    pub team_id: i64,
    /// Its members.
    pub members: std::collections::BTreeSet<i64>,
    /// Whether assigning it picks an assignee when there is none.
    pub allow_auto_assign: bool,
    /// The member to pick: a team member who is a member of the inbox, with
    /// the fewest open assigned conversations, ties by lowest id.
    pub auto_assignee: Option<i64>,
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
            Event::ConversationAssigneeChanged { to, .. } => self.assignee_id = *to,
            Event::ConversationTeamChanged { to, .. } => self.team_id = *to,
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
            ConversationCommand::Assign { assignee_id, actor } => {
                let (conversation_id, account_id) = self.live()?;
                if *assignee_id == self.assignee_id {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ConversationAssigneeChanged {
                    conversation_id,
                    account_id,
                    from: self.assignee_id,
                    to: *assignee_id,
                    actor: *actor,
                    by_team: false,
                }])
            }
            ConversationCommand::AssignTeam { team, actor } => {
                let (conversation_id, account_id) = self.live()?;
                let to = team.as_ref().map(|t| t.team_id);
                if to == self.team_id {
                    return Ok(vec![]);
                }
                let team_changed = |assignee_id| Event::ConversationTeamChanged {
                    conversation_id,
                    account_id,
                    from: self.team_id,
                    to,
                    actor: *actor,
                    assignee_id,
                    team_deleted: false,
                };
                let Some(team) = team else {
                    // Leaving a team keeps the assignee (Chatwoot does too).
                    return Ok(vec![team_changed(None)]);
                };
                let mut assignee = self.assignee_id;
                // An assignee from outside the new team is dropped ...
                if assignee.is_some_and(|a| !team.members.contains(&a)) {
                    assignee = None;
                }
                // ... and with none, an auto-assigning team picks one.
                if assignee.is_none() && team.allow_auto_assign {
                    assignee = team.auto_assignee;
                }
                if assignee == self.assignee_id {
                    return Ok(vec![team_changed(None)]);
                }
                Ok(vec![
                    team_changed(assignee),
                    Event::ConversationAssigneeChanged {
                        conversation_id,
                        account_id,
                        from: self.assignee_id,
                        to: assignee,
                        actor: *actor,
                        by_team: true,
                    },
                ])
            }
            ConversationCommand::ClearTeam { team_id, actor } => {
                let (conversation_id, account_id) = self.live()?;
                if self.team_id != Some(*team_id) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::ConversationTeamChanged {
                    conversation_id,
                    account_id,
                    from: self.team_id,
                    to: None,
                    actor: *actor,
                    assignee_id: None,
                    team_deleted: true,
                }])
            }
        }
    }
}

impl Conversation {
    /// `(global id, account id)` of a created conversation, else not found.
    fn live(&self) -> Result<(i64, i64), DomainError> {
        self.ids
            .map(|(id, account_id, _)| (id, account_id))
            .ok_or(DomainError::NotFound)
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

    // ---- teams, members, assignments ----
    mod assignments {
        use super::*;

        fn assign(assignee_id: Option<i64>) -> ConversationCommand {
            ConversationCommand::Assign {
                assignee_id,
                actor: Actor::user(9),
            }
        }

        fn team(
            team_id: i64,
            members: &[i64],
            auto: bool,
            pick: Option<i64>,
        ) -> ConversationCommand {
            ConversationCommand::AssignTeam {
                team: Some(TeamAssignment {
                    team_id,
                    members: members.iter().copied().collect(),
                    allow_auto_assign: auto,
                    auto_assignee: pick,
                }),
                actor: Actor::user(9),
            }
        }

        fn after(history: &[Event], command: ConversationCommand) -> Conversation {
            let events = when::<Conversation>(history, command).unwrap();
            let all: Vec<Event> = history.iter().cloned().chain(events).collect();
            given::<Conversation>(&all)
        }

        fn assigned_to(user: i64) -> Vec<Event> {
            let log = history(Open);
            let events = when::<Conversation>(&log, assign(Some(user))).unwrap();
            log.into_iter().chain(events).collect()
        }

        #[test]
        fn given_a_conversation_when_assignee_set_then_assignee_changed() {
            let events = when::<Conversation>(&history(Open), assign(Some(5))).unwrap();
            assert_eq!(
                events,
                vec![Event::ConversationAssigneeChanged {
                    conversation_id: 100,
                    account_id: 1,
                    from: None,
                    to: Some(5),
                    actor: Actor::user(9),
                    by_team: false,
                }]
            );
        }

        #[test]
        fn given_an_assigned_conversation_when_unassigned_then_no_assignee() {
            assert_eq!(after(&assigned_to(5), assign(None)).assignee_id, None);
            // The same assignee again records nothing.
            assert_eq!(
                when::<Conversation>(&assigned_to(5), assign(Some(5))),
                Ok(vec![])
            );
        }

        #[test]
        fn given_nothing_when_assigned_then_not_found() {
            assert_eq!(
                when::<Conversation>(&[], assign(Some(1))),
                Err(DomainError::NotFound)
            );
        }

        #[test]
        fn given_no_assignee_when_auto_assign_team_set_then_the_pick_is_assigned() {
            let c = after(&history(Open), team(3, &[5, 6], true, Some(6)));
            assert_eq!((c.team_id, c.assignee_id), (Some(3), Some(6)));
        }

        #[test]
        fn given_no_assignee_when_team_without_auto_assign_set_then_nobody_is_assigned() {
            let c = after(&history(Open), team(3, &[5, 6], false, Some(6)));
            assert_eq!((c.team_id, c.assignee_id), (Some(3), None));
        }

        #[test]
        fn given_an_assignee_in_the_team_when_team_set_then_the_assignee_stays() {
            let c = after(&assigned_to(5), team(3, &[5, 6], true, Some(6)));
            assert_eq!((c.team_id, c.assignee_id), (Some(3), Some(5)));
        }

        #[test]
        fn given_an_assignee_outside_the_team_when_team_set_then_replaced_by_the_pick() {
            let c = after(&assigned_to(8), team(3, &[5, 6], true, Some(5)));
            assert_eq!((c.team_id, c.assignee_id), (Some(3), Some(5)));
            let c = after(&assigned_to(8), team(3, &[5, 6], false, Some(5)));
            assert_eq!((c.team_id, c.assignee_id), (Some(3), None));
        }

        #[test]
        fn given_a_team_when_team_cleared_then_the_assignee_stays() {
            let log: Vec<Event> = {
                let log = assigned_to(5);
                let e = when::<Conversation>(&log, team(3, &[5], true, None)).unwrap();
                log.into_iter().chain(e).collect()
            };
            let clear = ConversationCommand::AssignTeam {
                team: None,
                actor: Actor::user(9),
            };
            let c = after(&log, clear);
            assert_eq!((c.team_id, c.assignee_id), (None, Some(5)));
        }

        #[test]
        fn given_a_team_when_that_team_is_deleted_then_cleared_and_another_team_is_kept() {
            let log: Vec<Event> = {
                let log = history(Open);
                let e = when::<Conversation>(&log, team(3, &[], false, None)).unwrap();
                log.into_iter().chain(e).collect()
            };
            let clear = |team_id| ConversationCommand::ClearTeam {
                team_id,
                actor: Actor::user(9),
            };
            assert_eq!(after(&log, clear(3)).team_id, None);
            assert_eq!(when::<Conversation>(&log, clear(4)), Ok(vec![]));
        }
    }
}
