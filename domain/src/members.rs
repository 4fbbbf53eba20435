//! Membership sets (team members, inbox members): adding, removing or
//! replacing user ids, and what actually changes.

use std::collections::BTreeSet;

/// A change to a set of member user ids, as the API asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersChange {
    /// Add these users (those already members are ignored).
    Add(Vec<i64>),
    /// Remove these users (those not members are ignored).
    Remove(Vec<i64>),
    /// Make the set exactly these users.
    Replace(Vec<i64>),
}

impl MembersChange {
    /// The user ids the change names (for the caller's membership checks).
    pub fn user_ids(&self) -> &[i64] {
        match self {
            MembersChange::Add(ids) | MembersChange::Remove(ids) | MembersChange::Replace(ids) => {
                ids
            }
        }
    }

    /// `(added, removed)`: who joins and who leaves `current`, each sorted and
    /// without duplicates.
    pub fn diff(&self, current: &BTreeSet<i64>) -> (Vec<i64>, Vec<i64>) {
        let named: BTreeSet<i64> = self.user_ids().iter().copied().collect();
        match self {
            MembersChange::Add(_) => (named.difference(current).copied().collect(), vec![]),
            MembersChange::Remove(_) => (vec![], named.intersection(current).copied().collect()),
            MembersChange::Replace(_) => (
                named.difference(current).copied().collect(),
                current.difference(&named).copied().collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_remove_and_replace_change_only_what_differs() {
        let current: BTreeSet<i64> = [1, 2, 3].into();
        assert_eq!(
            MembersChange::Add(vec![3, 4, 4]).diff(&current),
            (vec![4], vec![])
        );
        assert_eq!(
            MembersChange::Remove(vec![2, 9]).diff(&current),
            (vec![], vec![2])
        );
        assert_eq!(
            MembersChange::Replace(vec![3, 5]).diff(&current),
            (vec![5], vec![1, 2])
        );
    }
}
