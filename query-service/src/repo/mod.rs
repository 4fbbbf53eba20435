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
