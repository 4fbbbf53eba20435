//! Rebuilding from the log gives the live read model again, swaps it in
//! under the same name, and leaves the live worker running on it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::conversation::ConversationStatus;
use domain::message::{MessageType, Sender};
use domain::{Event, StreamId};
use infra::envelope::Envelope;
use infra::stored::{StoredEvent, COLUMNS};
use serde_json::json;
use sqlx::Connection;

use crate::helpers::*;

const DEADLINE: Duration = Duration::from_secs(60);

async fn log_events(env: &TestEnv) -> i64 {
    env.scalar("select count(*) from event_store.events").await
}

async fn read_model_schemas(env: &TestEnv) -> Vec<String> {
    sqlx::query_scalar(
        "select nspname::text from pg_namespace where nspname like 'read\\_model%' order by 1",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

/// The live schema's indexes as `(name, definition without the schema)`.
async fn live_indexes(env: &TestEnv) -> Vec<(String, String)> {
    sqlx::query_as(
        "select indexname::text, replace(indexdef, ' read_model.', ' ') from pg_indexes \
         where schemaname = 'read_model' order by 1",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

async fn settled(env: &TestEnv, parked: i64) -> bool {
    let parked_now = env
        .scalar("select count(*) from read_model.parked_events")
        .await;
    env.applied().await + parked_now == log_events(env).await && parked_now == parked
}

#[tokio::test]
async fn a_rebuild_from_the_log_equals_the_live_read_model_and_swaps_in_place() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let worker = env.spawn_worker();
    let mut workload = Workload::new(3);
    for (stream, event) in workload.setup() {
        feed.emit(&stream, &event).await;
    }
    for _ in 0..150 {
        let (stream, event) = workload.step();
        feed.emit(&stream, &event).await;
    }
    // Poison in the log, and an event held behind it: the rebuild must park
    // them exactly as the live worker did.
    // (Contact 999 is one the workload never touches.)
    feed.emit(&StreamId::contact(999), &contact_created(999, 1, "ok"))
        .await;
    let poison = feed
        .append_raw(
            "contact:999",
            "ContactUpdated",
            1,
            Some(1),
            json!({"nope": true}),
        )
        .await;
    feed.publish(&poison).await;
    feed.emit(&StreamId::contact(999), &contact_updated(999, 1, "held"))
        .await;
    eventually("the live worker to take in the log", DEADLINE, || {
        settled(&env, 2)
    })
    .await;

    let live = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    let indexes = live_indexes(&env).await;
    // Batches of 7 events: streams go on from batch to batch (and the
    // event held behind the poison may come in a later batch than it),
    // as they do in a big log.
    let report = projections::rebuild::rebuild_in_batches(&env.pool, false, 7)
        .await
        .unwrap();
    assert_eq!(report.events as i64, log_events(&env).await);
    // The indexes the replay built after the rows are there again, as the
    // schema's DDL states them.
    assert_eq!(live_indexes(&env).await, indexes);
    for deferred in projections::rebuild::DEFERRED_INDEXES {
        assert!(indexes.iter().any(|(name, _)| name == deferred));
    }
    // The keys it added after the rows are constraints again, not only
    // their indexes.
    let keys: Vec<(String, String)> = sqlx::query_as(
        "select c.conname::text, pg_get_constraintdef(c.oid) from pg_constraint c \
         join pg_namespace n on n.oid = c.connamespace \
         where n.nspname = 'read_model' and c.conname = any($1) order by 1",
    )
    .bind(projections::rebuild::DEFERRED_KEYS)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        keys,
        [(
            "history_pkey".to_owned(),
            "PRIMARY KEY (stream_id, stream_version)".to_owned()
        )]
    );
    assert_eq!(report.parked, 2);
    assert_eq!(report.applied, report.events - 2);
    assert!(report.replaced.is_some());
    let rebuilt = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    assert_eq!(rebuilt, live, "the rebuilt read model equals the live one");
    assert_eq!(
        read_model_schemas(&env).await,
        vec!["read_model".to_owned()]
    );
    // The swapped-in tables come with planner statistics (a table never
    // analyzed or vacuumed has reltuples = -1).
    let never_analyzed: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'read_model' and c.relkind = 'r' and c.reltuples < 0 order by 1",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(never_analyzed, Vec::<String>::new());

    // The worker carries on into the new schema.
    for _ in 0..30 {
        let (stream, event) = workload.step();
        feed.emit(&stream, &event).await;
    }
    eventually(
        "the worker to apply into the swapped-in schema",
        DEADLINE,
        || settled(&env, 2),
    )
    .await;
    let (stored, counted) = counters_and_counts(&env.pool).await;
    assert_eq!(stored, counted);

    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_rebuild_under_live_writes_loses_nothing_and_matches_a_quiet_rebuild() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let worker = env.spawn_worker();
    let mut workload = Workload::new(9);
    for (stream, event) in workload.setup() {
        feed.emit(&stream, &event).await;
    }
    // The writer keeps appending and publishing until the rebuild is over.
    let (done, mut rebuilt) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(async move {
        let mut written = 0;
        while written < 200 || !*rebuilt.borrow_and_update() {
            let (stream, event) = workload.step();
            feed.emit(&stream, &event).await;
            written += 1;
        }
    });
    eventually("writes to be under way", DEADLINE, || async {
        log_events(&env).await > 60
    })
    .await;
    let report = projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap();
    done.send(true).unwrap();
    writer.await.unwrap();
    assert!(
        (report.events as i64) < log_events(&env).await,
        "writes went on after the rebuild"
    );

    eventually("the live worker to take in every write", DEADLINE, || {
        settled(&env, 0)
    })
    .await;
    let live = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    let (stored, counted) = counters_and_counts(&env.pool).await;
    assert_eq!(stored, counted);

    projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap();
    let quiet = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    assert_eq!(live, quiet);
    assert_eq!(
        read_model_schemas(&env).await,
        vec!["read_model".to_owned()]
    );

    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_second_rebuild_at_the_same_time_is_refused() {
    let env = TestEnv::new().await;
    let mut holder = sqlx::PgConnection::connect_with(&env.pool.connect_options())
        .await
        .unwrap();
    // Hold the rebuild lock as a running rebuild would.
    sqlx::query("select pg_advisory_lock(x'00726d7265626c64'::bigint)")
        .execute(&mut holder)
        .await
        .unwrap();
    let err = projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another rebuild"), "{err}");
    holder.close().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn a_rebuild_keeps_what_the_worker_applied_above_a_held_back_horizon() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let worker = env.spawn_worker();
    // An open transaction that has taken an id holds the horizon back; the
    // test feed publishes regardless (the real relay would wait).
    let mut pin = sqlx::PgConnection::connect_with(&env.pool.connect_options())
        .await
        .unwrap();
    let mut pinned = pin.begin().await.unwrap();
    sqlx::query("select pg_current_xact_id()")
        .execute(&mut *pinned)
        .await
        .unwrap();
    let mut workload = Workload::new(5);
    for (stream, event) in workload.setup() {
        feed.emit(&stream, &event).await;
    }
    for _ in 0..60 {
        let (stream, event) = workload.step();
        feed.emit(&stream, &event).await;
    }
    eventually("the live worker to take in the log", DEADLINE, || {
        settled(&env, 0)
    })
    .await;
    let live = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();

    let report = projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap();
    assert_eq!(report.events as i64, log_events(&env).await);
    assert_eq!(
        projections::checksum(&env.pool, "read_model")
            .await
            .unwrap(),
        live
    );

    pinned.rollback().await.unwrap();
    pin.close().await.unwrap();
    worker.stop().await;
    env.cleanup().await;
}

/// The relay, the rebuild and the export page through the log in
/// `(txid, position)` order from a cursor. Ordered by the selected `txid`
/// (an alias, the column cast to `bigint`), each page sorted every row
/// after its cursor: 1.2–1.8 s a page of 5,000 on a log of 1.5 million
/// events. Ordered by the table's columns, the page is read from the
/// index in order and nothing is sorted.
#[tokio::test]
async fn the_log_is_paged_from_its_index_without_a_sort() {
    use infra::stored::{COLUMNS, LOG_ORDER};
    let env = TestEnv::new().await;
    let mut tx = env.pool.begin().await.unwrap();
    // On an almost empty table a sequential scan would win anyway; take it
    // out of the running so the plan shows whether the order matches the
    // index.
    sqlx::query("set local enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("set local enable_bitmapscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "explain select {COLUMNS} from event_store.events \
         where (txid, position) > ('0'::xid8, 0) and txid < '1000000'::xid8 \
         order by {LOG_ORDER} limit 5000"
    ))
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("events_txid_position_idx"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
    drop(tx);
    env.cleanup().await;
}

/// Appends `(stream, version, event)` rows to the log in one transaction,
/// in the given order, all at the same time.
async fn append_all(env: &TestEnv, events: &[(String, i64, Event)]) {
    let now = chrono::Utc::now();
    let timed: Vec<_> = events
        .iter()
        .map(|(stream, version, event)| (stream.clone(), *version, event.clone(), now))
        .collect();
    append_all_at(env, &timed).await;
}

/// Appends `(stream, version, event, time)` rows to the log in one
/// transaction, in the given order.
async fn append_all_at(env: &TestEnv, events: &[(String, i64, Event, DateTime<Utc>)]) {
    let streams: Vec<&str> = events.iter().map(|(s, ..)| s.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|(_, v, ..)| *v).collect();
    let accounts: Vec<Option<i64>> = events.iter().map(|(_, _, e, _)| e.account_id()).collect();
    let types: Vec<&str> = events.iter().map(|(_, _, e, _)| e.event_type()).collect();
    let schemas: Vec<i32> = events
        .iter()
        .map(|(_, _, e, _)| e.schema_version())
        .collect();
    let payloads: Vec<serde_json::Value> = events.iter().map(|(_, _, e, _)| e.payload()).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|(.., t)| *t).collect();
    sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, account_id, \
           event_type, schema_version, payload, metadata, occurred_at) \
         select gen_random_uuid(), s, v, a, t, n, p, \
           '{\"actor_type\":\"system\",\"correlation_id\":\"test\"}', o \
         from unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[], \
           $7::timestamptz[]) \
           with ordinality as e(s, v, a, t, n, p, o, k) \
         order by k",
    )
    .bind(&streams)
    .bind(&versions)
    .bind(&accounts)
    .bind(&types)
    .bind(&schemas)
    .bind(&payloads)
    .bind(&times)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// Waits until every event of the log is below the cluster's horizon: a
