//! Callers admitted lately, so that a caller's next write skips the
//! admission statement (docs/adr/0011).
//!
//! Every write used to ask Postgres who its token belongs to and whether
//! that owner may act in the account: a sixth of the statements a posted
//! message costs the whole system. This cache keeps the facts of an
//! admission that succeeded, by token hash and account, and forgets them
//! whenever anything that decides an admission may have changed:
//!
//! - **another process's change**: statement triggers on the write model's
//!   tokens, accounts, users, memberships and inboxes send `NOTIFY
//!   admissions_changed` from the changing transaction, delivered at its
//!   commit; the process's listener ([`crate::listener`]) forgets
//!   everything when it hears one;
//! - **this process's own change**: a command that wrote any stream that
//!   may carry such a change (anything but conversations, messages,
//!   contacts, teams and integrations: [`may_change_admissions`]) forgets
//!   everything after its commit and before it answers, so a client that
//!   removes a member is never served the old admission by this process;
//! - **a lost listener**: while the listening connection is down nothing
//!   is kept or served, and everything is forgotten once it listens again
//!   (notifications sent meanwhile are lost);
//! - and every entry expires after [`TIME_TO_LIVE`] whatever happens (a
//!   connection can die without telling).
//!
//! "Forgetting" moves an epoch. An entry carries the epoch read *before*
//! the statement whose answer it holds, and is served only while the epoch
//! is the same: an answer read before a change, stored after the change
//! was heard, is never served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The channel the write model's triggers notify on.
pub const CHANNEL: &str = "admissions_changed";

/// The longest an entry is served, heard of a change or not.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(60);

/// What an admission found: the token's owner and what it may do in the
/// account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// `user` or `agent_bot`.
    pub owner_type: String,
    /// The owner's id.
    pub owner_id: i64,
    /// A user's role in the account.
    pub role: Option<String>,
    /// Whether an agent bot is connected to one of the account's inboxes.
    pub bot_connected: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    epoch: u64,
    admitted: Admitted,
}

/// The epoch an admission's statement was started in, taken before it is
/// sent; `None` while nothing may be kept.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

struct Inner {
    entries: Option<moka::sync::Cache<(String, i64), Entry>>,
    epoch: AtomicU64,
    listening: AtomicBool,
}

/// Admissions by token hash and account; cheap to clone.
#[derive(Clone)]
pub struct Admissions {
    inner: Arc<Inner>,
}

impl Admissions {
    /// Room for `capacity` admissions (0 keeps none). Nothing is kept until
    /// [`Admissions::listening`] says a listener hears changes.
    pub fn new(capacity: u64) -> Self {
        let entries = (capacity > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(TIME_TO_LIVE)
                .build()
        });
        Admissions {
            inner: Arc::new(Inner {
                entries,
                epoch: AtomicU64::new(0),
                listening: AtomicBool::new(false),
            }),
        }
    }

    /// The admission kept for a token hash and account, if it is current.
    pub fn get(&self, token_hash: &str, account_id: i64) -> Option<Admitted> {
        let entries = self.inner.entries.as_ref()?;
        if !self.inner.listening.load(Ordering::SeqCst) {
            return None;
        }
        let entry = entries.get(&(token_hash.to_owned(), account_id))?;
        (entry.epoch == self.inner.epoch.load(Ordering::SeqCst)).then_some(entry.admitted)
    }

    /// Taken before the admission's statement is sent.
    pub fn ticket(&self) -> Option<Ticket> {
        self.inner.entries.as_ref()?;
        self.inner
            .listening
            .load(Ordering::SeqCst)
            .then(|| Ticket(self.inner.epoch.load(Ordering::SeqCst)))
    }

    /// Keeps what the statement started under `ticket` found. Stored under
    /// the ticket's epoch: if anything was forgotten since, it is never served.
    pub fn put(&self, ticket: Ticket, token_hash: &str, account_id: i64, admitted: Admitted) {
        let Some(entries) = &self.inner.entries else {
            return;
        };
        if ticket.0 != self.inner.epoch.load(Ordering::SeqCst) {
            return;
        }
        entries.insert(
            (token_hash.to_owned(), account_id),
            Entry {
                epoch: ticket.0,
                admitted,
            },
        );
    }

    /// Forgets every admission (a change was heard, or made here).
    pub fn forget_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.inner.entries {
            entries.invalidate_all();
        }
    }

    /// The listener hears changes from now on: start keeping admissions.
    pub fn listening(&self) {
        self.forget_all();
        self.inner.listening.store(true, Ordering::SeqCst);
    }

    /// The listener lost its connection: keep and serve nothing until it
    /// listens again.
    pub fn deaf(&self) {
        self.inner.listening.store(false, Ordering::SeqCst);
        self.forget_all();
    }
}

