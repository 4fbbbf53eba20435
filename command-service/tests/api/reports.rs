//! Reports (`/api/v2/accounts/{id}/reports` and `/reports/summary`) through
//! the command and query apps with the projection running: counts per
//! account, inbox, agent and team, averages, day buckets, roles and bad input.

use chrono::Utc;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};
use crate::teams::{add_inbox_members, api_inbox, conversation, team};

const DAY: i64 = 86_400;

fn reports(s: &Seeded, rest: &str) -> String {
    format!("/api/v2/accounts/{}/reports{rest}", s.account_id)
}

async fn post(app: &TestApp, s: &Seeded, path: &str, body: Option<Value>) {
    let (status, answer) = app
        .json(Method::POST, &s.path(path), Some(&s.admin), body)
        .await;
    assert_eq!(status, 200, "{path}: {answer}");
}

/// Two inboxes; in the first a conversation assigned to the team, then to
/// the agent, with an incoming message, a reply, a private note, resolved,
/// reopened and resolved again; in the second a conversation with one
/// incoming message. Returns (inbox a, inbox b, team).
async fn history(app: &TestApp, s: &Seeded) -> (i64, i64, i64) {
    let a = api_inbox(app, s, "A").await;
    let b = api_inbox(app, s, "B").await;
    let t = team(app, s, json!({"name": "Support"})).await;
    add_inbox_members(app, s, a, &[s.agent_id]).await;
    let c1 = conversation(app, s, a).await;
    let c2 = conversation(app, s, b).await;
    post(
        app,
        s,
        &format!("/conversations/{c1}/assignments"),
        Some(json!({"team_id": t})),
    )
    .await;
    post(
        app,
        s,
        &format!("/conversations/{c1}/assignments"),
        Some(json!({"assignee_id": s.agent_id})),
    )
    .await;
    for body in [
        json!({"content": "help", "message_type": "incoming"}),
        json!({"content": "on it"}),
        json!({"content": "note to self", "private": true}),
    ] {
        post(app, s, &format!("/conversations/{c1}/messages"), Some(body)).await;
    }
    for _ in 0..3 {
        post(app, s, &format!("/conversations/{c1}/toggle_status"), None).await;
    }
    post(
        app,
        s,
        &format!("/conversations/{c2}/messages"),
        Some(json!({"content": "hello", "message_type": "incoming"})),
    )
    .await;
    (a, b, t)
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    app.json(Method::GET, path, Some(token), None).await
}

/// Today's UTC midnight, and a range from two days before it to its end.
fn range() -> (i64, i64, i64) {
    let now = Utc::now().timestamp();
    let today = now - now.rem_euclid(DAY);
    (today, today - 2 * DAY, today + DAY - 1)
}

#[tokio::test]
async fn the_summary_counts_per_account_inbox_agent_and_team() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (a, b, t) = history(&app, &s).await;
    let (_, since, until) = range();
    let summary = |q: String| {
        let s = &s;
        let app = &app;
        async move {
            let (status, body) = get(
                app,
                &s.admin,
                &reports(s, &format!("/summary?since={since}&until={until}{q}")),
            )
            .await;
            assert_eq!(status, 200, "{q}: {body}");
            body
        }
    };
    let counts = |body: &Value| {
        [
            "conversations_count",
            "incoming_messages_count",
            "outgoing_messages_count",
            "resolutions_count",
        ]
        .map(|k| body[k].as_i64().unwrap_or_else(|| panic!("{k}: {body}")))
    };

    let account = summary(String::new()).await;
    // Outgoing counts the reply and the private note, as Chatwoot does.
    assert_eq!(counts(&account), [2, 2, 2, 2], "{account}");
    assert!(account["avg_first_response_time"].as_f64().unwrap() >= 0.0);
    assert!(account["avg_resolution_time"].as_f64().unwrap() >= 0.0);
    assert_eq!(counts(&account["previous"]), [0, 0, 0, 0], "{account}");
    assert_eq!(account["previous"]["avg_first_response_time"], 0.0);

    assert_eq!(
        counts(&summary(format!("&type=inbox&id={a}")).await),
        [1, 1, 2, 2]
    );
    assert_eq!(
        counts(&summary(format!("&type=inbox&id={b}")).await),
        [1, 1, 0, 0]
    );
    // The agent: the conversation assigned to them and its resolutions; the
    // messages they sent (none).
    assert_eq!(
        counts(&summary(format!("&type=agent&id={}", s.agent_id)).await),
        [1, 0, 0, 2]
    );
    // The administrator sent the reply and the note, and gave the first response.
    let admin = summary(format!("&type=agent&id={}", s.admin_id)).await;
    assert_eq!(counts(&admin), [0, 0, 2, 0], "{admin}");
    assert_eq!(
        counts(&summary(format!("&type=team&id={t}")).await),
        [1, 1, 2, 2]
    );
}

