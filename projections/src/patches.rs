//! Conversation changes (status, assignee, team, labels) folded per
//! conversation and written a batch at a time.
//!
//! Applied one at a time, each of these events rewrote its conversation's
//! row: a status change moves it in the list's indexes, and a conversation
//! changed a thousand times in one transaction leaves a thousand row
//! versions that every later lookup of it walks (0.3 ms a status change in
//! a rebuild of a busy log, a quarter of its time). A [`Patches`] keeps, per
//! conversation, the last value of each column the batch changed and writes
//! all conversations in one statement that returns each row as it was and
//! as it is, so the counters move once, from the old key to the final one
//! (moves telescope: the sum of the per-event moves is that one move).
//!
//! Report facts ride along: `report_conversations` takes the final assignee
//! and team in the same statement, and a resolution, which records the
//! assignee and team as they stood when it happened, is written before
//! them ([`crate::reports::resolutions`]) with the values the batch had set
//! by then, or, where the batch had set none, with the stored ones.
//!
//! What makes deferring them sound: these events change nothing else, and
//! `updated_at` only moves forward (`greatest`), as a posted message moves
//! it, so a message run and these patches touch disjoint columns apart from
//! one that does not depend on their order. Every other event that reads or
//! writes conversations (a deletion of a user, team or account, a
//! conversation's creation with a pending patch) is not let by
//! ([`Patches::conflicts_with`], `crate::batch::Deferred::commutes_with`):
//! the batch writes the patches first.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::conversation::ConversationStatus;
use domain::Event;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::apply::ApplyError;
use crate::counts::{CountKey, Counts};

/// The columns a batch changed on one conversation, each at its last value.
#[derive(Debug, Clone)]
struct Patch {
    /// Status and the snooze that came with it.
    status: Option<(ConversationStatus, Option<DateTime<Utc>>)>,
    assignee: Option<Option<i64>>,
    team: Option<Option<i64>>,
    labels: Option<Vec<String>>,
    /// The latest time of its events.
    at: DateTime<Utc>,
}

/// A resolution waiting for its row in `report_resolutions`, with the
/// assignee and team the batch had set by then (`None`: not changed in the
/// batch so far, read from `report_conversations`).
#[derive(Debug, Default)]
pub struct Resolutions {
    pub(crate) conversation_id: Vec<i64>,
    pub(crate) stream_version: Vec<i64>,
    pub(crate) resolved_at: Vec<DateTime<Utc>>,
    pub(crate) assignee_known: Vec<bool>,
    pub(crate) assignee_id: Vec<Option<i64>>,
    pub(crate) team_known: Vec<bool>,
    pub(crate) team_id: Vec<Option<i64>>,
}

/// Pending conversation patches and resolutions; see the module documentation.
#[derive(Debug, Default)]
pub struct Patches {
    pending: HashMap<i64, Patch>,
    resolutions: Resolutions,
}

impl Patches {
    fn patch(&mut self, conversation_id: i64, at: DateTime<Utc>) -> &mut Patch {
        let patch = self.pending.entry(conversation_id).or_insert(Patch {
            status: None,
            assignee: None,
            team: None,
            labels: None,
            at,
        });
        patch.at = patch.at.max(at);
        patch
    }

    /// A status change.
    pub fn status(
        &mut self,
        conversation_id: i64,
        to: ConversationStatus,
        snoozed_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) {
        self.patch(conversation_id, at).status = Some((to, snoozed_until));
    }

    /// A new assignee (`None`: unassigned).
    pub fn assignee(&mut self, conversation_id: i64, to: Option<i64>, at: DateTime<Utc>) {
        self.patch(conversation_id, at).assignee = Some(to);
    }

    /// A new team (`None`: none).
    pub fn team(&mut self, conversation_id: i64, to: Option<i64>, at: DateTime<Utc>) {
        self.patch(conversation_id, at).team = Some(to);
    }

    /// The full set of labels after a change.
    pub fn labels(&mut self, conversation_id: i64, labels: &[String], at: DateTime<Utc>) {
        self.patch(conversation_id, at).labels = Some(labels.to_vec());
    }

    /// A resolution at `stream_version` of the conversation's stream.
    pub fn resolved(&mut self, conversation_id: i64, stream_version: i64, at: DateTime<Utc>) {
        let patch = self.pending.get(&conversation_id);
        let assignee = patch.and_then(|p| p.assignee);
        let team = patch.and_then(|p| p.team);
        let r = &mut self.resolutions;
        r.conversation_id.push(conversation_id);
        r.stream_version.push(stream_version);
        r.resolved_at.push(at);
        r.assignee_known.push(assignee.is_some());
        r.assignee_id.push(assignee.flatten());
        r.team_known.push(team.is_some());
        r.team_id.push(team.flatten());
    }

