//! The decider shape shared by every aggregate.

use crate::{DomainError, Event};

/// An event-sourced aggregate as a decider: a state folded from its stream's
/// events, and a pure decision from state and command to new events.
pub trait Aggregate: Default + Sized {
    /// What may be asked of the aggregate.
    type Command;

    /// Folds one event of this aggregate's stream into the state. Events that
    /// do not concern this aggregate leave the state as it is.
    fn evolve(self, event: &Event) -> Self;

    /// Decides what happens when `command` meets the current state.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Event>, DomainError>;

    /// Folds a whole stream, oldest event first.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        events.into_iter().fold(Self::default(), |s, e| s.evolve(e))
    }
}
