use std::cell::Cell;

use chrono::Utc;
use command_service::error::ApiError;
use command_service::event_store::{CommandContext, EventStore};
use domain::conversation::{Conversation, ConversationCommand, ConversationStatus};
use domain::{Actor, Aggregate, Attributes, StreamId};
use infra::stored::Metadata;
use tokio::sync::Notify;

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

/// The command that opens conversation `id` in account 1.
fn create(id: i64) -> ConversationCommand {
    ConversationCommand::Create {
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
    }
}

/// A toggle of the status (open ↔ resolved) by user `user`.
fn toggle(user: i64) -> ConversationCommand {
    ConversationCommand::ToggleStatus {
        status: None,
        snoozed_until: None,
        actor: Actor::user(user),
    }
}

async fn create_conversation(store: &EventStore, id: i64) {
    store
        .execute(&ctx(), async |uow| {
            let mut c = uow.load::<Conversation>(StreamId::conversation(id)).await?;
            uow.decide(&mut c, &create(id)).await?;
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
                    let cmd = toggle(i);
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

/// A pool of one connection on the test's database: whatever a command
/// leaves on its connection, the next command gets.
async fn one_connection(env: &TestEnv) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*env.pool.connect_options()).clone())
        .await
        .unwrap()
}

/// Whether the connection is outside a transaction block: there, every
/// statement is a transaction of its own, with an id of its own.
async fn outside_a_transaction(conn: &mut sqlx::PgConnection) -> Result<bool, ApiError> {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id: String = sqlx::query_scalar("select pg_current_xact_id()::text")
            .fetch_one(&mut *conn)
            .await?;
        ids.push(id);
    }
    Ok(ids[0] != ids[1])
}

/// What the next command on `store` finds: whether it runs outside a
/// transaction, and how many accounts `account_id` it sees.
async fn next_command(store: &EventStore, account_id: i64) -> (bool, i64) {
    store
        .execute(&ctx(), async |uow| {
            let outside = outside_a_transaction(uow.reader()).await?;
            let seen: i64 =
                sqlx::query_scalar("select count(*) from write_model.accounts where id = $1")
                    .bind(account_id)
                    .fetch_one(uow.reader())
                    .await?;
            Ok((outside, seen))
        })
        .await
        .unwrap()
        .value
}

/// The Postgres backend serving `conn`.
async fn backend_of(conn: &mut sqlx::PgConnection) -> Result<i32, ApiError> {
    Ok(sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(conn)
        .await?)
}

/// The events a conversation's creation appends.
fn created(id: i64) -> Vec<domain::Event> {
    Conversation::default().decide(&create(id)).unwrap()
}

#[tokio::test]
async fn a_command_that_only_reads_and_appends_opens_no_transaction_and_a_lock_opens_one() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 1).await;
    let (outside, inside) = store
        .execute(&ctx(), async |uow| {
            let c = uow.read::<Conversation>(StreamId::conversation(1)).await?;
            assert_eq!(c.version, 1);
            let outside = outside_a_transaction(uow.reader()).await?;
            uow.append(&StreamId::conversation(2), 0, &created(2));
            let mut c = uow.load::<Conversation>(StreamId::conversation(1)).await?;
            let inside = !outside_a_transaction(uow.reader()).await?;
            let cmd = toggle(1);
            uow.decide(&mut c, &cmd).await?;
            Ok((outside, inside))
        })
        .await
        .unwrap()
        .value;
    assert!(outside, "reads and appends alone begin no transaction");
    assert!(inside, "a stream's lock is taken in a transaction");
    let events: Vec<(String, i64)> = sqlx::query_as(
        "select stream_id, stream_version from event_store.events order by position",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        events,
        [
            ("conversation:1".to_owned(), 1),
            ("conversation:2".to_owned(), 1),
            ("conversation:1".to_owned(), 2),
        ],
        "every event appended, in the order appended"
    );
}

#[tokio::test]
async fn a_command_whose_append_conflicts_writes_none_of_its_events() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 1).await;
    // Outside a transaction the command's events are one statement: the
    // conflict on conversation 1 (it has a version 1) takes the new
    // conversation 2 with it, on every attempt.
    let result = store
        .execute(&ctx(), async |uow| {
            uow.append(&StreamId::conversation(2), 0, &created(2));
            uow.append(&StreamId::conversation(1), 0, &created(1));
            Ok(())
        })
        .await;
    assert!(matches!(result, Err(ApiError::Conflict)), "{result:?}");
    let streams: Vec<String> =
        sqlx::query_scalar("select distinct stream_id from event_store.events")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(streams, ["conversation:1"]);
}