    /// Whether `event`, one the batch may let by pending writes
    /// ([`crate::batch::Deferred::commutes_with`]), touches a patched row:
    /// only a creation of a conversation with a patch waiting. Posted
    /// messages move other columns (and `updated_at` forward only), and
    /// later changes fold into the patch.
    pub fn conflicts_with(&self, event: &Event) -> bool {
        match event {
            Event::ConversationCreated {
                conversation_id, ..
            } => self.pending.contains_key(conversation_id),
            _ => false,
        }
    }

    /// Writes the resolutions, then every patch in one statement, and adds
    /// the counter moves to `counts`; leaves it empty.
    pub async fn write(
        &mut self,
        conn: &mut PgConnection,
        counts: &mut Counts,
    ) -> Result<(), ApplyError> {
        let Patches {
            pending,
            resolutions,
        } = std::mem::take(self);
        if !resolutions.conversation_id.is_empty() {
            crate::reports::resolutions(conn, &resolutions).await?;
        }
        if pending.is_empty() {
            return Ok(());
        }
        let mut id = Vec::with_capacity(pending.len());
        let mut status = Vec::with_capacity(pending.len());
        let mut snoozed_until = Vec::with_capacity(pending.len());
        let mut assignee_set = Vec::with_capacity(pending.len());
        let mut assignee_id = Vec::with_capacity(pending.len());
        let mut team_set = Vec::with_capacity(pending.len());
        let mut team_id = Vec::with_capacity(pending.len());
        let mut labels = Vec::with_capacity(pending.len());
        let mut at = Vec::with_capacity(pending.len());
        for (conversation_id, p) in &pending {
            id.push(*conversation_id);
            status.push(p.status.map(|(s, _)| s.as_str()));
            snoozed_until.push(p.status.and_then(|(_, until)| until));
            assignee_set.push(p.assignee.is_some());
            assignee_id.push(p.assignee.flatten());
            team_set.push(p.team.is_some());
            team_id.push(p.team.flatten());
            labels.push(p.labels.as_ref().map(Json));
            at.push(p.at);
        }
        // `b` is the row before this statement's update: the counters move
        // from it. (Under a second applier, which the worker lock keeps
        // out, `b` could be stale; the batch's close would then fail its
        // compare-and-set on the stream and the batch be redone.)
        let moved: Vec<Moved> = sqlx::query_as(
            "with p as ( \
               select * from unnest($1::bigint[], $2::text[], $3::timestamptz[], \
                 $4::boolean[], $5::bigint[], $6::boolean[], $7::bigint[], $8::jsonb[], \
                 $9::timestamptz[]) \
               as p(id, status, snoozed_until, assignee_set, assignee_id, team_set, team_id, \
                    labels, at)), \
             facts as ( \
               update report_conversations r set \
                 assignee_id = case when p.assignee_set then p.assignee_id else r.assignee_id end, \
                 team_id = case when p.team_set then p.team_id else r.team_id end \
               from p where r.conversation_id = p.id and (p.assignee_set or p.team_set)) \
             update conversations c set \
               status = coalesce(p.status, c.status), \
               snoozed_until = case when p.status is null then c.snoozed_until \
                                    else p.snoozed_until end, \
               assignee_id = case when p.assignee_set then p.assignee_id else c.assignee_id end, \
               team_id = case when p.team_set then p.team_id else c.team_id end, \
               labels = case when p.labels is null then c.labels \
                             else array(select jsonb_array_elements_text(p.labels)) end, \
               updated_at = greatest(c.updated_at, p.at) \
             from p, conversations b where b.id = c.id and c.id = p.id \
             returning c.id, c.account_id, c.inbox_id, \
               b.status, coalesce(b.assignee_id, 0), coalesce(b.team_id, 0), \
               c.status, coalesce(c.assignee_id, 0), coalesce(c.team_id, 0)",
        )
        .bind(&id)
        .bind(&status)
        .bind(&snoozed_until)
        .bind(&assignee_set)
        .bind(&assignee_id)
        .bind(&team_set)
        .bind(&team_id)
        .bind(&labels)
        .bind(&at)
        .fetch_all(&mut *conn)
        .await?;
        if moved.len() < pending.len() {
            let found: HashSet<i64> = moved.iter().map(|m| m.0).collect();
            for missing in pending.keys().filter(|id| !found.contains(id)) {
                tracing::warn!(
                    conversation_id = missing,
                    "change of an unknown conversation"
                );
            }
        }
        for (_, account_id, inbox_id, status, assignee_id, team_id, to, to_assignee, to_team) in
            moved
        {
            let from = CountKey {
                account_id,
                inbox_id,
                status,
                assignee_id,
                team_id,
            };
            let to = CountKey {
                status: to,
                assignee_id: to_assignee,
                team_id: to_team,
                ..from.clone()
            };
            counts.moved(from, to);
        }
        Ok(())
    }
}

/// A patched row: its id, account and inbox, then status, assignee and
/// team (0 for none) before and after.
type Moved = (i64, i64, i64, String, i64, i64, String, i64, i64);
