//! One transaction's bookkeeping in a [`Batch`]: written once at its close,
//! checked against concurrent movers, right around an account deletion, and
//! the read-model generations of the accounts it changed.

use domain::message::MessageType;
use domain::{Event, StreamId};
use infra::envelope::Envelope;
use projections::apply::{Applied, ApplyError};
use projections::batch::{Batch, Start};
use projections::messages::EarlyActivity;
use sqlx::postgres::PgListener;

use crate::helpers::*;

/// Nothing more arrives on `listener` (notifications already sent are
/// queued on it, so a short wait sees them).
async fn assert_quiet(listener: &mut PgListener, why: &str) {
    let next = tokio::time::timeout(std::time::Duration::from_millis(200), listener.recv()).await;
    assert!(next.is_err(), "{why}: got {next:?}");
}

#[tokio::test]
async fn a_batch_writes_every_events_bookkeeping_at_its_close_and_notifies_each_stream_once_after_commit(
) {
    let env = TestEnv::new().await;
    let mut listener = PgListener::connect_with(&env.pool).await.unwrap();
    listener
        .listen(projections::apply::APPLIED_CHANNEL)
        .await
        .unwrap();
    let mut envelopes = Envelopes::default();
    let mut batch_of = Vec::new();
    for contact in 1..=3 {
        let stream = StreamId::contact(contact);
        batch_of.push(envelopes.next(&stream, &contact_created(contact, 1, "first")));
        batch_of.push(envelopes.next(&stream, &contact_updated(contact, 1, "second")));
        batch_of.push(envelopes.next(&stream, &contact_updated(contact, 1, "third")));
    }

    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open(&mut tx, batch_of.iter().map(|e| e.streamid.as_str()))
        .await
        .unwrap();
    for e in &batch_of {
        assert_eq!(batch.apply(&mut tx, e).await.unwrap(), Applied::Applied);
    }
    // A second delivery within the same transaction changes nothing.
    assert_eq!(
        batch.apply(&mut tx, &batch_of[0]).await.unwrap(),
        Applied::Duplicate
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.history").await,
        0,
        "nothing is visible before the commit"
    );
    let notifications = batch.close(&mut tx, Some(42)).await.unwrap();
    tx.commit().await.unwrap();
    assert_quiet(
        &mut listener,
        "the applying transaction itself notifies nothing",
    )
    .await;
    notifications.send(&env.pool).await.unwrap();

    assert_eq!(
        env.scalar("select count(*) from read_model.history").await,
        9
    );
    assert_eq!(
        env.scalar(
            "select count(*) from read_model.stream_versions \
             where stream_id like 'contact:%' and version = 3"
        )
        .await,
        3
    );
    assert_eq!(env.applied().await, 9);
    assert_eq!(
        env.scalar("select last_position from read_model.projection_state")
            .await,
        9
    );
    assert_eq!(
        env.scalar("select stream_sequence from read_model.projection_state")
            .await,
        42
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.contacts where name = 'third'")
            .await,
        3
    );
    let mut notified = Vec::new();
    while notified.len() < 3 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification per stream")
            .unwrap();
        notified.push(n.payload().to_owned());
    }
    notified.sort();
    assert_eq!(notified, ["contact:1 3", "contact:2 3", "contact:3 3"]);
    // Exactly one per stream: nothing else is queued.
    assert_quiet(
        &mut listener,
        "one notification per stream, at its last version",
    )
    .await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_batch_whose_streams_moved_since_it_opened_fails_with_a_conflict() {
    let env = TestEnv::new().await;
    let mut envelopes = Envelopes::default();
    let first = envelopes.next(&StreamId::contact(1), &contact_created(1, 1, "a"));
    let second = envelopes.next(&StreamId::contact(1), &contact_updated(1, 1, "b"));
    let other = envelopes.next(&StreamId::contact(2), &contact_created(2, 1, "c"));

    // A new stream another transaction inserts meanwhile.
    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open(&mut tx, [first.streamid.as_str()])
        .await
        .unwrap();
    apply_one(&env.pool, &first).await.unwrap();
    batch.apply(&mut tx, &first).await.unwrap();
    let err = batch.close(&mut tx, None).await.unwrap_err();
    assert!(matches!(err, ApplyError::Conflict(_)), "{err}");
    assert!(err.is_transient(), "the caller retries a conflict");
    tx.rollback().await.unwrap();

    // An existing stream another transaction moved meanwhile.
    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open(&mut tx, [second.streamid.as_str(), other.streamid.as_str()])
        .await
        .unwrap();
    apply_one(&env.pool, &second).await.unwrap();
    batch.apply(&mut tx, &second).await.unwrap();
    batch.apply(&mut tx, &other).await.unwrap();
    let err = batch.close(&mut tx, None).await.unwrap_err();
    assert!(matches!(err, ApplyError::Conflict(_)), "{err}");
    tx.rollback().await.unwrap();

    assert_eq!(
        env.applied().await,
        2,
        "only the other transaction's applies"
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.history").await,
        2
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.contacts where id = 2")
            .await,
        0
    );
    // The retry the worker makes finds the moved stream a duplicate.
    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open(&mut tx, [second.streamid.as_str(), other.streamid.as_str()])
        .await
        .unwrap();
    assert_eq!(
        batch.apply(&mut tx, &second).await.unwrap(),
        Applied::Duplicate
    );
    assert_eq!(
        batch.apply(&mut tx, &other).await.unwrap(),
        Applied::Applied
    );
    let _ = batch.close(&mut tx, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(env.applied().await, 3);
    env.cleanup().await;
}

#[tokio::test]
async fn an_account_deleted_in_a_batch_takes_the_history_noted_before_it_in_that_batch() {
    let env = TestEnv::new().await;
    let mut envelopes = Envelopes::default();
    let events = [
        envelopes.next(&StreamId::account(1), &account_created(1)),
        envelopes.next(&StreamId::contact(1), &contact_created(1, 1, "a")),
        envelopes.next(&StreamId::account(2), &account_created(2)),
        envelopes.next(
            &StreamId::account(1),
            &Event::AccountDeleted { account_id: 1 },
        ),
        envelopes.next(&StreamId::contact(2), &contact_created(2, 2, "b")),
    ];
    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open(&mut tx, events.iter().map(|e| e.streamid.as_str()))
        .await
        .unwrap();
    for e in &events {
        batch.apply(&mut tx, e).await.unwrap();
    }
    let _ = batch.close(&mut tx, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        env.scalar("select count(*) from read_model.history where account_id = 1")
            .await,
        0
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.history where account_id = 2")
            .await,
        2
    );
    assert_eq!(
        env.scalar("select version from read_model.stream_versions where stream_id = 'account:1'")
            .await,
        2,
        "the deletion still moves its stream"
    );
    assert_eq!(
        generations(&env)
            .await
            .iter()
            .map(|g| g.0)
            .collect::<Vec<_>>(),
        [2],
        "the deleted account keeps no generation"
    );
    env.cleanup().await;
}

/// `(account, generation)` rows, by account.
async fn generations(env: &TestEnv) -> Vec<(i64, i64)> {
    sqlx::query_as("select account_id, generation from read_model.account_generations order by 1")
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_moves_the_generation_of_every_account_it_changed_and_of_no_other() {
    let env = TestEnv::new().await;
    let mut envelopes = Envelopes::default();
    let first = apply_in_one_batch(
        &env,
        &[
            envelopes.next(&StreamId::account(1), &account_created(1)),
            envelopes.next(&StreamId::account(2), &account_created(2)),
            envelopes.next(&StreamId::contact(1), &contact_created(1, 1, "a")),
        ],
    )
    .await;
    assert_eq!(generations(&env).await, [(1, first), (2, first)]);

    let second = apply_in_one_batch(
        &env,
        &[envelopes.next(&StreamId::contact(1), &contact_updated(1, 1, "b"))],
    )
    .await;
    assert_ne!(second, first);
    assert_eq!(
        generations(&env).await,
        [(1, second), (2, first)],
        "only the account whose rows changed moves"
    );

    // A user belongs to no account: account 0 stands for those rows.
    let third = apply_in_one_batch(
        &env,
        &[envelopes.next(&StreamId::user(7), &user_created(7))],
    )
    .await;
    assert_eq!(
        generations(&env).await,
        [(0, third), (1, second), (2, first)]
    );

    // A duplicate changes nothing, so it moves nothing.
    let duplicate = envelopes.next(&StreamId::contact(2), &contact_created(2, 2, "c"));
    apply_in_one_batch(&env, std::slice::from_ref(&duplicate)).await;
    let before = generations(&env).await;
    apply_in_one_batch(&env, &[duplicate]).await;
    assert_eq!(generations(&env).await, before);
    env.cleanup().await;
}

/// Applies `event` in a batch of its own that copies history payloads from
/// the log, committed unless its close failed.
async fn apply_from_log(env: &TestEnv, event: &Envelope) -> Result<(), ApplyError> {
    let mut tx = schema_transaction(env, "read_model").await;
    let mut batch = Batch::open_replay(
        &mut tx,
        [(event.streamid.as_str(), event.streamversion)],
        Start::Stored,
        EarlyActivity::default(),
    )
    .await
    .unwrap();
    batch.apply(&mut tx, event).await.unwrap();
    let _ = batch.close(&mut tx, None).await?;
    tx.commit().await.unwrap();
    Ok(())
}

/// The rebuild's batches copy history payloads from the log
/// (`Batch::open_replay`): the row holds the log's payload, not the
/// one the envelope carries, and an envelope the log does not hold fails
/// the batch instead of losing its history row.
#[tokio::test]
async fn a_batch_copying_payloads_from_the_log_writes_the_logs_and_refuses_an_event_not_there() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    let logged = feed
        .append(&StreamId::contact(1), &contact_created(1, 1, "logged"))
        .await;
    let mut carried = logged.clone();
    carried.data = contact_created(1, 1, "carried").payload();
    apply_from_log(&env, &carried).await.unwrap();
    assert_eq!(
        env.scalar(
            "select count(*) from read_model.history h join event_store.events e \
             on e.position = h.position and e.payload = h.payload \
             where h.stream_id = 'contact:1' and h.payload->>'name' = 'logged'"
        )
        .await,
        1,
        "the history row holds the log's payload"
    );

    let unlogged = envelope(
        "contact:2",
        1,
        logged.position + 1000,
        &contact_created(2, 1, "nowhere"),
    );
    let closed = apply_from_log(&env, &unlogged).await;
    assert!(
        closed.is_err(),
        "an event the log does not hold has no payload to copy: {closed:?}"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn a_replay_batch_of_a_selection_reads_only_the_streams_it_meets_past_their_first_version() {
    let env = TestEnv::new().await;
    // Contact 3's row cannot be there in a replay (its version 1 comes
    // first); it is there only to show that the batch does not read it.
    sqlx::query(
        "insert into read_model.stream_versions (stream_id, version) \
         values ('contact:1', 1), ('contact:3', 5)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open_replay(
        &mut tx,
        [
            ("contact:1", 2),
            ("contact:3", 1),
            ("contact:1", 3),
            ("contact:3", 2),
        ],
        Start::Stored,
        EarlyActivity::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        batch.version(&mut tx, "contact:1").await.unwrap(),
        1,
        "met past its first version: read"
    );
    assert_eq!(
        batch.version(&mut tx, "contact:3").await.unwrap(),
        0,
        "met at its version 1: new, not read"
    );
    env.cleanup().await;
}

/// In the log's order (`Start::InOrder`) a replay's batch knows where its
/// streams stand from the versions it meets: one below the first, unless
/// an event of the stream is parked, which it reads. `stream_versions` is
/// not read (its rows here are wrong on purpose).
#[tokio::test]
async fn a_replay_batch_in_the_logs_order_reads_no_versions_and_only_the_parked_events() {
    let env = TestEnv::new().await;
    sqlx::raw_sql(
        "insert into read_model.stream_versions (stream_id, version) \
         values ('contact:1', 7), ('contact:2', 7); \
         insert into read_model.parked_events (position, stream_id, event_type, error, envelope) \
         values (10, 'contact:2', 'ContactUpdated', 'poison', '{}'), \
                (12, 'contact:2', 'ContactUpdated', 'held', '{}')",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open_replay(
        &mut tx,
        [
            ("contact:1", 3),
            ("contact:2", 4),
            ("contact:3", 1),
            ("contact:1", 4),
        ],
        Start::InOrder,
        EarlyActivity::default(),
    )
    .await
    .unwrap();
    for (stream, version, parked) in [
        ("contact:1", 2, None),
        ("contact:2", 3, Some(10)),
        ("contact:3", 0, None),
    ] {
        assert_eq!(
            batch.version(&mut tx, stream).await.unwrap(),
            version,
            "{stream}"
        );
        assert_eq!(
            batch.parked(&mut tx, stream).await.unwrap(),
            parked,
            "{stream}"
        );
    }
    env.cleanup().await;
}

/// In the log's order a replay's batch leaves its streams' versions to
/// its side rows: the close does not write them, the side rows insert the
/// new streams' and move the others', and one that was to move but has no
/// row is a conflict, not a silent gap. The side rows' report facts, like
/// their versions, are inserted once: a second time is `Replayed`.
#[tokio::test]
async fn a_replay_batch_in_the_logs_order_writes_its_versions_with_its_side_rows() {
    let env = TestEnv::new().await;
    let feed = Feed::new(&env).await;
    // Contact 1's version 1 was applied by an earlier batch.
    feed.append(&StreamId::contact(1), &contact_created(1, 1, "a"))
        .await;
    sqlx::query(
        "insert into read_model.stream_versions (stream_id, version) values ('contact:1', 1)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let updated = feed
        .append(&StreamId::contact(1), &contact_updated(1, 1, "b"))
        .await;
    let created = feed
        .append(&StreamId::contact(2), &contact_created(2, 1, "c"))
        .await;
    let posted = feed
        .append(
            &StreamId::message(3),
            &message_created(3, 1, 5, MessageType::Incoming, false, None),
        )
        .await;
    let log = [updated, created, posted];

    let mut tx = schema_transaction(&env, "read_model").await;
    let mut batch = Batch::open_replay(
        &mut tx,
        log.iter().map(|e| (e.streamid.as_str(), e.streamversion)),
        Start::InOrder,
        EarlyActivity::default(),
    )
    .await
    .unwrap();
    for event in &log {
        assert_eq!(batch.apply(&mut tx, event).await.unwrap(), Applied::Applied);
    }
    let rows = batch.take_side_rows(&mut tx).await.unwrap();
    let _ = batch.close(&mut tx, None).await.unwrap();
    tx.commit().await.unwrap();
    let versions = || async {
        sqlx::query_as::<_, (String, i64)>(
            "select stream_id, version from read_model.stream_versions order by 1",
        )
        .fetch_all(&env.pool)
        .await
        .unwrap()
    };
    assert_eq!(
        versions().await,
        [("contact:1".to_owned(), 1)],
        "not by the close"
    );

    let mut tx = schema_transaction(&env, "read_model").await;
    rows.insert(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        versions().await,
        [
            ("contact:1".to_owned(), 2),
            ("contact:2".to_owned(), 1),
            ("message:3".to_owned(), 1)
        ]
    );
    assert_eq!(
        env.scalar("select count(*) from read_model.report_messages where message_id = 3")
            .await,
        1
    );

    assert_eq!(
        env.scalar("select count(*) from read_model.messages where id = 3")
            .await,
        1,
        "the message's row comes with the side rows"
    );

    // The same rows again, each time with what made the last try fail
    // gone: the message and its fact are there already (one statement
    // inserts both, either may fail first), then message 3's and contact
    // 2's versions are, then contact 1's would not move forward.
    let delete = |statement: &'static str| {
        let pool = env.pool.clone();
        async move { sqlx::query(statement).execute(&pool).await.unwrap() }
    };
    delete("delete from read_model.history").await;
    for (constraints, then_delete) in [
        (
            &["messages_pkey", "report_messages_pkey"][..],
            "delete from read_model.report_messages",
        ),
        (&["messages_pkey"][..], "delete from read_model.messages"),
        (
            &["stream_versions_pkey"][..],
            "delete from read_model.stream_versions where stream_id <> 'contact:1'",
        ),
    ] {
        let mut tx = schema_transaction(&env, "read_model").await;
        let again = rows.insert(&mut tx).await;
        assert!(
            matches!(&again, Err(ApplyError::Replayed(sqlx::Error::Database(e)))
                if e.constraint().is_some_and(|c| constraints.contains(&c))),
            "{constraints:?}: {again:?}"
        );
        drop(tx);
        delete(then_delete).await;
    }
    let mut tx = schema_transaction(&env, "read_model").await;
    let again = rows.insert(&mut tx).await;
    assert!(
        matches!(&again, Err(ApplyError::Conflict(streams)) if streams == "contact:1"),
        "{again:?}"
    );
    env.cleanup().await;
}

/// Replays `event` in a batch of its own on `read_model` as if nothing of
/// its stream had been applied (its version is 1), and returns the close.
async fn replay_again(env: &TestEnv, event: &Envelope) -> Result<(), ApplyError> {
    let mut tx = schema_transaction(env, "read_model").await;
    let mut batch = Batch::open_replay(
        &mut tx,
        [(event.streamid.as_str(), 1)],
        Start::InOrder,
        EarlyActivity::default(),
    )
    .await
    .unwrap();
    batch.apply(&mut tx, event).await?;
    batch.close(&mut tx, None).await.map(|_| ())
}

/// A replay inserts history rows, posted messages and new streams'
/// versions without `on conflict`: a row already there is a bug in a
/// rebuild, which applies each event once into a schema only it writes, so
/// it fails the batch as `Replayed`, a transient error (retried, then the
/// rebuild fails), and is never parked as poison.
#[tokio::test]
async fn a_replay_that_meets_a_row_already_there_fails_instead_of_parking_it() {
    let env = TestEnv::new().await;
    // In the log: a replay's history rows are copied from there.
    let feed = Feed::new(&env).await;
    let message = feed
        .append(
            &StreamId::message(1),
            &message_created(1, 1, 1, MessageType::Incoming, false, None),
        )
        .await;
    let contact = feed
        .append(&StreamId::contact(1), &contact_created(1, 1, "c"))
        .await;
    for event in [&message, &contact] {
        apply_one(&env.pool, event).await.unwrap();
        let replayed = replay_again(&env, event).await;
        assert!(
            matches!(&replayed, Err(ApplyError::Replayed(_))),
            "{}: {replayed:?}",
            event.streamid
        );
        assert!(replayed.unwrap_err().is_transient());
    }
    env.cleanup().await;
}
