use chrono::Utc;
use command_service::error::ApiError;
use command_service::event_store::{CommandContext, EventStore};
use domain::conversation::{Conversation, ConversationCommand, ConversationStatus};
use domain::{Actor, Aggregate, Attributes, StreamId};
use infra::stored::Metadata;

use crate::helpers::TestEnv;

fn ctx() -> CommandContext {
    CommandContext {
        metadata: Metadata {
            actor_type: "system".into(),
            correlation_id: "test".into(),
            ..Default::default()
        },
        now: Utc::now(),
        idempotency: None,
    }
}

async fn create_conversation(store: &EventStore, id: i64) {
    store
        .execute(&ctx(), async |uow| {
            let mut c = uow.load::<Conversation>(StreamId::conversation(id)).await?;
            let cmd = ConversationCommand::Create {
                conversation_id: id,
                account_id: 1,
                display_id: id,
                inbox_id: 1,
                contact_id: 1,
                contact_inbox_id: 1,
                status: None,
                inbox_has_bot: false,
                assignee_id: None,
                team_id: None,
                snoozed_until: None,
                additional_attributes: Attributes::new(),
                custom_attributes: Attributes::new(),
            };
            uow.decide(&mut c, &cmd).await?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_events() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 1).await;
    let update = sqlx::query("update event_store.events set event_type = 'X'")
        .execute(&env.pool)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("delete from event_store.events")
        .execute(&env.pool)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let truncate = sqlx::query("truncate event_store.events")
        .execute(&env.pool)
        .await;
    assert!(truncate.is_err());
    let n: i64 = sqlx::query_scalar("select count(*) from event_store.events")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn concurrent_toggles_on_one_conversation_are_linearised_and_none_is_lost() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 7).await;
    let writers = 16;
    // The commands run concurrently on one task (their transactions interleave
    // in Postgres); `execute`'s future is not `Send`, as actix does not need it.
    let attempts = (0..writers).map(|i| {
        let store = store.clone();
        async move {
            store
                .execute(&ctx(), async |uow| {
                    let mut c = uow.load::<Conversation>(StreamId::conversation(7)).await?;
                    let cmd = ConversationCommand::ToggleStatus {
                        status: None,
                        snoozed_until: None,
                        actor: Actor::user(i),
                    };
                    uow.decide(&mut c, &cmd).await?;
                    Ok(())
                })
                .await
        }
    });
    let mut ok = 0;
    for result in futures::future::join_all(attempts).await {
        match result {
            Ok(_) => ok += 1,
            Err(ApiError::Conflict) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    // Every acknowledged toggle is one event in the stream, in version order,
    // each starting from the status the previous one ended in.
    let rows: Vec<(i64, serde_json::Value)> = sqlx::query_as(
        "select stream_version, payload from event_store.events where stream_id = 'conversation:7' order by stream_version",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        rows.len(),
        ok + 1,
        "one creation plus one event per successful toggle"
    );
    let mut status = "open".to_owned();
    for (_, payload) in rows.iter().skip(1) {
        assert_eq!(payload["from"], status.as_str());
        status = payload["to"].as_str().unwrap().to_owned();
    }
    let folded = Conversation::fold(
        &sqlx::query_as::<_, (String, i32, serde_json::Value)>(
            "select event_type, schema_version, payload from event_store.events where stream_id = 'conversation:7' order by stream_version",
        )
        .fetch_all(&env.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(t, v, p)| domain::Event::from_stored(&t, v, p).unwrap())
        .collect::<Vec<_>>(),
    );
    assert_eq!(
        folded.status.map(ConversationStatus::as_str),
        Some(status.as_str())
    );
    assert!(
        ok >= writers as usize / 2,
        "most writers succeed within the retry budget, got {ok}"
    );
}

#[tokio::test]
async fn an_append_from_an_older_transaction_than_its_predecessor_is_refused() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 3).await;
    // tx_old takes its transaction id first by writing elsewhere ...
    let mut tx_old = env.pool.begin().await.unwrap();
    sqlx::query("insert into write_model.accounts (id) values (99)")
        .execute(&mut *tx_old)
        .await
        .unwrap();
    // ... then a younger transaction appends version 2 and commits ...
    sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, occurred_at) \
         values (gen_random_uuid(), 'conversation:3', 2, 'X', 1, '{}', '{}', now())",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    // ... so the old transaction may not append version 3 behind it.
    let err = sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, event_type, schema_version, payload, metadata, occurred_at) \
         values (gen_random_uuid(), 'conversation:3', 3, 'X', 1, '{}', '{}', now())",
    )
    .execute(&mut *tx_old)
    .await
    .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("40001"));
}

#[tokio::test]
async fn a_committed_append_wakes_the_relay_and_the_writing_transaction_does_not_notify() {
    let env = TestEnv::new().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&env.pool)
        .await
        .unwrap();
    listener
        .listen(command_service::event_store::APPENDED_CHANNEL)
        .await
        .unwrap();
    // A writer that inserts without the event store sends nothing: the
    // notification is no longer a side effect of the writing transaction,
    // where it would serialise every commit behind the one before.
    let mut tx = env.pool.begin().await.unwrap();
    sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, event_type, \
           schema_version, payload, metadata, occurred_at) \
         values (gen_random_uuid(), 'contact:9', 1, 'TestHappened', 1, '{}', \
                 '{\"actor_type\":\"system\",\"correlation_id\":\"t\"}', now())",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 1).await;
    let woken = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("the relay is woken after the command's commit")
        .unwrap();
    assert_eq!(woken.channel(), "events_appended");
    // The one notification came from the store's waker, after the commit:
    // the events are there when the relay looks.
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from event_store.events")
            .fetch_one(&env.pool)
            .await
            .unwrap(),
        2
    );
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), listener.recv())
            .await
            .is_err(),
        "nothing else notified"
    );
}
