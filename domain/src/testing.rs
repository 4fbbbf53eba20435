//! Given / when / then for deciders.

use crate::{Aggregate, DomainError, Event};

/// Folds `given`, decides `when`, and hands back the outcome for `then` checks.
pub fn given<A: Aggregate>(given: &[Event]) -> A {
    A::fold(given)
}

/// Runs a command against the state folded from `history`.
pub fn when<A: Aggregate>(
    history: &[Event],
    command: A::Command,
) -> Result<Vec<Event>, DomainError> {
    given::<A>(history).decide(&command)
}
