//! Teams of an account and their members.
//!
//! A team's name is lowercased and trimmed before it is checked (Chatwoot's
//! `before_validation`), must not be blank and is unique per account: the
//! caller looks the normalized name up ([`normalize_name`]) and passes
//! `name_taken`. Member ids are checked by the caller to be members of the
//! account. A deleted team refuses every further command as not found.

use std::collections::BTreeSet;

use crate::members::MembersChange;
use crate::validate::name_length;
use crate::{Aggregate, DomainError, Event};

/// The name as it is stored and compared: trimmed and lowercased.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Team fields a client may send; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamChanges {
    /// Name (normalized by the decision).
    pub name: Option<String>,
    /// Description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Whether assigning the team auto-assigns one of its members.
    pub allow_auto_assign: Option<bool>,
}

/// A team as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Team {
    /// `(team id, account id)` once created.
    pub ids: Option<(i64, i64)>,
    /// Lowercased name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Auto-assign on team assignment.
    pub allow_auto_assign: bool,
    /// Deleted: nothing more may happen to it.
    pub deleted: bool,
    /// Member user ids.
    pub members: BTreeSet<i64>,
}

impl Team {
    /// `(team id, account id)` of a live team.
    pub fn live_ids(&self) -> Option<(i64, i64)> {
        self.ids.filter(|_| !self.deleted)
    }
}

/// What may be asked of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamCommand {
    /// Create the team.
    Create {
        /// New team id.
        team_id: i64,
        /// Owning account.
        account_id: i64,
        /// Fields sent; `name` is required.
        changes: TeamChanges,
        /// Whether another team of the account has the normalized name.
        name_taken: bool,
    },
    /// Change name, description or auto-assign.
    Update {
        /// Fields sent.
        changes: TeamChanges,
        /// Whether another team of the account has the new normalized name.
        name_taken: bool,
    },
    /// Delete the team (its members go with it).
    Delete,
    /// Add, remove or replace members (checked by the caller to be account members).
    Members(MembersChange),
}

fn settle(
    current: Option<&Team>,
    c: &TeamChanges,
    name_taken: bool,
) -> Result<(String, Option<String>, bool), DomainError> {
    let mut name = current.map(|t| t.name.clone()).unwrap_or_default();
    let mut description = current.and_then(|t| t.description.clone());
    let mut allow_auto_assign = current.is_none_or(|t| t.allow_auto_assign);
    if let Some(v) = &c.name {
        name = normalize_name(v);
    }
    if let Some(v) = &c.description {
        description = v.clone();
    }
    if let Some(v) = c.allow_auto_assign {
        allow_auto_assign = v;
    }
    if name.is_empty() {
        return Err(DomainError::invalid("name", "Name must not be blank"));
    }
    name_length(&name)?;
    let renamed = current.is_none_or(|t| t.name != name);
    if renamed && name_taken {
        return Err(DomainError::invalid("name", "Name has already been taken"));
    }
    Ok((name, description, allow_auto_assign))
}

