//! The list counters stay equal to counting the conversations.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::helpers::*;

#[tokio::test]
async fn counters_equal_a_count_of_conversations_after_a_random_mix_of_creates_and_status_changes()
{
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    let mut workload = Workload::new(42);
    let mut applied = Vec::new();
    for (stream, event) in workload.setup() {
        let e = events.next(&stream, &event);
        apply_one(&env.pool, &e).await.unwrap();
    }
    for _ in 0..300 {
        let (stream, event) = workload.step();
        let e = events.next(&stream, &event);
        apply_one(&env.pool, &e).await.unwrap();
        applied.push(e);
    }
    let (stored, counted) = counters_and_counts(&env.pool).await;
    assert!(!stored.is_empty());
    assert_eq!(stored, counted);

    // Redeliveries, in any order, move nothing.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    applied.shuffle(&mut rng);
    for e in applied.iter().take(100) {
        apply_one(&env.pool, e).await.unwrap();
    }
    let (again, counted) = counters_and_counts(&env.pool).await;
    assert_eq!(again, stored);
    assert_eq!(again, counted);

    let contacts_total = env
        .scalar("select coalesce(sum(conversations_count), 0)::bigint from read_model.contacts")
        .await;
    let conversations = env
        .scalar("select count(*) from read_model.conversations")
        .await;
    assert_eq!(contacts_total, conversations);
    env.cleanup().await;
}

/// A batch sums the counter moves of its events per key and writes them at
/// its close: keys that net to zero, rows taken to zero (dropped) and rows
/// created and emptied within one batch must all come out as a count.
#[tokio::test]
async fn counters_summed_over_batches_equal_a_count_of_conversations() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    let mut workload = Workload::new(9);
    let setup: Vec<_> = workload
        .setup()
        .iter()
        .map(|(stream, event)| events.next(stream, event))
        .collect();
    apply_in_one_batch(&env, &setup).await;
    for _ in 0..8 {
        let batch: Vec<_> = (0..60)
            .map(|_| {
                let (stream, event) = workload.step();
                events.next(&stream, &event)
            })
            .collect();
        apply_in_one_batch(&env, &batch).await;
        let (stored, counted) = counters_and_counts(&env.pool).await;
        assert!(!stored.is_empty());
        assert_eq!(stored, counted);
    }
    env.cleanup().await;
}
