//! The relay never skips, duplicates or reorders a stream, whatever the
//! commit order, and a standby takes over from a dead leader.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use infra::envelope::Envelope;
use rand::Rng;
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::helpers::{eventually, TestEnv};

struct RelayHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RelayHandle {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

async fn start_relay(env: &TestEnv) -> RelayHandle {
    let js = infra::nats::connect(&env.settings).await.unwrap();
    infra::nats::ensure_stream(&js, &env.settings)
        .await
        .unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(command_service::relay::run(
        env.settings.clone(),
        env.pool.clone(),
        js,
        async {
            let _ = rx.await;
        },
    ));
    RelayHandle {
        stop: Some(stop),
        task,
    }
}

async fn insert_event(conn: &mut sqlx::PgConnection, id: Uuid, stream: &str, version: i64) {
    sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, metadata, occurred_at) \
         values ($1, $2, $3, 1, 'TestHappened', 1, '{}', '{\"actor_type\":\"system\",\"correlation_id\":\"t\"}', now())",
    )
    .bind(id)
    .bind(stream)
    .bind(version)
    .execute(conn)
    .await
    .unwrap();
}

/// All envelopes in the test's JetStream stream, in stream order.
async fn published(env: &TestEnv) -> Vec<Envelope> {
    let js = infra::nats::connect(&env.settings).await.unwrap();
    let stream = js.get_stream(&env.settings.nats_stream).await.unwrap();
    let info = stream.get_info().await.unwrap();
    let mut out = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        if info.state.messages == 0 {
            break;
        }
        let msg = stream.get_raw_message(seq).await.unwrap();
        out.push(serde_json::from_slice(&msg.payload).unwrap());
    }
    out
}

async fn published_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select published from event_store.relay_checkpoint")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn assert_exactly_once_in_stream_order(envelopes: &[Envelope], committed: &HashSet<Uuid>) {
    let ids: Vec<Uuid> = envelopes.iter().map(|e| e.id).collect();
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "an event was published twice");
    assert_eq!(
        &unique, committed,
        "published events differ from committed events"
    );
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for e in envelopes {
        let prev = last.insert(&e.streamid, e.streamversion).unwrap_or(0);
        assert_eq!(
            e.streamversion,
            prev + 1,
            "stream {} out of order",
            e.streamid
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_event_is_skipped_when_commits_are_slow_and_some_roll_back() {
    let env = TestEnv::new().await;
    let relay = start_relay(&env).await;

    let writers = 12;
    let per_writer = 25;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let pool = env.pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            let mut versions = [0i64; 2];
            for i in 0..per_writer {
                let lane = i % 2;
                let stream = format!("test:{w}-{lane}");
                let (hold_ms, roll_back) = {
                    let mut rng = rand::thread_rng();
                    // A third of the transactions stay open a while after
                    // drawing their position (slow commits); one in eight rolls back.
                    let hold = if rng.gen_bool(0.33) {
                        rng.gen_range(5..120)
                    } else {
                        0
                    };
                    (hold, rng.gen_bool(0.125))
                };
                let mut tx = pool.begin().await.unwrap();
                let id = Uuid::now_v7();
                insert_event(&mut tx, id, &stream, versions[lane] + 1).await;
                if hold_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                }
                if roll_back {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    versions[lane] += 1;
                    committed.push(id);
                }
            }
            committed
        }));
    }
    let mut committed = HashSet::new();
    for t in tasks {
        committed.extend(t.await.unwrap());
    }
    let expected = committed.len() as i64;
    eventually(
        "the relay to publish every committed event",
        Duration::from_secs(30),
        || async { published_count(&env.pool).await >= expected },
    )
    .await;
    relay.stop().await;

    let envelopes = published(&env).await;
    assert_exactly_once_in_stream_order(&envelopes, &committed);
    assert_eq!(published_count(&env.pool).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_relay_takes_over_when_the_leader_dies() {
    let env = TestEnv::new().await;
    let leader = start_relay(&env).await;
    // Let the first relay become the leader before the standby starts.
    eventually("the first relay to lead", Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_locks where locktype = 'advisory' and objid::text::bigint = $1 \
             and database = (select oid from pg_database where datname = current_database())",
        )
        .bind(command_service::relay::LEADER_LOCK & 0xffff_ffff)
            .fetch_one(&env.pool)
            .await
            .unwrap()
            > 0
    })
    .await;
    let standby = start_relay(&env).await;

    let mut committed = HashSet::new();
    let mut conn = env.pool.acquire().await.unwrap();
    for v in 1..=20 {
        let id = Uuid::now_v7();
        insert_event(&mut conn, id, "test:failover", v).await;
        committed.insert(id);
    }
    eventually("the leader to publish", Duration::from_secs(10), || async {
        published_count(&env.pool).await >= 20
    })
    .await;

    // The leader dies without a goodbye: its task and connections are dropped.
    leader.task.abort();
    let _ = leader.task.await;

    for v in 21..=40 {
        let id = Uuid::now_v7();
        insert_event(&mut conn, id, "test:failover", v).await;
        committed.insert(id);
    }
    eventually(
        "the standby to take over and publish",
        Duration::from_secs(15),
        || async { published_count(&env.pool).await >= 40 },
    )
    .await;
    standby.stop().await;
    assert_exactly_once_in_stream_order(&published(&env).await, &committed);
}

