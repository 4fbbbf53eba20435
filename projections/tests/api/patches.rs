//! Conversations' status, assignee, team and label changes are folded per
//! conversation and written a batch at a time (`patches::Patches`), and
//! contacts, contact inboxes and conversations created a kind at a time
//! (`creations::Creations`): the read model must be the one that applying
//! every event on its own leaves, counters and report facts included.

use domain::conversation::ConversationStatus::{self, Open, Pending, Resolved, Snoozed};
use domain::message::{MessageType, Sender};
use domain::{Actor, Event, StreamId};
use infra::envelope::Envelope;

use crate::helpers::*;

fn assigned(conversation: i64, from: Option<i64>, to: Option<i64>) -> Event {
    Event::ConversationAssigneeChanged {
        conversation_id: conversation,
        account_id: 1,
        from,
        to,
        actor: Actor::user(41),
        by_team: false,
    }
}

fn team_changed(conversation: i64, from: Option<i64>, to: Option<i64>) -> Event {
    Event::ConversationTeamChanged {
        conversation_id: conversation,
        account_id: 1,
        from,
        to,
        actor: Actor::user(41),
        assignee_id: None,
        team_deleted: false,
    }
}

fn labelled(conversation: i64, labels: &[&str]) -> Event {
    Event::ConversationLabelsChanged {
        conversation_id: conversation,
        account_id: 1,
        labels: labels.iter().map(|l| l.to_string()).collect(),
        added: vec![],
        removed: vec![],
        actor: Actor::user(41),
    }
}

fn team(id: i64, name: &str, created: bool) -> Event {
    let (team_id, account_id, name, description) = (id, 1, name.to_owned(), None);
    if created {
        Event::TeamCreated {
            team_id,
            account_id,
            name,
            description,
            allow_auto_assign: false,
        }
    } else {
        Event::TeamUpdated {
            team_id,
            account_id,
            name,
            description,
            allow_auto_assign: false,
        }
    }
}

fn reply(id: i64, conversation: i64) -> Event {
    let sender = Some(Sender::User(41));
    message_created(id, 1, conversation, MessageType::Outgoing, false, sender)
}

/// A contact with a contact inbox, updated while its creation waits, and
/// its two conversations: conversation 7 is assigned, resolved,
/// reassigned, given a team and labels, reopened and resolved again, with
/// replies among the changes;
/// conversation 8 (created assigned and in a team) is resolved with the
/// stored assignee and team; a team's rename (which patches do not let by)
/// comes in the middle; a status change of a conversation that does not
/// exist is skipped. Times follow positions, except one reply that is newer
/// than the status change after it. Last, a message from a contact created
/// after it.
fn log() -> Vec<Envelope> {
    let mut envelopes = Envelopes::default();
    let mut at = |stream: StreamId, event: Event| envelopes.next(&stream, &event);
    let status =
        |id: i64, from: ConversationStatus, to: ConversationStatus| status_changed(id, 1, from, to);
    let mut log = vec![
        at(StreamId::account(1), account_created(1)),
        at(StreamId::user(41), user_created(41)),
        at(StreamId::user(42), user_created(42)),
        at(StreamId::team(5), team(5, "sales", true)),
        at(StreamId::contact(3), contact_created(3, 1, "Ann")),
        at(
            StreamId::contact(3),
            Event::ContactInboxCreated {
                contact_id: 3,
                account_id: 1,
                contact_inbox_id: 30,
                inbox_id: 10,
                source_id: "s3".into(),
            },
        ),
        at(
            StreamId::conversation(7),
            conversation_created(7, 1, 10, 3, Open, None, None),
        ),
        at(
            StreamId::conversation(8),
            conversation_created(8, 1, 10, 3, Open, Some(42), Some(5)),
        ),
        // An update of a contact whose creation waits in the batch.
        at(StreamId::contact(3), contact_updated(3, 1, "Ann B")),
        at(StreamId::conversation(7), assigned(7, None, Some(41))),
        at(StreamId::message(100), reply(100, 7)),
        at(StreamId::conversation(7), status(7, Open, Resolved)),
        at(StreamId::conversation(7), assigned(7, Some(41), Some(42))),
        at(StreamId::conversation(7), team_changed(7, None, Some(5))),
        at(StreamId::conversation(7), labelled(7, &["a", "b"])),
        at(StreamId::conversation(8), status(8, Open, Resolved)),
        at(StreamId::team(5), team(5, "support", false)),
        at(StreamId::conversation(7), status(7, Resolved, Open)),
        at(StreamId::message(101), reply(101, 7)),
        at(StreamId::conversation(7), status(7, Open, Resolved)),
        at(StreamId::conversation(7), labelled(7, &["b"])),
        at(StreamId::conversation(99), status(99, Open, Pending)),
        at(StreamId::conversation(8), status(8, Resolved, Snoozed)),
        at(StreamId::conversation(8), assigned(8, Some(42), None)),
    ];
    // A reply newer than the status change that follows it: `updated_at`
    // only moves forward whichever of the two is written last.
    let mut newer = at(StreamId::message(102), reply(102, 8));
    newer.time += chrono::Duration::seconds(60);
    log.push(newer);
    log.push(at(StreamId::conversation(8), status(8, Snoozed, Open)));
    // A contact's message before the contact's creation, an order the log
    // cannot produce (a contact commits before its messages): the message
    // applied alone finds no contact to move, so the waiting run must be
    // written before the creation, not after it.
    let from_bob = Some(Sender::Contact(4));
    log.push(at(
        StreamId::message(103),
        message_created(103, 1, 8, MessageType::Incoming, false, from_bob),
    ));
    log.push(at(StreamId::contact(4), contact_created(4, 1, "Bob")));
    log
}