#[tokio::test]
async fn averages_are_seconds_from_creation_over_the_facts_of_the_range() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (a, _, _) = history(&app, &s).await;
    let (_, since, until) = range();
    // Pin the times: the first response two minutes after creation, the
    // resolutions one and two hours after it.
    sqlx::query(
        "update read_model.report_conversations \
         set created_at = first_response_at - interval '120 seconds' where inbox_id = $1",
    )
    .bind(a)
    .execute(&app.env.pool)
    .await
    .unwrap();
    sqlx::query(
        "update read_model.report_resolutions r set seconds = 3600 * x.n \
         from (select conversation_id, stream_version, \
                      row_number() over (order by stream_version) as n \
               from read_model.report_resolutions where inbox_id = $1) x \
         where r.conversation_id = x.conversation_id and r.stream_version = x.stream_version",
    )
    .bind(a)
    .execute(&app.env.pool)
    .await
    .unwrap();

    let (status, body) = get(
        &app,
        &s.admin,
        &reports(&s, &format!("/summary?since={since}&until={until}")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["avg_first_response_time"], 120.0, "{body}");
    assert_eq!(body["avg_resolution_time"], 5400.0, "{body}");

    let (status, series) = get(
        &app,
        &s.admin,
        &reports(
            &s,
            &format!("?metric=avg_resolution_time&since={since}&until={until}"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{series}");
    let last = series.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["value"], 5400.0, "{series}");
    assert_eq!(last["count"], 2, "{series}");
}

#[tokio::test]
async fn the_timeseries_has_one_bucket_per_day_from_since_to_until() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    history(&app, &s).await;
    let (today, since, until) = range();

    let (status, series) = get(
        &app,
        &s.admin,
        &reports(
            &s,
            &format!(
                "?metric=conversations_count&type=account&since={since}&until={until}&group_by=day"
            ),
        ),
    )
    .await;
    assert_eq!(status, 200, "{series}");
    assert_eq!(
        series,
        json!([
            {"value": 0, "timestamp": today - 2 * DAY},
            {"value": 0, "timestamp": today - DAY},
            {"value": 2, "timestamp": today},
        ])
    );

    for (metric, want) in [
        ("incoming_messages_count", 2),
        ("outgoing_messages_count", 2),
        ("resolutions_count", 2),
    ] {
        let (status, series) = get(
            &app,
            &s.admin,
            &reports(&s, &format!("?metric={metric}&since={since}&until={until}")),
        )
        .await;
        assert_eq!(status, 200, "{series}");
        let values: Vec<i64> = series
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_i64().unwrap())
            .collect();
        assert_eq!(values, vec![0, 0, want], "{metric}");
    }

    // A range before anything happened: zeros.
    let (status, series) = get(
        &app,
        &s.admin,
        &reports(
            &s,
            &format!(
                "?metric=conversations_count&since={}&until={}",
                since - 10 * DAY,
                since - 9 * DAY
            ),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(series.as_array().unwrap().iter().all(|p| p["value"] == 0));

    // With an offset the buckets start at local midnight (UTC+5:30).
    let (status, series) = get(
        &app,
        &s.admin,
        &reports(
            &s,
            &format!("?metric=conversations_count&since={since}&until={until}&timezone_offset=5.5"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{series}");
    let points = series.as_array().unwrap();
    assert!(points
        .iter()
        .all(|p| (p["timestamp"].as_i64().unwrap() + 19_800).rem_euclid(DAY) == 0));
    let total: i64 = points.iter().map(|p| p["value"].as_i64().unwrap()).sum();
    assert_eq!(total, 2, "{series}");
}

#[tokio::test]
async fn only_administrators_read_reports() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let (_, since, until) = range();
    for path in [
        reports(&s, &format!("/summary?since={since}&until={until}")),
        reports(
            &s,
            &format!("?metric=conversations_count&since={since}&until={until}"),
        ),
    ] {
        let (status, body) = get(&app, &s.agent, &path).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].is_string(), "{body}");
        let (status, _) = app.json(Method::GET, &path, None, None).await;
        assert_eq!(status, 401);
        // An administrator of another account is not a member of this one.
        let (status, _) = get(&app, &other.admin, &path).await;
        assert_eq!(status, 401);
        let (status, _) = get(&app, &s.admin, &path).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn bad_report_parameters_are_4xx_json() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let foreign_inbox = api_inbox(&app, &other, "Theirs").await;
    let (_, since, until) = range();
    let r = format!("since={since}&until={until}");
    let cases = [
        (format!("?{r}"), 422),
        (format!("?metric=bogus&{r}"), 422),
        (format!("?metric=conversations_count&type=bogus&{r}"), 422),
        (
            format!("?metric=conversations_count&type=label&id=1&{r}"),
            422,
        ),
        (format!("?metric=conversations_count&type=inbox&{r}"), 422),
        (
            format!("?metric=conversations_count&type=inbox&id=abc&{r}"),
            422,
        ),
        (
            format!("?metric=conversations_count&type=inbox&id=999999&{r}"),
            404,
        ),
        (
            format!("?metric=conversations_count&type=inbox&id={foreign_inbox}&{r}"),
            404,
        ),
        (
            format!("?metric=conversations_count&type=team&id=999999&{r}"),
            404,
        ),
        (
            format!(
                "?metric=conversations_count&type=agent&id={}&{r}",
                other.admin_id
            ),
            404,
        ),
        (
            "?metric=conversations_count&since=abc&until=1".to_owned(),
            422,
        ),
        ("?metric=conversations_count&until=1".to_owned(), 422),
        (
            "?metric=conversations_count&since=0&until=99999999999999999".to_owned(),
            422,
        ),
        (
            format!("?metric=conversations_count&{r}&timezone_offset=99"),
            422,
        ),
        (
            format!("?metric=conversations_count&{r}&timezone_offset=x"),
            422,
        ),
        // An hour bucket per hour of three centuries is refused.
        (
            "?metric=conversations_count&since=0&until=9999999999&group_by=hour".to_owned(),
            422,
        ),
        ("/summary?since=x&until=1".to_owned(), 422),
        (
            "/summary?since=-62135596800&until=253402300799".to_owned(),
            422,
        ),
    ];
    for (query, want) in cases {
        let (status, body) = get(&app, &s.admin, &reports(&s, &query)).await;
        assert_eq!(status, want, "{query}: {body}");
        assert!(body["error"].is_string(), "{query}: {body}");
    }
    // Unknown group_by is a day, as in Chatwoot.
    let (status, body) = get(
        &app,
        &s.admin,
        &reports(
            &s,
            &format!("?metric=conversations_count&{r}&group_by=fortnight"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 3, "{body}");
}