/// rebuild replays only what lies below it, and another test may hold a
/// transaction open that keeps it behind ours for a while.
async fn below_the_horizon(env: &TestEnv) {
    let written = env
        .scalar("select max(txid::text::bigint) from event_store.events")
        .await;
    eventually("the log to be below the horizon", DEADLINE, || async {
        env.scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .await
            > written
    })
    .await;
}

/// Appends `log` (as [`append_all_at`]), waits for it to be below the
/// horizon, and rebuilds in batches of three events, every one applied.
async fn rebuild_in_threes(env: &TestEnv, log: &[(String, i64, Event, DateTime<Utc>)]) {
    append_all_at(env, log).await;
    below_the_horizon(env).await;
    let report = projections::rebuild::rebuild_in_batches(&env.pool, false, 3)
        .await
        .unwrap();
    assert_eq!((report.applied, report.parked), (log.len() as u64, 0));
}

/// A replay keeps its messages' rows aside for another connection, so a
/// conversation created after its first messages (a transaction's id is
/// drawn at its first write, so in the log's order a message can come
/// before its conversation) takes their activity from the replay's memory,
/// across batches, and a message's deletion must find its row whether it
/// was written beside an earlier batch or is still kept by its own.
#[tokio::test]
async fn a_rebuild_finds_messages_logged_before_their_conversation_and_deletes_them() {
    let env = TestEnv::new().await;
    let minute = |n: i64| at(60 * n);
    let incoming = |id: i64, minutes: i64| {
        (
            format!("message:{id}"),
            1,
            message_created(
                id,
                1,
                7,
                MessageType::Incoming,
                false,
                Some(Sender::Contact(1)),
            ),
            minute(minutes),
        )
    };
    let deleted = |id: i64| {
        (
            format!("message:{id}"),
            2,
            Event::MessageDeleted {
                message_id: id,
                account_id: 1,
                conversation_id: 7,
            },
            minute(20),
        )
    };
    let conversation = |id: i64| {
        (
            format!("conversation:{id}"),
            1,
            conversation_created(id, 1, 10, 1, ConversationStatus::Open, None, None),
            minute(1),
        )
    };
    let filler = |contact: i64| {
        (
            format!("contact:{contact}"),
            1,
            contact_created(contact, 1, "filler"),
            minute(0),
        )
    };
    // Batches of three events.
    let log = vec![
        ("account:1".to_owned(), 1, account_created(1), minute(0)),
        ("inbox:10".to_owned(), 1, inbox_created(10, 1), minute(0)),
        filler(1),
        // Before conversation 7, in an earlier batch than its creation.
        incoming(1, 5),
        incoming(2, 2),
        filler(2),
        // The head of a batch: message 1's row was written beside it.
        deleted(1),
        incoming(4, 9),
        filler(3),
        conversation(7),
        (
            "message:3".to_owned(),
            1,
            message_created(3, 1, 7, MessageType::Outgoing, false, Some(Sender::User(1))),
            minute(3),
        ),
        // In the batch that holds message 3's row.
        deleted(3),
        conversation(8),
    ];
    rebuild_in_threes(&env, &log).await;
    let activity: Vec<(i64, DateTime<Utc>)> =
        sqlx::query_as("select id, last_activity_at from read_model.conversations order by id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        activity,
        [(7, minute(9)), (8, minute(1))],
        "conversation 7 at its latest message, though all but one came before it"
    );
    let contents: Vec<(i64, Option<String>)> =
        sqlx::query_as("select id, content from read_model.messages order by id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    let deleted_content = Some(domain::message::DELETED_CONTENT.to_owned());
    assert_eq!(
        contents,
        [
            (1, deleted_content.clone()),
            (2, Some("m2".to_owned())),
            (3, deleted_content),
            (4, Some("m4".to_owned())),
        ]
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.report_messages")
            .await,
        4
    );
    env.cleanup().await;
}

/// A rebuild writes each batch's history rows and report facts beside the
/// next batch's apply; an account's deletion at the head of the next batch
/// must still find, and remove, the account's rows of the batch before,
/// and one later in a batch those of its own batch.
#[tokio::test]
async fn an_account_deleted_right_after_a_full_batch_leaves_none_of_its_history() {
    let env = TestEnv::new().await;
    let batch = projections::rebuild::BATCH as i64;
    let message = |id: i64, account: i64| {
        (
            format!("message:{id}"),
            1,
            message_created(id, account, 1, MessageType::Incoming, false, None),
        )
    };
    let mut log = vec![
        ("account:1".to_owned(), 1, account_created(1)),
        ("account:2".to_owned(), 1, account_created(2)),
        ("account:3".to_owned(), 1, account_created(3)),
        message(1, 1),
    ];
    for contact in 1..=batch - 4 {
        log.push((
            format!("contact:{contact}"),
            1,
            contact_created(contact, 1, "one of many"),
        ));
    }
    log.extend([
        (
            "account:1".to_owned(),
            2,
            Event::AccountDeleted { account_id: 1 },
        ),
        message(2, 3),
        (
            "account:3".to_owned(),
            2,
            Event::AccountDeleted { account_id: 3 },
        ),
        (
            format!("contact:{batch}"),
            1,
            contact_created(batch, 2, "kept"),
        ),
        message(3, 2),
    ]);
    append_all(&env, &log).await;
    below_the_horizon(&env).await;

    let report = projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap();
    assert_eq!(report.applied as usize, log.len());
    assert_eq!(
        env.scalar("select count(*) from read_model.history where account_id in (1, 3)")
            .await,
        0,
        "the deleted accounts' history is gone, the batch before a deletion's too"
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.report_messages where account_id in (1, 3)")
            .await,
        0,
        "and so are their report facts"
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.history where account_id = 2")
            .await,
        3
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.report_messages where account_id = 2")
            .await,
        1
    );
    env.cleanup().await;
}

/// A conversation's first response: when, by whom, which message.
type FirstResponse = (i64, Option<DateTime<Utc>>, Option<i64>, Option<i64>);

/// Every conversation's first response in the read model in `schema`.
async fn first_responses(env: &TestEnv, schema: &str) -> Vec<FirstResponse> {
    sqlx::query_as(&format!(
        "select conversation_id, first_response_at, first_responder_id, first_response_id \
         from {schema}.report_conversations order by conversation_id"
    ))
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

/// A replay writes each batch's runs of messages with their first
/// responses while their rows go elsewhere; what it records must be what
/// applying the log one event at a time records: a reply logged later but
/// sent earlier takes the place of the one before it, in a later batch or
/// in the same one, and after an account's deletion (which takes its
/// report rows away) its conversations' replies are recorded afresh, in
/// the deletion's batch and after it.
#[tokio::test]
async fn a_rebuilds_first_responses_are_those_of_the_log_applied_event_by_event() {
    let env = TestEnv::new().await;
    let minute = |n: i64| at(60 * n);
    let reply = |id: i64, account: i64, conversation: i64, user: i64, private: bool, minutes| {
        (
            format!("message:{id}"),
            1,
            message_created(
                id,
                account,
                conversation,
                MessageType::Outgoing,
                private,
                Some(Sender::User(user)),
            ),
            minute(minutes),
        )
    };
    let conversation = |id: i64, account: i64| {
        (
            format!("conversation:{id}"),
            1,
            conversation_created(
                id,
                account,
                account * 10,
                1,
                ConversationStatus::Open,
                None,
                None,
            ),
            minute(0),
        )
    };
    let created = |id: i64| {
        [
            (format!("account:{id}"), 1, account_created(id), minute(0)),
            (
                format!("inbox:{}", id * 10),
                1,
                inbox_created(id * 10, id),
                minute(0),
            ),
        ]
    };
    // Batches of three events; conversations 7 and 8 are account 1's,
    // 9 account 2's.
    let [account_1, inbox_10] = created(1);
    let [account_2, inbox_20] = created(2);
    let log = vec![
        account_1,
        inbox_10,
        conversation(7, 1),
        reply(1, 1, 7, 1, false, 10),
        account_2,
        inbox_20,
        conversation(8, 1),
        conversation(9, 2),
        reply(10, 2, 9, 1, false, 20),
        // Earlier than message 1, in a later batch.
        reply(2, 1, 7, 2, false, 5),
        reply(3, 1, 7, 1, false, 20),
        reply(4, 1, 8, 1, true, 1),
        reply(5, 1, 8, 1, false, 15),
        // Earlier than message 5, in the same batch.
        reply(6, 1, 8, 2, false, 12),
        reply(11, 2, 9, 2, false, 8),
        (
            "account:1".to_owned(),
            2,
            Event::AccountDeleted { account_id: 1 },
            minute(30),
        ),
        reply(7, 1, 7, 1, false, 40),
        reply(12, 2, 9, 1, false, 9),
        reply(8, 1, 7, 2, false, 35),
        reply(9, 1, 8, 1, false, 50),
        reply(13, 2, 9, 1, false, 7),
    ];
    rebuild_in_threes(&env, &log).await;
    let stored: Vec<StoredEvent> = sqlx::query_as(&format!(
        "select {COLUMNS} from event_store.events order by position"
    ))
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let envelopes: Vec<Envelope> = stored.iter().map(Envelope::from_stored).collect();
    apply_one_at_a_time(&env, "alone", &envelopes).await;

    let alone = first_responses(&env, "alone").await;
    assert_eq!(
        alone,
        [
            (7, Some(minute(35)), Some(2), Some(8)),
            (8, Some(minute(50)), Some(1), Some(9)),
            (9, Some(minute(7)), Some(1), Some(13)),
        ],
        "account 1's conversations by the replies logged since its deletion"
    );
    assert_eq!(first_responses(&env, "read_model").await, alone);
    env.cleanup().await;
}