#[tokio::test]
async fn conversation_changes_folded_per_batch_leave_what_one_event_at_a_time_leaves() {
    let env = TestEnv::new().await;
    let log = log();
    apply_one_at_a_time(&env, "alone", &log).await;
    // All in one batch, a redelivery of a resolution included.
    apply_as_one_batch(&env, "together", log.iter().chain([&log[11]])).await;

    // What the patches wrote, so the comparison below compares something.
    let resolutions: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "select conversation_id, assignee_id, team_id from together.report_resolutions \
         order by conversation_id, stream_version",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        resolutions,
        vec![
            (7, Some(41), None),
            (7, Some(42), Some(5)),
            (8, Some(42), Some(5))
        ],
        "each resolution records the assignee and team as they stood when it happened"
    );
    let row: (String, Option<i64>, Option<i64>, Vec<String>) = sqlx::query_as(
        "select status, assignee_id, team_id, labels from together.conversations where id = 7",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        ("resolved".into(), Some(42), Some(5), vec!["b".to_owned()])
    );
    assert_eq!(
        env.scalar(
            "select count(*) from together.conversations c \
             where c.id = 8 and c.status = 'open' and c.assignee_id is null \
               and c.snoozed_until is null \
               and c.updated_at = (select created_at from together.messages where id = 102)"
        )
        .await,
        1,
        "conversation 8: reopened, unassigned, its updated_at its newest reply's"
    );
    assert_eq!(
        env.scalar(
            "select count(*) from together.contacts \
             where id = 3 and name = 'Ann B' and conversations_count = 2"
        )
        .await,
        1,
        "the contact created, then updated, with both its conversations counted"
    );
    let (stored, counted) = counters_and_counts_in(&env.pool, "together").await;
    assert_eq!(
        stored, counted,
        "the counters are a grouped count of the conversations"
    );

    assert_same_read_model(&env, "alone", "together").await;
    env.cleanup().await;
}

/// A resolution in a later batch than the assignment it records reads the
/// assignee the earlier batch stored.
#[tokio::test]
async fn a_resolution_records_the_assignee_a_previous_batch_stored() {
    let env = TestEnv::new().await;
    let log = log();
    // Up to and including the assignment of 7 to 41; then its reply and
    // resolution.
    apply_in_one_batch(&env, &log[..10]).await;
    apply_in_one_batch(&env, &log[10..12]).await;
    let recorded: Option<i64> = sqlx::query_scalar(
        "select assignee_id from read_model.report_resolutions where conversation_id = 7",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(recorded, Some(41));
    env.cleanup().await;
}