/// Whether a command that wrote `stream_id` may have changed who is
/// admitted where: tokens, accounts, users, memberships, a bot's inboxes.
/// Only the kinds that cannot are named; any other, including kinds added
/// later, counts as a change.
pub fn may_change_admissions(stream_id: &str) -> bool {
    let kind = stream_id
        .split_once(':')
        .map_or(stream_id, |(kind, _)| kind);
    !matches!(
        kind,
        "conversation" | "message" | "contact" | "team" | "hook" | "webhook"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(owner_id: i64) -> Admitted {
        Admitted {
            owner_type: "user".into(),
            owner_id,
            role: Some("agent".into()),
            bot_connected: false,
        }
    }

    fn listening(capacity: u64) -> Admissions {
        let cache = Admissions::new(capacity);
        cache.listening();
        cache
    }

    #[test]
    fn a_kept_admission_is_served_for_its_token_and_account_only() {
        let cache = listening(10);
        let ticket = cache.ticket().unwrap();
        cache.put(ticket, "h", 1, admitted(7));
        assert_eq!(cache.get("h", 1), Some(admitted(7)));
        assert_eq!(cache.get("h", 2), None);
        assert_eq!(cache.get("other", 1), None);
    }

    #[test]
    fn an_answer_read_before_a_change_is_never_served_after_it() {
        let cache = listening(10);
        // The statement is sent, a change is heard, then the answer comes.
        let ticket = cache.ticket().unwrap();
        cache.forget_all();
        cache.put(ticket, "h", 1, admitted(7));
        assert_eq!(cache.get("h", 1), None);
        // A change heard after an answer was kept drops it.
        let ticket = cache.ticket().unwrap();
        cache.put(ticket, "h", 1, admitted(7));
        cache.forget_all();
        assert_eq!(cache.get("h", 1), None);
    }

    #[test]
    fn nothing_is_kept_or_served_while_no_listener_hears_changes() {
        let cache = Admissions::new(10);
        assert!(cache.ticket().is_none(), "before the listener listens");
        let cache = listening(10);
        let ticket = cache.ticket().unwrap();
        cache.put(ticket, "h", 1, admitted(7));
        cache.deaf();
        assert!(cache.ticket().is_none());
        assert_eq!(cache.get("h", 1), None);
        // Listening again does not bring back what was kept before.
        cache.listening();
        assert_eq!(cache.get("h", 1), None);
    }

    #[test]
    fn a_cache_of_no_room_keeps_nothing() {
        let cache = listening(0);
        assert!(cache.ticket().is_none());
        assert_eq!(cache.get("h", 1), None);
    }

    #[test]
    fn only_conversation_work_is_known_not_to_change_admissions() {
        for stream in [
            "conversation:1",
            "message:2",
            "contact:3",
            "team:4",
            "hook:5",
            "webhook:6",
        ] {
            assert!(!may_change_admissions(stream), "{stream}");
        }
        for stream in [
            "account:1",
            "user:2",
            "inbox:3",
            "agent_bot:4",
            "platform_app:5",
            "a_kind_added_later:6",
        ] {
            assert!(may_change_admissions(stream), "{stream}");
        }
    }
}
