//! The live worker against real JetStream: it applies, acks, parks poison,
//! holds a poisoned stream while others flow, and fills delivery gaps from
//! the log.

use std::time::Duration;

use domain::StreamId;
use serde_json::json;

use crate::helpers::*;

const DEADLINE: Duration = Duration::from_secs(30);

async fn wait_until_acked(env: &TestEnv) {
    let consumer = env.consumer().await;
    eventually(
        "the consumer to have every message acked",
        DEADLINE,
        || async {
            let info = consumer.get_info().await.unwrap();
            info.num_pending == 0 && info.num_ack_pending == 0
        },
    )
    .await;
}

async fn name_of(env: &TestEnv, contact_id: i64) -> Option<String> {
    sqlx::query_scalar("select name from read_model.contacts where id = $1")
        .bind(contact_id)
        .fetch_optional(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_worker_applies_published_envelopes_and_acks_them() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let worker = env.spawn_worker();
    let mut workload = Workload::new(1);
    let mut published = Vec::new();
    for (stream, event) in workload.setup() {
        published.push(feed.emit(&stream, &event).await);
    }
    for _ in 0..120 {
        let (stream, event) = workload.step();
        published.push(feed.emit(&stream, &event).await);
    }
    let total = published.len() as i64;
    eventually("every published event to be applied", DEADLINE, || async {
        env.applied().await == total
    })
    .await;
    wait_until_acked(&env).await;

    let (stored, counted) = counters_and_counts(&env.pool).await;
    assert_eq!(stored, counted);
    let last = published.last().unwrap();
    let recorded = env
        .scalar(&format!(
            "select version from read_model.stream_versions where stream_id = '{}'",
            last.streamid
        ))
        .await;
    assert_eq!(recorded, last.streamversion);

    // A redelivery under a new message id (past JetStream's dedupe) is a no-op.
    let again = &published[published.len() / 2];
    let before = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    feed.publish_raw(
        &again.subject(&env.settings.subject_prefix),
        "redelivered",
        serde_json::to_vec(again).unwrap(),
    )
    .await;
    wait_until_acked(&env).await;
    assert_eq!(env.applied().await, total);
    assert_eq!(
        projections::checksum(&env.pool, "read_model")
            .await
            .unwrap(),
        before
    );

    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_poison_message_is_parked_and_holds_its_stream_while_other_streams_flow() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let worker = env.spawn_worker();
    let first = feed
        .emit(&StreamId::contact(1), &contact_created(1, 1, "first"))
        .await;
    feed.emit(&StreamId::contact(2), &contact_created(2, 1, "other"))
        .await;
    // Version 2 of contact 1 is in the log but no code can read it.
    let poison = feed
        .append_raw(
            "contact:1",
            "ContactUpdated",
            1,
            Some(1),
            json!({"contact_id": "one", "account_id": 1}),
        )
        .await;
    feed.publish(&poison).await;
    let held = feed
        .emit(
            &StreamId::contact(1),
            &contact_updated(1, 1, "after the poison"),
        )
        .await;
    // A message that is not an envelope at all.
    feed.publish_raw(
        &feed.subject("0.contact.Garbage"),
        "garbage-1",
        b"not json".to_vec(),
    )
    .await;
    feed.emit(&StreamId::contact(2), &contact_updated(2, 1, "flows"))
        .await;

    eventually(
        "the other stream to flow and the poison to be parked",
        DEADLINE,
        || async {
            name_of(&env, 2).await.as_deref() == Some("flows")
                && env
                    .scalar("select count(*) from read_model.parked_events")
                    .await
                    == 3
        },
    )
    .await;
    wait_until_acked(&env).await;

    assert_eq!(name_of(&env, 1).await.as_deref(), Some("first"));
    assert_eq!(
        env.scalar("select version from read_model.stream_versions where stream_id = 'contact:1'")
            .await,
        first.streamversion
    );
    let parked: Vec<(i64, String, String, String)> = sqlx::query_as(
        "select position, stream_id, event_type, error from read_model.parked_events order by position",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(parked.len(), 3);
    let (garbage_position, garbage_stream, garbage_type, garbage_error) = &parked[0];
    assert!(
        *garbage_position < 0,
        "a message without a position is keyed by its sequence"
    );
    assert_eq!(garbage_stream, "");
    assert!(garbage_type.ends_with("0.contact.Garbage"));
    assert!(
        garbage_error.contains("not an event envelope"),
        "{garbage_error}"
    );
    assert_eq!(parked[1].0, poison.position);
    assert_eq!(parked[1].1, "contact:1");
    assert!(parked[1].3.contains("decode"), "{}", parked[1].3);
    assert_eq!(parked[2].0, held.position);
    assert!(parked[2].3.starts_with("held"), "{}", parked[2].3);

    worker.stop().await;
    env.cleanup().await;
}

/// A batch is first applied without savepoints; an event the database
/// refuses (here a second conversation with the same display id, SQLSTATE
/// 23505) spoils that transaction, and the batch is redone with savepoints:
/// the good events of the batch are applied once, the bad one is parked.
#[tokio::test]
async fn a_batch_with_an_event_the_database_refuses_is_redone_and_only_that_event_parked() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let open = domain::conversation::ConversationStatus::Open;
    // All in JetStream before the worker starts, so they come as one batch.
    feed.emit(
        &StreamId::conversation(1),
        &conversation_created(1, 1, 1, 1, open, None, None),
    )
    .await;
    let mut clash = conversation_created(2, 1, 1, 1, open, None, None);
    if let domain::Event::ConversationCreated { display_id, .. } = &mut clash {
        *display_id = 1;
    }
    let bad = feed.emit(&StreamId::conversation(2), &clash).await;
    feed.emit(
        &StreamId::conversation(3),
        &conversation_created(3, 1, 1, 1, open, None, None),
    )
    .await;
    let worker = env.spawn_worker();
    eventually(
        "the good events applied and the bad one parked",
        DEADLINE,
        || async {
            env.scalar("select count(*) from read_model.parked_events")
                .await
                == 1
                && env
                    .scalar("select count(*) from read_model.conversations where id = 3")
                    .await
                    == 1
        },
    )
    .await;
    wait_until_acked(&env).await;
    assert_eq!(
        env.scalar("select count(*) from read_model.conversations")
            .await,
        2
    );
    let (position, stream_id, error): (i64, String, String) =
        sqlx::query_as("select position, stream_id, error from read_model.parked_events")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        (position, stream_id.as_str()),
        (bad.position, "conversation:2")
    );
    assert!(error.contains("duplicate key"), "{error}");
    assert_eq!(
        env.scalar("select count(*) from read_model.history").await,
        2,
        "each good event recorded once"
    );
    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_version_delivered_before_its_predecessors_is_applied_after_them_from_the_log() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let stream = StreamId::contact(1);
    let v1 = feed.append(&stream, &contact_created(1, 1, "v1")).await;
    let v2 = feed.append(&stream, &contact_updated(1, 1, "v2")).await;
    let v3 = feed.append(&stream, &contact_updated(1, 1, "v3")).await;
    // The earlier versions' deliveries come late, as after a worker crash
    // between commit and ack.
    feed.publish(&v3).await;
    feed.publish(&v1).await;
    feed.publish(&v2).await;
    let worker = env.spawn_worker();

    wait_until_acked(&env).await;
    assert_eq!(name_of(&env, 1).await.as_deref(), Some("v3"));
    assert_eq!(env.applied().await, 3, "each version applied once");
    assert_eq!(
        env.scalar("select version from read_model.stream_versions where stream_id = 'contact:1'")
            .await,
        3
    );
    // updated_at is v3's time, so v2 was not applied after it.
    let updated_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select updated_at from read_model.contacts where id = 1")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(updated_at, v3.time);
    assert_eq!(
        env.scalar("select count(*) from read_model.parked_events")
            .await,
        0
    );

    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_worker_process_answers_health_and_ready() {
    let env = TestEnv::new().await;
    let (server, port) = projections::health::serve(&env.settings, env.pool.clone()).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    let client = reqwest::Client::new();
    for (path, status) in [("/health", 200), ("/ready", 200), ("/nowhere", 404)] {
        let response = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    handle.stop(true).await;
    env.cleanup().await;
}
