//! Reports over seeded report facts, read as the read-only role: averages,
//! day buckets in a timezone offset, scopes.

use serde_json::{json, Value};

use crate::helpers::TestApp;

/// 2026-01-10T00:00:00Z.
const JAN_10: i64 = 1_768_003_200;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

fn points(body: &Value) -> Vec<(i64, f64, i64)> {
    body.as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| {
            (
                p["timestamp"].as_i64().unwrap(),
                p["value"].as_f64().unwrap(),
                p["count"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[tokio::test]
async fn averages_and_day_buckets_follow_the_timezone_offset() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "A").await;
    let other = app.account("Other").await;
    // Two conversations: created 23:30 and 10:00 UTC, first responses after
    // 600 and 1200 seconds by the administrator; one resolution of 5400 s.
    // Another account's conversation never counts.
    sqlx::raw_sql(&format!(
        "insert into read_model.report_conversations \
           (conversation_id, account_id, inbox_id, assignee_id, team_id, created_at, \
            first_response_at, first_responder_id, first_response_id) values \
         (1, {a}, {inbox}, {admin}, null, '2026-01-10 23:30Z', '2026-01-10 23:40Z', {admin}, 1), \
         (2, {a}, {inbox}, null, null, '2026-01-11 10:00Z', '2026-01-11 10:20Z', {admin}, 2), \
         (3, {other}, 99, null, null, '2026-01-11 10:00Z', '2026-01-11 10:01Z', 5, 3); \
         insert into read_model.report_resolutions \
           (conversation_id, stream_version, account_id, inbox_id, assignee_id, team_id, \
            resolved_at, seconds) values \
         (1, 5, {a}, {inbox}, {admin}, null, '2026-01-11 01:00Z', 5400);",
        a = s.account_id,
        admin = s.admin_id,
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    let since = JAN_10;
    let until = JAN_10 + 2 * DAY - 1;
    let path = |q: &str| {
        format!(
            "/api/v2/accounts/{}/reports{q}&since={since}&until={until}",
            s.account_id
        )
    };

    let (status, body) = app
        .get(&path("?metric=avg_first_response_time"), Some(&s.admin))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        points(&body),
        vec![(JAN_10, 600.0, 1), (JAN_10 + DAY, 1200.0, 1)]
    );

    // At UTC+1 both responses fall on 11 January, local midnight starts the buckets.
    let (status, body) = app
        .get(
            &path("?metric=avg_first_response_time&timezone_offset=1"),
            Some(&s.admin),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        points(&body),
        vec![
            (JAN_10 - HOUR, 0.0, 0),
            (JAN_10 + DAY - HOUR, 900.0, 2),
            (JAN_10 + 2 * DAY - HOUR, 0.0, 0)
        ]
    );

    // At UTC-1 the first conversation was created on 10 January.
    let (status, body) = app
        .get(
            &path("?metric=conversations_count&timezone_offset=-1"),
            Some(&s.admin),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"value": 0, "timestamp": JAN_10 - DAY + HOUR},
            {"value": 1, "timestamp": JAN_10 + HOUR},
            {"value": 1, "timestamp": JAN_10 + DAY + HOUR},
        ])
    );

    let (status, body) = app
        .get(
            &format!(
                "/api/v2/accounts/{}/reports/summary?type=agent&id={}&since={since}&until={until}",
                s.account_id, s.admin_id
            ),
            Some(&s.admin),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversations_count"], 1, "{body}");
    assert_eq!(body["avg_first_response_time"], 900.0, "{body}");
    assert_eq!(body["avg_resolution_time"], 5400.0, "{body}");
    assert_eq!(body["resolutions_count"], 1, "{body}");
    assert_eq!(body["previous"]["conversations_count"], 0, "{body}");

    // The whole account, with the week before as `previous`.
    let (status, body) = app
        .get(
            &format!(
                "/api/v2/accounts/{}/reports/summary?since={}&until={}",
                s.account_id,
                JAN_10 + 7 * DAY,
                JAN_10 + 14 * DAY
            ),
            Some(&s.admin),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversations_count"], 0, "{body}");
    assert_eq!(body["previous"]["conversations_count"], 2, "{body}");
    assert_eq!(body["previous"]["avg_first_response_time"], 900.0, "{body}");
}
