//! Posted messages are written a run at a time (`messages::Run`): the read
//! model must be the one that applying every event on its own leaves, and a
//! message the database refuses must still be parked alone.

use domain::attachment::{Attachment, BlobRef, FileType};
use domain::conversation::ConversationStatus::{Open, Resolved};
use domain::message::{MessageType, Sender};
use domain::{Event, StreamId};
use infra::envelope::Envelope;

use crate::helpers::*;

const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

fn incoming(id: i64, account: i64, conversation: i64, contact: i64) -> Event {
    message_created(
        id,
        account,
        conversation,
        MessageType::Incoming,
        false,
        Some(Sender::Contact(contact)),
    )
}

fn reply(id: i64, conversation: i64, private: bool) -> Event {
    message_created(
        id,
        1,
        conversation,
        MessageType::Outgoing,
        private,
        Some(Sender::User(41)),
    )
}

/// Messages before and after every kind of event that reads or changes
/// what they write: their conversation's creation, a deletion of one of
/// them, a resolution (report facts, an activity message), an account's
/// deletion; and events among them that touch none of their rows (another
/// conversation opened and resolved, a contact created), which the run
/// lets by. Times follow positions, and two replies come in the opposite
/// order of their times, so the first response is not simply the first
/// reply of the run.
fn log() -> Vec<Envelope> {
    let mut with_file = incoming(15, 2, 8, 5);
    if let Event::MessageCreated { attachments, .. } = &mut with_file {
        attachments.push(Attachment {
            id: 900,
            file_type: FileType::Image,
            blob: BlobRef {
                key: "attachments/2/a".into(),
                byte_size: 3,
                content_type: "image/png".into(),
                file_name: "a.png".into(),
                checksum: "abc".into(),
            },
        });
    }
    let events: [(&str, i64, i64, Event); 26] = [
        ("account:1", 1, 1, account_created(1)),
        ("account:2", 1, 2, account_created(2)),
        ("account:3", 1, 3, account_created(3)),
        ("user:41", 1, 4, user_created(41)),
        ("contact:3", 1, 5, contact_created(3, 1, "Ann")),
        ("contact:5", 1, 6, contact_created(5, 2, "Bob")),
        // Before its conversation exists.
        ("message:10", 1, 7, incoming(10, 1, 7, 3)),
        (
            "conversation:7",
            1,
            8,
            conversation_created(7, 1, 10, 3, Open, None, None),
        ),
        (
            "conversation:8",
            1,
            9,
            conversation_created(8, 2, 20, 5, Open, None, None),
        ),
        (
            "conversation:9",
            1,
            10,
            conversation_created(9, 3, 30, 5, Open, None, None),
        ),
        ("message:11", 1, 16, reply(11, 7, false)),
        // Among the run's messages, touching none of its rows.
        (
            "conversation:10",
            1,
            23,
            conversation_created(10, 1, 10, 3, Open, None, None),
        ),
        ("contact:6", 1, 24, contact_created(6, 1, "Cy")),
        (
            "conversation:10",
            2,
            25,
            status_changed(10, 1, Open, Resolved),
        ),
        // Later in the run, earlier in time: the first response.
        ("message:12", 1, 11, reply(12, 7, false)),
        ("message:13", 1, 12, reply(13, 7, true)),
        (
            "message:14",
            1,
            13,
            message_created(14, 1, 7, MessageType::Activity, false, None),
        ),
        ("message:15", 1, 14, with_file),
        // Newer than the status change of its conversation that follows:
        // which of the two sets `updated_at` last shows.
        ("message:16", 1, 27, incoming(16, 2, 8, 5)),
        (
            "conversation:8",
            2,
            26,
            status_changed(8, 2, Open, Resolved),
        ),
        ("message:19", 1, 17, incoming(19, 3, 9, 5)),
        (
            "message:13",
            2,
            18,
            Event::MessageDeleted {
                message_id: 13,
                account_id: 1,
                conversation_id: 7,
            },
        ),
        (
            "conversation:7",
            2,
            19,
            status_changed(7, 1, Open, Resolved),
        ),
        ("message:17", 1, 20, incoming(17, 1, 7, 3)),
        ("account:3", 2, 21, Event::AccountDeleted { account_id: 3 }),
        // Last: written by the close.
        ("message:18", 1, 22, reply(18, 7, false)),
    ];
    events
        .iter()
        .map(|(stream, version, position, event)| envelope(stream, *version, *position, event))
        .collect()
}

