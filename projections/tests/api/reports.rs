//! Report facts: applying is idempotent and gives the same rows whatever the
//! order across streams (messages before their conversation).

use domain::conversation::ConversationStatus;
use domain::message::{ContentType, MessageType, Sender};
use domain::{Actor, Event};
use infra::envelope::Envelope;
use projections::apply::Applied;

use crate::helpers::*;

fn created() -> Event {
    Event::ConversationCreated {
        conversation_id: 7,
        account_id: 1,
        display_id: 1,
        inbox_id: 2,
        contact_id: 3,
        contact_inbox_id: 4,
        status: ConversationStatus::Open,
        assignee_id: Some(40),
        team_id: None,
        snoozed_until: None,
        additional_attributes: domain::Attributes::new(),
        custom_attributes: domain::Attributes::new(),
    }
}

fn message(id: i64, message_type: MessageType, private: bool, sender: Sender) -> Event {
    Event::MessageCreated {
        message_id: id,
        account_id: 1,
        conversation_id: 7,
        inbox_id: 2,
        message_type,
        content: Some(format!("m{id}")),
        content_type: ContentType::Text,
        content_attributes: domain::Attributes::new(),
        private,
        sender: Some(sender),
        source_id: None,
        attachments: vec![],
    }
}

fn status(from: ConversationStatus, to: ConversationStatus) -> Event {
    Event::ConversationStatusChanged {
        conversation_id: 7,
        account_id: 1,
        from,
        to,
        snoozed_until: None,
        actor: Actor::user(40),
    }
}

/// The conversation's stream and four messages, each at its log position
/// (event time = `at(position)`).
fn history() -> (Vec<Envelope>, Vec<Envelope>) {
    use ConversationStatus::{Open, Resolved};
    let conversation = vec![
        envelope("conversation:7", 1, 1, &created()),
        envelope(
            "conversation:7",
            2,
            20,
            &Event::ConversationTeamChanged {
                conversation_id: 7,
                account_id: 1,
                from: None,
                to: Some(9),
                actor: Actor::user(40),
                assignee_id: None,
                team_deleted: false,
            },
        ),
        envelope("conversation:7", 3, 100, &status(Open, Resolved)),
        envelope("conversation:7", 4, 200, &status(Resolved, Open)),
        envelope("conversation:7", 5, 300, &status(Open, Resolved)),
    ];
    let messages = vec![
        envelope(
            "message:10",
            1,
            5,
            &message(10, MessageType::Incoming, false, Sender::Contact(3)),
        ),
        // A private note and a bot's reply are not first responses.
        envelope(
            "message:11",
            1,
            8,
            &message(11, MessageType::Outgoing, true, Sender::User(40)),
        ),
        envelope(
            "message:12",
            1,
            9,
            &message(12, MessageType::Outgoing, false, Sender::AgentBot(5)),
        ),
        envelope(
            "message:13",
            1,
            30,
            &message(13, MessageType::Outgoing, false, Sender::User(41)),
        ),
        envelope(
            "message:14",
            1,
            50,
            &message(14, MessageType::Outgoing, false, Sender::User(40)),
        ),
    ];
    (conversation, messages)
}

async fn dump(env: &TestEnv) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for q in [
        "select row_to_json(r)::text from read_model.report_conversations r order by conversation_id",
        "select row_to_json(r)::text from read_model.report_messages r order by message_id",
        "select row_to_json(r)::text from read_model.report_resolutions r \
         order by conversation_id, stream_version",
    ] {
        rows.extend(
            sqlx::query_scalar::<_, String>(q)
                .fetch_all(&env.pool)
                .await
                .unwrap(),
        );
    }
    rows
}

#[tokio::test]
async fn report_facts_do_not_depend_on_the_order_across_streams_and_redelivery_is_a_no_op() {
    let (conversation, messages) = history();

    // In log order.
    let in_order = TestEnv::new().await;
    let mut all: Vec<&Envelope> = conversation.iter().chain(messages.iter()).collect();
    all.sort_by_key(|e| e.position);
    for e in &all {
        assert_eq!(
            apply_one(&in_order.pool, e).await.unwrap(),
            Applied::Applied
        );
    }

    // Messages first, newest first, then the conversation; then everything again.
    let shuffled = TestEnv::new().await;
    for e in messages.iter().rev().chain(conversation.iter()) {
        assert_eq!(
            apply_one(&shuffled.pool, e).await.unwrap(),
            Applied::Applied
        );
    }
    for e in messages.iter().chain(conversation.iter()) {
        assert_eq!(
            apply_one(&shuffled.pool, e).await.unwrap(),
            Applied::Duplicate
        );
    }

    let expected = dump(&in_order).await;
    assert_eq!(dump(&shuffled).await, expected);

    // The first response is user 41's public reply at position 30.
    let (first_at, responder, team): (chrono::DateTime<chrono::Utc>, i64, i64) = sqlx::query_as(
        "select first_response_at, first_responder_id, team_id \
         from read_model.report_conversations where conversation_id = 7",
    )
    .fetch_one(&shuffled.pool)
    .await
    .unwrap();
    assert_eq!((first_at, responder, team), (at(30), 41, 9));
    // Activity messages are not report messages: the five posted ones are.
    let n: i64 = sqlx::query_scalar("select count(*) from read_model.report_messages")
        .fetch_one(&shuffled.pool)
        .await
        .unwrap();
    assert_eq!(n, 5);
    // Two resolutions, each measured from the creation.
    let resolutions: Vec<(f64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "select seconds, assignee_id, team_id from read_model.report_resolutions \
         order by stream_version",
    )
    .fetch_all(&shuffled.pool)
    .await
    .unwrap();
    assert_eq!(
        resolutions,
        vec![(99.0, Some(40), Some(9)), (299.0, Some(40), Some(9))]
    );
    in_order.cleanup().await;
    shuffled.cleanup().await;
}

#[tokio::test]
async fn deleting_an_account_removes_its_report_facts() {
    let env = TestEnv::new().await;
    let (conversation, messages) = history();
    for e in conversation.iter().chain(messages.iter()) {
        apply_one(&env.pool, e).await.unwrap();
    }
    let other = envelope(
        "conversation:8",
        1,
        400,
        &Event::ConversationCreated {
            conversation_id: 8,
            account_id: 2,
            display_id: 1,
            inbox_id: 3,
            contact_id: 3,
            contact_inbox_id: 4,
            status: ConversationStatus::Open,
            assignee_id: None,
            team_id: None,
            snoozed_until: None,
            additional_attributes: domain::Attributes::new(),
            custom_attributes: domain::Attributes::new(),
        },
    );
    apply_one(&env.pool, &other).await.unwrap();
    let deleted = envelope(
        "account:1",
        1,
        500,
        &Event::AccountDeleted { account_id: 1 },
    );
    apply_one(&env.pool, &deleted).await.unwrap();
    let left = dump(&env).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("\"account_id\":2"), "{left:?}");
    env.cleanup().await;
}
