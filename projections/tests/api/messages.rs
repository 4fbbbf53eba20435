//! Messages: applying is idempotent and does not depend on the order across
//! streams (a message may be applied before its conversation).

use chrono::{DateTime, Utc};
use domain::conversation::ConversationStatus;
use domain::message::{ContentType, MessageType, Sender};
use domain::{Actor, Event};
use projections::apply::Applied;

use crate::helpers::*;

fn conversation_created() -> Event {
    Event::ConversationCreated {
        conversation_id: 7,
        account_id: 1,
        display_id: 1,
        inbox_id: 2,
        contact_id: 3,
        contact_inbox_id: 4,
        status: ConversationStatus::Open,
        assignee_id: None,
        team_id: None,
        snoozed_until: None,
        additional_attributes: domain::Attributes::new(),
        custom_attributes: domain::Attributes::new(),
    }
}

fn message(id: i64) -> Event {
    Event::MessageCreated {
        message_id: id,
        account_id: 1,
        conversation_id: 7,
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

async fn last_activity(env: &TestEnv) -> DateTime<Utc> {
    sqlx::query_scalar("select last_activity_at from read_model.conversations where id = 7")
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn last_activity_follows_the_newest_message_whatever_the_order_across_streams() {
    let env = TestEnv::new().await;
    let created = envelope("conversation:7", 1, 1, &conversation_created());
    let newer = envelope("message:20", 1, 5, &message(20));
    let older = envelope("message:10", 1, 3, &message(10));

    // The newest message first, before its conversation exists.
    assert_eq!(
        apply_one(&env.pool, &newer).await.unwrap(),
        Applied::Applied
    );
    assert_eq!(
        apply_one(&env.pool, &created).await.unwrap(),
        Applied::Applied
    );
    assert_eq!(last_activity(&env).await, at(5));
    // An older message applied later does not move it back.
    assert_eq!(
        apply_one(&env.pool, &older).await.unwrap(),
        Applied::Applied
    );
    assert_eq!(last_activity(&env).await, at(5));
    // A redelivery changes nothing.
    assert_eq!(
        apply_one(&env.pool, &newer).await.unwrap(),
        Applied::Duplicate
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.messages").await,
        2
    );

    // A status change by the system derives one activity message, once.
    let reopen = envelope(
        "conversation:7",
        2,
        9,
        &Event::ConversationStatusChanged {
            conversation_id: 7,
            account_id: 1,
            from: ConversationStatus::Resolved,
            to: ConversationStatus::Open,
            snoozed_until: None,
            actor: Actor::system(),
        },
    );
    apply_one(&env.pool, &reopen).await.unwrap();
    apply_one(&env.pool, &reopen).await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.messages where message_type = 2")
            .await,
        1
    );
    assert_eq!(
        env.scalar("select id from read_model.messages where message_type = 2")
            .await,
        projections::activity::activity_id(9, 0)
    );
    // Activities do not count as conversation activity.
    assert_eq!(last_activity(&env).await, at(5));
    env.cleanup().await;
}

#[tokio::test]
async fn a_contacts_message_moves_the_contacts_activity_and_an_agents_reply_does_not() {
    let env = TestEnv::new().await;
    apply_one(
        &env.pool,
        &envelope("contact:3", 1, 1, &contact_created(3, 1, "Ann")),
    )
    .await
    .unwrap();
    apply_one(
        &env.pool,
        &envelope("conversation:7", 1, 2, &conversation_created()),
    )
    .await
    .unwrap();
    let contact_activity = || async {
        env.scalar(
            "select coalesce(extract(epoch from last_activity_at)::bigint, 0) \
             from read_model.contacts where id = 3",
        )
        .await
    };
    apply_one(&env.pool, &envelope("message:10", 1, 5, &message(10)))
        .await
        .unwrap();
    assert_eq!(contact_activity().await, at(5).timestamp());
    let mut reply = message(11);
    if let Event::MessageCreated {
        message_type,
        sender,
        ..
    } = &mut reply
    {
        *message_type = MessageType::Outgoing;
        *sender = Some(Sender::User(41));
    }
    apply_one(&env.pool, &envelope("message:11", 1, 8, &reply))
        .await
        .unwrap();
    assert_eq!(contact_activity().await, at(5).timestamp());
    assert_eq!(last_activity(&env).await, at(8));
    assert_eq!(
        env.scalar("select count(*) from read_model.messages").await,
        2
    );
    assert_eq!(
        env.scalar("select first_responder_id from read_model.report_conversations")
            .await,
        41
    );
    env.cleanup().await;
}
