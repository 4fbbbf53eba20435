//! Every SQL statement of the query service, in small functions, one module
//! per resource. Each function runs one `SELECT` on `read_model.*` (the
//! service's pool is read-only besides) and returns rows or `sqlx::Error`;
//! nothing here knows HTTP or JSON. Queries are runtime-checked
//! (`sqlx::query_as`, docs/adr/0007) and exercised by the integration tests.

pub mod accounts;
// ---- agent bots and sso ----
pub mod agent_bots;
pub mod auth;
pub mod blobs;
pub mod contacts;
pub mod conversations;
pub mod hooks;
pub mod inboxes;
pub mod messages;
// ---- reports ----
pub mod reports;
pub mod teams;
// ---- audit ----
pub mod history;
// ---- webhooks ----
pub mod webhooks;

/// The predicate `column = any($param)` for an array of `ids`, written
/// `column = ($param)[1]` when there is one: the same array is bound either
/// way.
///
/// Postgres plans a prepared statement anew on each run for as long as its
/// custom plans look cheaper than its generic plan. The generic plan of
/// `= any($n)` expects ten ids, so a statement run with one (a
/// conversation's GET, a thread, a command's answer) was planned on every
/// run: a conversation's last messages took 29 % of the box's CPU in
/// planning under load (docs/performance.md, eighteenth session). The
/// generic plan of `= ($n)[1]` expects one row, costs what a custom one
/// does, and is kept after the fifth run. Longer arrays are planned once
/// as they were. Forcing generic plans on the whole pool instead made the
/// list five times slower.
pub(crate) fn any_id(column: &str, param: u8, ids: &[i64]) -> String {
    if ids.len() == 1 {
        format!("{column} = (${param})[1]")
    } else {
        format!("{column} = any(${param})")
    }
}

/// Which of an account's inboxes a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxScope {
    /// Every inbox (administrators).
    All,
    /// Only the inboxes the user is a member of (agents).
    MemberOf(i64),
}

impl InboxScope {
    /// Whether the scope is unrestricted, as a bind parameter.
    fn unrestricted(self) -> bool {
        matches!(self, InboxScope::All)
    }

    /// The member whose inboxes are visible (0, matching nobody, when unrestricted).
    fn member(self) -> i64 {
        match self {
            InboxScope::All => 0,
            InboxScope::MemberOf(user_id) => user_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::any_id;

    #[test]
    fn one_id_is_read_as_the_arrays_first_element_and_more_or_none_as_any() {
        assert_eq!(any_id("c.id", 1, &[7]), "c.id = ($1)[1]");
        assert_eq!(any_id("c.id", 2, &[7, 8]), "c.id = any($2)");
        assert_eq!(any_id("c.id", 1, &[]), "c.id = any($1)");
    }
}