#[tokio::test]
async fn a_command_that_fails_after_writing_leaves_neither_its_write_nor_its_transaction() {
    let env = TestEnv::new().await;
    let pool = one_connection(&env).await;
    let store = EventStore::new(pool.clone());
    let mut backend = 0;
    let failed = store
        .execute(&ctx(), async |uow| {
            backend = backend_of(uow.reader()).await?;
            sqlx::query("insert into write_model.accounts (id) values (77)")
                .execute(uow.conn().await?)
                .await?;
            Err::<(), _>(ApiError::Unprocessable("refused after a write".into()))
        })
        .await;
    assert!(matches!(failed, Err(ApiError::Unprocessable(_))));
    let (outside, written) = next_command(&store, 77).await;
    let next = store
        .execute(&ctx(), async |uow| backend_of(uow.reader()).await)
        .await
        .unwrap()
        .value;
    assert_eq!(
        next, backend,
        "rolled back, the connection serves the next command instead of being closed"
    );
    assert!(
        outside,
        "the next command got the connection outside any transaction"
    );
    assert_eq!(written, 0, "the failed command's write was rolled back");
}

#[tokio::test]
async fn a_command_dropped_in_its_transaction_does_not_hand_it_to_the_next() {
    let env = TestEnv::new().await;
    let pool = one_connection(&env).await;
    let store = EventStore::new(pool.clone());
    let (wrote, written) = tokio::sync::oneshot::channel::<()>();
    let mut wrote = Some(wrote);
    let context = ctx();
    // The request goes away (its future is dropped) after a write, with
    // the transaction open, as actix drops a handler whose client left.
    tokio::select! {
        _ = store.execute(&context, async |uow| {
            sqlx::query("insert into write_model.accounts (id) values (78)")
                .execute(uow.conn().await?)
                .await?;
            if let Some(wrote) = wrote.take() {
                let _ = wrote.send(());
            }
            std::future::pending::<()>().await;
            Ok(())
        }) => panic!("the command never ends"),
        _ = written => {}
    }
    let (outside, seen) = next_command(&store, 78).await;
    assert!(
        outside,
        "the next command is not inside the dropped one's transaction"
    );
    assert_eq!(seen, 0, "the dropped command's write never committed");
}

/// A load that waited for its stream's lock reads what the lock's holder
/// committed: the read's snapshot is taken after the lock is granted, so
/// the waiting command decides on the holder's event at its first attempt
/// (no version conflict, no retry). Its second load, inside the
/// transaction its first one began, takes the second stream's lock the
/// same way.
#[tokio::test]
async fn a_load_that_waited_for_the_lock_reads_what_the_holder_committed() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 5).await;
    create_conversation(&store, 6).await;
    // Another process's store: its commit does not reach `store`'s cache.
    let holder_store = EventStore::new(env.pool.clone());
    let (locked, go) = (Notify::new(), Notify::new());
    let ctx = ctx();
    let holder = holder_store.execute(&ctx, async |uow| {
        let mut c = uow.load::<Conversation>(StreamId::conversation(5)).await?;
        locked.notify_one();
        go.notified().await;
        uow.decide(&mut c, &toggle(1)).await?;
        Ok(())
    });
    let attempts = Cell::new(0);
    let waiter = async {
        locked.notified().await;
        let command = store.execute(&ctx, async |uow| {
            attempts.set(attempts.get() + 1);
            let other = uow.load::<Conversation>(StreamId::conversation(6)).await?;
            let mut c = uow.load::<Conversation>(StreamId::conversation(5)).await?;
            let seen = c.version;
            uow.decide(&mut c, &toggle(2)).await?;
            Ok((other.version, seen, c.state.status))
        });
        tokio::pin!(command);
        let queued = crate::helpers::someone_waits_on_an_advisory_lock(
            &env.pool,
            "the command waiting on the lock",
        );
        tokio::select! {
            answer = &mut command => panic!("the command did not wait for the lock: {answer:?}"),
            _ = queued => {}
        }
        go.notify_one();
        command.await
    };
    let (held, waited) = tokio::join!(holder, waiter);
    held.unwrap();
    let (other, seen, status) = waited.unwrap().value;
    assert_eq!(attempts.get(), 1, "decided once, on the holder's event");
    assert_eq!(other, 1);
    assert_eq!(seen, 2, "the holder's toggle was read");
    assert_eq!(
        status,
        Some(ConversationStatus::Open),
        "open, resolved by the holder, open again"
    );
}