impl Aggregate for Team {
    type Command = TeamCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::TeamCreated {
                team_id,
                account_id,
                name,
                description,
                allow_auto_assign,
            }
            | Event::TeamUpdated {
                team_id,
                account_id,
                name,
                description,
                allow_auto_assign,
            } => {
                self.ids = Some((*team_id, *account_id));
                self.name = name.clone();
                self.description = description.clone();
                self.allow_auto_assign = *allow_auto_assign;
            }
            Event::TeamDeleted { .. } => {
                self.deleted = true;
                self.members.clear();
            }
            Event::TeamMembersAdded { user_ids, .. } => self.members.extend(user_ids),
            Event::TeamMembersRemoved { user_ids, .. } => {
                for id in user_ids {
                    self.members.remove(id);
                }
            }
            _ => {}
        }
        self
    }

    fn decide(&self, command: &TeamCommand) -> Result<Vec<Event>, DomainError> {
        if let TeamCommand::Create {
            team_id,
            account_id,
            changes,
            name_taken,
        } = command
        {
            if self.ids.is_some() {
                return Err(DomainError::Rejected("Team already exists".into()));
            }
            let (name, description, allow_auto_assign) = settle(None, changes, *name_taken)?;
            return Ok(vec![Event::TeamCreated {
                team_id: *team_id,
                account_id: *account_id,
                name,
                description,
                allow_auto_assign,
            }]);
        }
        let Some((team_id, account_id)) = self.live_ids() else {
            return Err(DomainError::NotFound);
        };
        match command {
            TeamCommand::Create { .. } => Ok(vec![]),
            TeamCommand::Update {
                changes,
                name_taken,
            } => {
                let (name, description, allow_auto_assign) =
                    settle(Some(self), changes, *name_taken)?;
                if name == self.name
                    && description == self.description
                    && allow_auto_assign == self.allow_auto_assign
                {
                    return Ok(vec![]);
                }
                Ok(vec![Event::TeamUpdated {
                    team_id,
                    account_id,
                    name,
                    description,
                    allow_auto_assign,
                }])
            }
            TeamCommand::Delete => Ok(vec![Event::TeamDeleted {
                team_id,
                account_id,
            }]),
            TeamCommand::Members(change) => {
                let (added, removed) = change.diff(&self.members);
                let mut events = Vec::new();
                if !added.is_empty() {
                    events.push(Event::TeamMembersAdded {
                        team_id,
                        account_id,
                        user_ids: added,
                    });
                }
                if !removed.is_empty() {
                    events.push(Event::TeamMembersRemoved {
                        team_id,
                        account_id,
                        user_ids: removed,
                    });
                }
                Ok(events)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, when};

    fn create(name: &str, taken: bool) -> TeamCommand {
        TeamCommand::Create {
            team_id: 7,
            account_id: 1,
            changes: TeamChanges {
                name: Some(name.into()),
                description: Some(Some("first line".into())),
                allow_auto_assign: None,
            },
            name_taken: taken,
        }
    }

    fn history() -> Vec<Event> {
        when::<Team>(&[], create("Sales", false)).unwrap()
    }

    fn then(history: &[Event], command: TeamCommand) -> Team {
        let events = when::<Team>(history, command).unwrap();
        let all: Vec<Event> = history.iter().cloned().chain(events).collect();
        given::<Team>(&all)
    }

    #[test]
    fn given_nothing_when_create_then_team_created_lowercased_with_auto_assign() {
        assert_eq!(
            history(),
            vec![Event::TeamCreated {
                team_id: 7,
                account_id: 1,
                name: "sales".into(),
                description: Some("first line".into()),
                allow_auto_assign: true,
            }]
        );
    }

    #[test]
    fn given_nothing_when_create_with_a_taken_name_then_422() {
        assert_eq!(
            when::<Team>(&[], create("Sales", true)),
            Err(DomainError::invalid("name", "Name has already been taken"))
        );
    }

    #[test]
    fn given_nothing_when_create_with_a_blank_name_then_422() {
        assert_eq!(
            when::<Team>(&[], create("  ", false)),
            Err(DomainError::invalid("name", "Name must not be blank"))
        );
    }

    #[test]
    fn given_a_team_when_updated_then_fields_change_and_same_values_change_nothing() {
        let update = TeamCommand::Update {
            changes: TeamChanges {
                name: Some("New-Team".into()),
                description: Some(None),
                allow_auto_assign: Some(false),
            },
            name_taken: false,
        };
        let team = then(&history(), update);
        assert_eq!(team.name, "new-team");
        assert_eq!(team.description, None);
        assert!(!team.allow_auto_assign);
        let same = TeamCommand::Update {
            changes: TeamChanges {
                name: Some("SALES".into()),
                ..TeamChanges::default()
            },
            // Its own name counts as taken in the lookup; keeping it is fine.
            name_taken: true,
        };
        assert_eq!(when::<Team>(&history(), same), Ok(vec![]));
    }

    #[test]
    fn given_a_team_when_renamed_to_a_taken_name_then_422() {
        let update = TeamCommand::Update {
            changes: TeamChanges {
                name: Some("support".into()),
                ..TeamChanges::default()
            },
            name_taken: true,
        };
        assert!(matches!(
            when::<Team>(&history(), update),
            Err(DomainError::Invalid { .. })
        ));
    }

    #[test]
    fn given_a_deleted_team_when_anything_then_not_found() {
        let mut log = history();
        log.extend(when::<Team>(&log, TeamCommand::Delete).unwrap());
        assert!(given::<Team>(&log).live_ids().is_none());
        for command in [
            TeamCommand::Delete,
            TeamCommand::Members(MembersChange::Add(vec![1])),
            TeamCommand::Update {
                changes: TeamChanges::default(),
                name_taken: false,
            },
        ] {
            assert_eq!(when::<Team>(&log, command), Err(DomainError::NotFound));
        }
    }

    #[test]
    fn given_nothing_when_members_added_then_not_found() {
        assert_eq!(
            when::<Team>(&[], TeamCommand::Members(MembersChange::Add(vec![1]))),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn given_a_team_when_members_added_removed_and_replaced_then_the_set_follows() {
        let log = history();
        let events = when::<Team>(
            &log,
            TeamCommand::Members(MembersChange::Add(vec![3, 2, 3])),
        )
        .unwrap();
        assert_eq!(
            events,
            vec![Event::TeamMembersAdded {
                team_id: 7,
                account_id: 1,
                user_ids: vec![2, 3]
            }]
        );
        let log: Vec<Event> = log.into_iter().chain(events).collect();
        let team = then(
            &log,
            TeamCommand::Members(MembersChange::Replace(vec![3, 4])),
        );
        assert_eq!(team.members, [3, 4].into());
        let team = then(&log, TeamCommand::Members(MembersChange::Remove(vec![2])));
        assert_eq!(team.members, [3].into());
        // Adding members who are already there records nothing.
        assert_eq!(
            when::<Team>(&log, TeamCommand::Members(MembersChange::Add(vec![2]))),
            Ok(vec![])
        );
    }
}