#[tokio::test]
async fn messages_written_a_run_at_a_time_leave_what_one_event_at_a_time_leaves() {
    let env = TestEnv::new().await;
    let log = log();
    apply_one_at_a_time(&env, "alone", &log).await;
    // All in one batch, a redelivery included.
    apply_as_one_batch(&env, "together", log.iter().chain([&log[18]])).await;

    // What the run wrote, so the comparison below compares something.
    let first: (i64, i64) = sqlx::query_as(
        "select first_response_id, first_responder_id from together.report_conversations \
         where conversation_id = 7",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        first,
        (12, 41),
        "the earliest reply, not the first of the run"
    );
    assert_eq!(
        env.scalar(
            "select count(*) from together.messages \
             where id = 13 and content_attributes ->> 'deleted' = 'true'"
        )
        .await,
        1,
        "a deletion after its message in the same run finds it"
    );
    assert_eq!(
        env.scalar("select count(*) from together.messages where account_id = 3")
            .await,
        0,
        "an account's deletion after its message in the same run removes it"
    );
    assert_eq!(
        env.scalar(
            "select extract(epoch from last_activity_at - \
               (select min(created_at) from together.messages))::bigint \
             from together.conversations where id = 7"
        )
        .await,
        22 - 7,
        "the conversation's activity is its newest message's, the close's included"
    );
    assert_eq!(
        env.scalar("select count(*) from together.report_messages")
            .await,
        8,
        "incoming and outgoing messages, not the activity, not account 3's"
    );

    assert_same_read_model(&env, "alone", "together").await;
    env.cleanup().await;
}

/// A batch is applied without savepoints first, and a gathered message is
/// written only before the next other event or at the batch's close. A
/// message the database refuses (here: a check an operator added) must
/// still spoil that transaction, be parked alone in the redo, and leave the
/// rest applied: first one refused mid-run, then one refused in the
/// close's write (it is the last of whatever batch it arrives in).
#[tokio::test]
async fn a_refused_message_in_a_run_is_parked_alone_and_the_rest_applied() {
    let env = TestEnv::new().await;
    sqlx::query(
        "alter table read_model.messages add constraint refused \
         check (content is distinct from 'm2' and content is distinct from 'm5')",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let feed = Feed::new(&env).await;
    // All in JetStream before the worker starts, so they come as one batch.
    feed.emit(
        &StreamId::conversation(7),
        &conversation_created(7, 1, 10, 3, Open, None, None),
    )
    .await;
    feed.emit(&StreamId::message(1), &incoming(1, 1, 7, 3))
        .await;
    let mid = feed
        .emit(&StreamId::message(2), &incoming(2, 1, 7, 3))
        .await;
    feed.emit(
        &StreamId::conversation(7),
        &status_changed(7, 1, Open, Resolved),
    )
    .await;
    feed.emit(&StreamId::message(3), &incoming(3, 1, 7, 3))
        .await;
    let worker = env.spawn_worker();
    eventually(
        "the refused message parked and the rest applied",
        DEADLINE,
        || async {
            env.scalar("select count(*) from read_model.parked_events")
                .await
                == 1
                && env
                    .scalar("select count(*) from read_model.messages where id = 3")
                    .await
                    == 1
        },
    )
    .await;
    feed.emit(&StreamId::message(4), &incoming(4, 1, 7, 3))
        .await;
    let last = feed
        .emit(&StreamId::message(5), &incoming(5, 1, 7, 3))
        .await;
    eventually("the last refused message parked", DEADLINE, || async {
        env.scalar("select count(*) from read_model.parked_events")
            .await
            == 2
    })
    .await;

    let parked: Vec<i64> =
        sqlx::query_scalar("select position from read_model.parked_events order by position")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(parked, [mid.position, last.position]);
    let posted: Vec<i64> =
        sqlx::query_scalar("select id from read_model.messages where message_type = 0 order by id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(posted, [1, 3, 4]);
    assert_eq!(
        env.scalar("select count(*) from read_model.history").await,
        5,
        "each applied event recorded once"
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.conversations where status = 'resolved'")
            .await,
        1
    );
    worker.stop().await;
    env.cleanup().await;
}