/// The cache keeps the streams commands read, not the ones they start: a
/// conversation created in a command (and toggled in the same command) is
/// not held until a command reads it, nor is an empty stream; a stream read and then written is held at its
/// new version.
#[tokio::test]
async fn the_cache_keeps_the_streams_commands_read_not_the_ones_they_start() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let (started, empty) = (StreamId::conversation(11), StreamId::conversation(12));
    store
        .execute(&ctx(), async |uow| {
            let mut c = uow.new_stream::<Conversation>(StreamId::conversation(11));
            uow.decide(&mut c, &create(11)).await?;
            uow.decide(&mut c, &toggle(1)).await?;
            let none = uow.read::<Conversation>(StreamId::conversation(12)).await?;
            assert_eq!(none.version, 0);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(store.cached_version::<Conversation>(&started), None);
    assert_eq!(store.cached_version::<Conversation>(&empty), None);
    store
        .execute(&ctx(), async |uow| {
            let c = uow.read::<Conversation>(StreamId::conversation(11)).await?;
            assert_eq!(c.version, 2);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(store.cached_version::<Conversation>(&started), Some(2));
    store
        .execute(&ctx(), async |uow| {
            let mut c = uow.load::<Conversation>(StreamId::conversation(11)).await?;
            uow.decide(&mut c, &toggle(2)).await?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(store.cached_version::<Conversation>(&started), Some(3));
}

/// The cache's size is the store's to choose (`AGGREGATE_CACHE_STREAMS`):
/// with room for none, a stream read with events is not kept.
#[tokio::test]
async fn a_store_with_a_cache_of_no_streams_keeps_none() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone()).with_cached_streams(0);
    create_conversation(&store, 4).await;
    let stream = StreamId::conversation(4);
    let version = store
        .execute(&ctx(), async |uow| {
            Ok(uow
                .read::<Conversation>(StreamId::conversation(4))
                .await?
                .version)
        })
        .await
        .unwrap()
        .value;
    assert_eq!(version, 1);
    assert_eq!(store.cached_version::<Conversation>(&stream), None);
}

/// A read that draws an id (`UnitOfWork::read_drawing`, a message's read
/// of its conversation) folds every event after the cached version, as a
/// plain read does, and draws from the sequence once, however many events
/// come back: three after the stream's start, then none once cached; under
/// the stream's lock (`UnitOfWork::load_drawing`) too.
#[tokio::test]
async fn a_read_that_draws_an_id_folds_the_new_events_and_draws_once() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    create_conversation(&store, 9).await;
    for i in 0..2 {
        store
            .execute(&ctx(), async |uow| {
                let mut c = uow.load::<Conversation>(StreamId::conversation(9)).await?;
                let cmd = toggle(i);
                uow.decide(&mut c, &cmd).await?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let last_drawn = async || -> i64 {
        sqlx::query_scalar("select last_value from write_model.message_ids")
            .fetch_one(&env.pool)
            .await
            .unwrap()
    };
    let read = async |store: &EventStore| {
        store
            .execute(&ctx(), async |uow| {
                let (c, drawn) = uow
                    .read_drawing::<Conversation>(StreamId::conversation(9), "message_ids")
                    .await?;
                Ok((c.version, c.state.status, drawn))
            })
            .await
            .unwrap()
            .value
    };
    // A store of its own has nothing cached: all three events come back.
    let (version, status, drawn) = read(&EventStore::new(env.pool.clone())).await;
    assert_eq!(version, 3);
    assert_eq!(
        status,
        Some(ConversationStatus::Open),
        "open, resolved, open"
    );
    assert_eq!(drawn, last_drawn().await, "drawn once");
    // Cached after the toggles: nothing new comes back, an id still does.
    let (version, status, again) = read(&store).await;
    assert_eq!((version, status), (3, Some(ConversationStatus::Open)));
    assert_eq!(again, drawn + 1);
    assert_eq!(again, last_drawn().await);
    // With the stream's lock first (an incoming message), the same read.
    let (version, locked, third) = store
        .execute(&ctx(), async |uow| {
            let (c, drawn) = uow
                .load_drawing::<Conversation>(StreamId::conversation(9), "message_ids")
                .await?;
            let locked: i64 = sqlx::query_scalar(
                "select count(*) from pg_locks \
                 where locktype = 'advisory' and pid = pg_backend_pid()",
            )
            .fetch_one(uow.reader())
            .await?;
            Ok((c.version, locked, drawn))
        })
        .await
        .unwrap()
        .value;
    assert_eq!((version, locked), (3, 1), "read under the stream's lock");
    assert_eq!(third, again + 1);
}
