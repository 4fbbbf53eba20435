//! The history projection: one row per event with its actor and correlation
//! id; applying twice, or the streams in another order, gives the same rows.

use domain::conversation::ConversationStatus;
use domain::message::{ContentType, MessageType, Sender};
use domain::{Event, StreamId};
use infra::envelope::Envelope;
use projections::apply::Applied;

use crate::helpers::*;

fn message(id: i64, conversation_id: i64) -> Event {
    Event::MessageCreated {
        message_id: id,
        account_id: 1,
        conversation_id,
        inbox_id: 2,
        message_type: MessageType::Incoming,
        content: Some(format!("m{id}")),
        content_type: ContentType::Text,
        content_attributes: domain::Attributes::new(),
        private: false,
        sender: Some(Sender::Contact(3)),
        source_id: None,
        attachments: vec![],
    }
}

/// Setup and three streams of one account: the conversation, a message of it
/// and the contact.
fn streams() -> Vec<Envelope> {
    let mut log = Envelopes::default();
    let steps = [
        (StreamId::account(1), account_created(1)),
        (StreamId::inbox(2), inbox_created(2, 1)),
        (StreamId::contact(3), contact_created(3, 1, "Ann")),
        (
            StreamId::conversation(7),
            conversation_created(7, 1, 2, 3, ConversationStatus::Open, None, None),
        ),
        (StreamId::message(40), message(40, 7)),
        (
            StreamId::conversation(7),
            status_changed(7, 1, ConversationStatus::Open, ConversationStatus::Resolved),
        ),
        (StreamId::contact(3), contact_updated(3, 1, "Anna")),
        (
            StreamId::conversation(7),
            status_changed(7, 1, ConversationStatus::Resolved, ConversationStatus::Open),
        ),
    ];
    steps
        .iter()
        .map(|(stream, event)| {
            let mut env = log.next(stream, event);
            env.actortype = "user".into();
            env.actorid = Some(5);
            env.correlationid = format!("req-{}", env.position);
            env
        })
        .collect()
}

async fn rows(env: &TestEnv) -> Vec<String> {
    sqlx::query_scalar(
        "select h::text from read_model.history h order by stream_id, stream_version",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn history_apply_is_idempotent_and_order_independent_across_streams() {
    let envelopes = streams();
    let forward = TestEnv::new().await;
    for e in &envelopes {
        assert_eq!(apply_one(&forward.pool, e).await.unwrap(), Applied::Applied);
    }
    // A second delivery of everything changes nothing.
    for e in &envelopes {
        assert_eq!(
            apply_one(&forward.pool, e).await.unwrap(),
            Applied::Duplicate
        );
    }
    // Streams in reverse order of their first event (each stream in order).
    let other = TestEnv::new().await;
    let mut kinds: Vec<String> = Vec::new();
    for e in &envelopes {
        if !kinds.contains(&e.streamid) {
            kinds.push(e.streamid.clone());
        }
    }
    for stream in kinds.iter().rev() {
        for e in envelopes.iter().filter(|e| &e.streamid == stream) {
            apply_one(&other.pool, e).await.unwrap();
        }
    }
    let a = rows(&forward).await;
    assert_eq!(a.len(), envelopes.len());
    assert_eq!(a, rows(&other).await);

    // The message is found with its conversation, with actor and request.
    let of_conversation: Vec<(String, String, Option<i64>, String)> = sqlx::query_as(
        "select event_type, actor_type, actor_id, correlation_id from read_model.history \
         where conversation_id = 7 order by position",
    )
    .fetch_all(&forward.pool)
    .await
    .unwrap();
    let types: Vec<&str> = of_conversation.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        types,
        [
            "ConversationCreated",
            "MessageCreated",
            "ConversationStatusChanged",
            "ConversationStatusChanged"
        ]
    );
    assert_eq!(of_conversation[1].1, "user");
    assert_eq!(of_conversation[1].2, Some(5));
    assert_eq!(of_conversation[1].3, "req-5");
    assert_eq!(
        forward
            .scalar("select count(*) from read_model.history where contact_id = 3")
            .await,
        2
    );
    forward.cleanup().await;
    other.cleanup().await;
}

#[tokio::test]
async fn an_account_deletion_removes_its_history() {
    let env = TestEnv::new().await;
    let envelopes = streams();
    for e in &envelopes {
        apply_one(&env.pool, e).await.unwrap();
    }
    let deleted = envelope(
        "account:1",
        2,
        100,
        &Event::AccountDeleted { account_id: 1 },
    );
    apply_one(&env.pool, &deleted).await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.history where account_id = 1")
            .await,
        0
    );
    env.cleanup().await;
}
