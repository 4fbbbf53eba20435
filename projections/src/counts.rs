//! `conversation_counts`: how many conversations each (account, inbox,
//! status, assignee, team) holds, so the list's counters are a sum over a
//! few rows instead of a count over the conversations.
//!
//! The projection moves a conversation between keys from the row as stored
//! (not from the event's `from`), so the table always equals a grouped count
//! of `conversations`. A [`Counts`] sums the moves of a batch per key and
//! writes them at once: a status change used to cost three statements
//! (`-1`, `+1`, and dropping a row at zero), now a batch costs one. Deltas
//! commute, so they may wait for the batch's end; only an account's deletion
//! must see them written first (the batch writes them before any event it
//! does not let by, that one included: `crate::batch::Deferred::commutes_with`).

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::apply::ApplyError;

/// The key of a row; 0 stands for "no assignee" and "no team".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountKey {
    /// Account.
    pub account_id: i64,
    /// Inbox.
    pub inbox_id: i64,
    /// Status name.
    pub status: String,
    /// Assignee, or 0.
    pub assignee_id: i64,
    /// Team, or 0.
    pub team_id: i64,
}

/// Counter deltas summed per key until [`Counts::write`].
#[derive(Debug, Default)]
pub struct Counts(HashMap<CountKey, i64>);

impl Counts {
    /// One more conversation under `key`.
    pub fn add(&mut self, key: CountKey) {
        *self.0.entry(key).or_default() += 1;
    }

    /// A conversation moved from one key to another (nothing when they are
    /// the same).
    pub fn moved(&mut self, from: CountKey, to: CountKey) {
        if from != to {
            *self.0.entry(from).or_default() -= 1;
            *self.0.entry(to).or_default() += 1;
        }
    }

    /// Writes the deltas in one statement and forgets them.
    pub async fn write(&mut self, conn: &mut PgConnection) -> Result<(), ApplyError> {
        let deltas: Vec<(CountKey, i64)> = std::mem::take(&mut self.0)
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .collect();
        if deltas.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&CountKey) -> i64| deltas.iter().map(|(k, _)| f(k)).collect::<Vec<_>>();
        let statuses: Vec<&str> = deltas.iter().map(|(k, _)| k.status.as_str()).collect();
        let n: Vec<i64> = deltas.iter().map(|(_, n)| *n).collect();
        // A row a decrease takes to zero or below is deleted instead of
        // updated (it counts nothing; dropping it keeps the table equal to a
        // grouped count); every other key is added to. Both in one statement:
        // the two touch different keys, and `exists` sees the rows as they
        // were before it.
        sqlx::query(
            "with d as ( \
               select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], \
                 $5::bigint[], $6::bigint[]) \
               as d(account_id, inbox_id, status, assignee_id, team_id, n)), \
             gone as ( \
               delete from conversation_counts k using d \
               where (k.account_id, k.inbox_id, k.status, k.assignee_id, k.team_id) \
                   = (d.account_id, d.inbox_id, d.status, d.assignee_id, d.team_id) \
                 and k.n + d.n <= 0 \
               returning k.account_id, k.inbox_id, k.status, k.assignee_id, k.team_id) \
             insert into conversation_counts as k \
               (account_id, inbox_id, status, assignee_id, team_id, n) \
             select * from d \
             where (d.account_id, d.inbox_id, d.status, d.assignee_id, d.team_id) \
                   not in (select * from gone) \
               and (d.n > 0 or exists ( \
                 select 1 from conversation_counts c \
                 where (c.account_id, c.inbox_id, c.status, c.assignee_id, c.team_id) \
                     = (d.account_id, d.inbox_id, d.status, d.assignee_id, d.team_id))) \
             on conflict (account_id, inbox_id, status, assignee_id, team_id) \
             do update set n = k.n + excluded.n",
        )
        .bind(column(|k| k.account_id))
        .bind(column(|k| k.inbox_id))
        .bind(&statuses)
        .bind(column(|k| k.assignee_id))
        .bind(column(|k| k.team_id))
        .bind(&n)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
