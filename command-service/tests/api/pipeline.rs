//! The whole pipeline in one process — log, relay, JetStream, projection
//! worker — under concurrent writers with slow commits and rollbacks: every
//! committed event reaches the read model exactly once and in stream order,
//! and a rebuild from the log equals the live read model.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::contact::ContactFields;
use domain::Event;
use rand::Rng;
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{eventually, TestEnv};

fn contact_event(contact_id: i64, version: i64) -> Event {
    let fields = ContactFields {
        name: format!("v{version}"),
        ..Default::default()
    };
    if version == 1 {
        Event::ContactCreated {
            contact_id,
            account_id: 1,
            fields,
        }
    } else {
        Event::ContactUpdated {
            contact_id,
            account_id: 1,
            fields,
        }
    }
}

async fn insert(conn: &mut sqlx::PgConnection, contact_id: i64, version: i64) {
    let event = contact_event(contact_id, version);
    sqlx::query(
        "insert into event_store.events (event_id, stream_id, stream_version, account_id, event_type, schema_version, payload, metadata, occurred_at) \
         values ($1, $2, $3, 1, $4, $5, $6, '{\"actor_type\":\"system\",\"correlation_id\":\"t\"}', now())",
    )
    .bind(Uuid::now_v7())
    .bind(format!("contact:{contact_id}"))
    .bind(version)
    .bind(event.event_type())
    .bind(event.schema_version())
    .bind(event.payload())
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_committed_event_reaches_the_read_model_once_and_in_stream_order() {
    let env = TestEnv::new().await;
    projections::schema::ensure(&env.pool).await.unwrap();
    let (stop, rx) = watch::channel(false);
    let stopped = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let js = infra::nats::connect(&env.settings).await.unwrap();
    infra::nats::ensure_stream(&js, &env.settings)
        .await
        .unwrap();
    let relay = tokio::spawn(command_service::relay::run(
        env.settings.clone(),
        env.pool.clone(),
        js,
        stopped(&rx),
    ));
    let worker = tokio::spawn(projections::worker::run(
        env.settings.clone(),
        env.pool.clone(),
        stopped(&rx),
    ));

    let writers = 10;
    let per_writer = 30;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let pool = env.pool.clone();
        tasks.push(tokio::spawn(async move {
            // Each writer owns two contacts and appends to them alternately.
            let ids = [w * 2 + 1, w * 2 + 2];
            let mut versions = [0i64; 2];
            let mut committed = 0;
            for i in 0..per_writer {
                let lane = i % 2;
                let (hold_ms, roll_back) = {
                    let mut rng = rand::thread_rng();
                    let hold = if rng.gen_bool(0.3) {
                        rng.gen_range(5..100)
                    } else {
                        0
                    };
                    (hold, rng.gen_bool(0.15))
                };
                let mut tx = pool.begin().await.unwrap();
                insert(&mut tx, ids[lane], versions[lane] + 1).await;
                if hold_ms > 0 {
                    // The transaction stays open after drawing its position:
                    // a slow commit that later positions overtake.
                    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                }
                if roll_back {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    versions[lane] += 1;
                    committed += 1;
                }
            }
            (ids, versions, committed)
        }));
    }
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    let mut total = 0i64;
    for t in tasks {
        let (ids, versions, committed) = t.await.unwrap();
        total += committed;
        for (id, v) in ids.iter().zip(versions) {
            if v > 0 {
                expected.insert(*id, v);
            }
        }
    }

    eventually(
        "the read model to apply every committed event",
        Duration::from_secs(60),
        || async {
            sqlx::query_scalar::<_, i64>("select applied from read_model.projection_state")
                .fetch_one(&env.pool)
                .await
                .unwrap_or(0)
                >= total
        },
    )
    .await;

    // Exactly once: the applied counter only counts first applications.
    let applied: i64 = sqlx::query_scalar("select applied from read_model.projection_state")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(applied, total);
    // In stream order: each contact shows its last version's name, and the
    // guard recorded that version.
    let rows: Vec<(i64, String)> =
        sqlx::query_as("select id, name from read_model.contacts order by id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    let seen: BTreeMap<i64, String> = rows.into_iter().collect();
    assert_eq!(seen.len(), expected.len());
    for (id, version) in &expected {
        assert_eq!(seen.get(id), Some(&format!("v{version}")), "contact {id}");
        let recorded: i64 = sqlx::query_scalar(
            "select version from read_model.stream_versions where stream_id = $1",
        )
        .bind(format!("contact:{id}"))
        .fetch_one(&env.pool)
        .await
        .unwrap();
        assert_eq!(recorded, *version);
    }
    let parked: i64 = sqlx::query_scalar("select count(*) from read_model.parked_events")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(parked, 0);

    // A rebuild from the log equals the live read model.
    let live = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    projections::rebuild::rebuild(&env.pool, false)
        .await
        .unwrap();
    let rebuilt = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    assert_eq!(live, rebuilt);

    let _ = stop.send(true);
    let _ = relay.await;
    let _ = worker.await;
}
