//! Parked events can be listed and, after a fix, retried: what applies now
//! is applied in stream order, what still fails is parked again.

use domain::StreamId;

use crate::helpers::{contact_created, contact_updated, eventually, Feed, TestEnv};

const DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

#[tokio::test]
async fn parked_events_are_retried_after_the_fix_in_stream_order() {
    let env = TestEnv::new().await;
    // A read model that refuses a name: the stand-in for any failure an
    // operator can fix without touching the log.
    sqlx::query(
        "alter table read_model.contacts add constraint no_bad_names check (name <> 'bad')",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let feed = Feed::new(&env).await;
    let worker = env.spawn_worker();
    feed.emit(&StreamId::contact(1), &contact_created(1, 1, "bad"))
        .await;
    feed.emit(&StreamId::contact(1), &contact_updated(1, 1, "good"))
        .await;
    feed.emit(&StreamId::contact(2), &contact_created(2, 1, "flows"))
        .await;
    eventually(
        "the poison and the event behind it parked",
        DEADLINE,
        || async {
            env.scalar("select count(*) from read_model.parked_events")
                .await
                == 2
                && env.scalar("select count(*) from read_model.contacts").await == 1
        },
    )
    .await;

    let parked = projections::parked::list(&env.pool).await.unwrap();
    assert_eq!(parked.len(), 2);
    assert!(parked[0].error.contains("no_bad_names"), "{}", parked[0]);
    assert!(parked[1].error.starts_with("held"), "{}", parked[1]);

    // Operators see them in the metrics too.
    let status = projections::status::status(&env.pool).await.unwrap();
    let metrics = projections::health::render(&status);
    assert!(
        metrics.contains("\nprojection_parked_events 2\n"),
        "{metrics}"
    );

    // Retrying before the fix changes nothing.
    let report = projections::parked::retry(&env.pool, None).await.unwrap();
    assert_eq!((report.retried, report.applied, report.parked), (2, 0, 2));

    // The fix, then the retry of that stream: both apply, in order.
    sqlx::query("alter table read_model.contacts drop constraint no_bad_names")
        .execute(&env.pool)
        .await
        .unwrap();
    let report = projections::parked::retry(&env.pool, Some("contact:1"))
        .await
        .unwrap();
    assert_eq!((report.retried, report.applied, report.parked), (2, 2, 0));
    let name: String = sqlx::query_scalar("select name from read_model.contacts where id = 1")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(name, "good", "the update applied after the creation");
    let status = projections::status::status(&env.pool).await.unwrap();
    assert_eq!((status.parked, status.pending()), (0, 0), "{status}");

    // Later events of the stream flow again.
    feed.emit(&StreamId::contact(1), &contact_updated(1, 1, "later"))
        .await;
    eventually("the stream to flow after the retry", DEADLINE, || async {
        env.scalar("select count(*) from read_model.contacts where name = 'later'")
            .await
            == 1
    })
    .await;
    worker.stop().await;
    env.cleanup().await;
}