/// The relay asks whether it is blocked after every round: on a log of
/// thousands of events the question must be an index lookup, not a scan of
/// the log (it was a sequential scan, 58 ms at 47k events, before
/// `max(txid)`). Checked on the plan, never on a timing.
#[tokio::test]
async fn the_blocked_check_reads_the_txid_index_not_the_whole_log() {
    let env = TestEnv::new().await;
    sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, metadata, occurred_at) \
         select gen_random_uuid(), 'test:plan-' || i, 1, 1, 'TestHappened', 1, '{}', '{}', now() \
         from generate_series(1, 20000) i",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query("analyze event_store.events")
        .execute(&env.pool)
        .await
        .unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "explain (format json) {}",
        command_service::relay::BLOCKED_SQL
    ))
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let plan = plan.to_string();
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(plan.contains("events_txid_position_idx"), "{plan}");
    // The read of a round, which asks it too.
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "explain (format json) {}",
        *command_service::relay::NEXT_BATCH_SQL
    ))
    .bind("0")
    .bind(0_i64)
    .bind(500_i64)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let plan = plan.to_string();
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

/// Reads the log after `after` until the read finds `want` events (the
/// horizon is the cluster's: other tests' transactions hold it back a moment).
async fn read_until(
    pool: &PgPool,
    after: command_service::relay::Checkpoint,
    want: usize,
) -> command_service::relay::Round {
    let last = std::sync::Mutex::new(None);
    let last_read = &last;
    eventually(
        &format!("a read of the log to find {want} events"),
        Duration::from_secs(10),
        move || async move {
            let mut conn = pool.acquire().await.unwrap();
            let round = command_service::relay::next_batch(&mut conn, after, 500)
                .await
                .unwrap();
            let found = round.events.len() == want;
            *last_read.lock().unwrap() = Some(round);
            found
        },
    )
    .await;
    last.into_inner().unwrap().expect("read at least once")
}

/// A read of the log also tells whether committed events wait behind an
/// open transaction (one statement instead of two a round), as the same
/// snapshot saw it, also when it finds nothing to publish.
#[tokio::test]
async fn a_read_of_the_log_tells_whether_events_wait_behind_an_open_transaction() {
    use command_service::relay::Checkpoint;
    let env = TestEnv::new().await;
    let mut conn = env.pool.acquire().await.unwrap();
    let first = Uuid::new_v4();
    insert_event(&mut conn, first, "blocked-1", 1).await;
    // An open transaction with a transaction id, then an event committed
    // after it: the event waits behind it.
    let mut open = env.pool.begin().await.unwrap();
    sqlx::query("select pg_current_xact_id()")
        .execute(&mut *open)
        .await
        .unwrap();
    let second = Uuid::new_v4();
    insert_event(&mut conn, second, "blocked-2", 1).await;

    let round = read_until(&env.pool, Checkpoint::default(), 1).await;
    assert_eq!(round.events[0].event_id, first);
    assert!(round.blocked, "the second event waits");
    let after_first = Checkpoint {
        txid: round.events[0].txid,
        position: round.events[0].position,
    };
    let empty = command_service::relay::next_batch(&mut conn, after_first, 500)
        .await
        .unwrap();
    assert!(empty.events.is_empty());
    assert!(empty.blocked, "the second event still waits");

    open.commit().await.unwrap();
    let round = read_until(&env.pool, after_first, 1).await;
    assert_eq!(round.events[0].event_id, second);
    assert!(!round.blocked, "nothing waits any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_written_checkpoint_reaches_the_last_event_once_the_log_goes_quiet() {
    let env = TestEnv::new().await;
    let relay = start_relay(&env).await;
    let mut conn = env.pool.acquire().await.unwrap();
    for version in 1..=3 {
        insert_event(&mut conn, Uuid::new_v4(), "quiet-1", version).await;
    }
    let last: (String, i64) = sqlx::query_as(
        "select txid::text, position from event_store.events order by position desc limit 1",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    // Nothing is written after the three: the leader writes its checkpoint
    // when it is due, not only when the next round comes.
    eventually(
        "the written checkpoint to reach the last event",
        Duration::from_secs(10),
        || async {
            let written: (String, i64) = sqlx::query_as(
                "select last_txid::text, last_position from event_store.relay_checkpoint",
            )
            .fetch_one(&env.pool)
            .await
            .unwrap();
            written == last
        },
    )
    .await;
    assert_eq!(published_count(&env.pool).await, 3);
    relay.stop().await;
}
