//! Account webhooks in the read model: applying is idempotent, an update
//! replaces the row, a delete removes it, and an account's deletion takes
//! its webhooks.

use domain::{Event, StreamId};
use projections::apply::Applied;

use crate::helpers::*;

fn created(id: i64, account_id: i64, url: &str) -> Event {
    Event::WebhookCreated {
        webhook_id: id,
        account_id,
        url: url.into(),
        name: None,
        subscriptions: vec!["message_created".into()],
    }
}

#[tokio::test]
async fn webhooks_apply_once_update_delete_and_leave_with_their_account() {
    let env = TestEnv::new().await;
    let mut feed = Envelopes::default();
    let a1 = feed.next(&StreamId::account(1), &account_created(1));
    let a2 = feed.next(&StreamId::account(2), &account_created(2));
    let w1 = feed.next(&StreamId::webhook(7), &created(7, 1, "https://a.test"));
    let w2 = feed.next(&StreamId::webhook(8), &created(8, 1, "https://b.test"));
    let w3 = feed.next(&StreamId::webhook(9), &created(9, 2, "https://c.test"));
    for e in [&a1, &a2, &w1, &w2, &w3] {
        assert_eq!(apply_one(&env.pool, e).await.unwrap(), Applied::Applied);
    }
    assert_eq!(apply_one(&env.pool, &w1).await.unwrap(), Applied::Duplicate);
    let updated = feed.next(
        &StreamId::webhook(7),
        &Event::WebhookUpdated {
            webhook_id: 7,
            account_id: 1,
            url: "https://new.test".into(),
            name: Some("n".into()),
            subscriptions: vec!["contact_created".into(), "message_created".into()],
        },
    );
    apply_one(&env.pool, &updated).await.unwrap();
    assert_eq!(
        env.scalar(
            "select count(*) from read_model.webhooks where id = 7 and url = 'https://new.test' \
             and subscriptions = '[\"contact_created\", \"message_created\"]'::jsonb"
        )
        .await,
        1
    );
    let deleted = feed.next(
        &StreamId::webhook(8),
        &Event::WebhookDeleted {
            webhook_id: 8,
            account_id: 1,
        },
    );
    apply_one(&env.pool, &deleted).await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.webhooks").await,
        2
    );
    let gone = feed.next(
        &StreamId::account(1),
        &Event::AccountDeleted { account_id: 1 },
    );
    apply_one(&env.pool, &gone).await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.webhooks where account_id = 1")
            .await,
        0
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.webhooks where account_id = 2")
            .await,
        1
    );
    env.cleanup().await;
}
