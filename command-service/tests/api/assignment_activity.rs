//! Assignment and team activity messages, through HTTP: an assignment shows
//! up in the conversation's messages as Chatwoot's activity text.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};
use crate::helpers::eventually;
use crate::teams::{add_inbox_members, api_inbox, conversation, team};

async fn activity_texts(app: &TestApp, s: &Seeded, display_id: i64) -> Vec<String> {
    let (status, body) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}/messages")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == 2)
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn post(app: &TestApp, s: &Seeded, path: &str, token: &str, body: Value) {
    let (status, body) = app
        .json(Method::POST, &s.path(path), Some(token), Some(body))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn case_54_assign_unassign_and_team_changes_show_as_activity_messages() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;
    let display_id = conversation(&app, &s, inbox).await;
    let assignments = format!("/conversations/{display_id}/assignments");

    post(
        &app,
        &s,
        &assignments,
        &s.admin,
        json!({"assignee_id": s.agent_id}),
    )
    .await;
    post(
        &app,
        &s,
        &assignments,
        &s.agent,
        json!({"assignee_id": s.agent_id}),
    )
    .await;
    post(&app, &s, &assignments, &s.admin, json!({"assignee_id": 0})).await;
    post(
        &app,
        &s,
        &assignments,
        &s.agent,
        json!({"assignee_id": s.agent_id}),
    )
    .await;
    post(
        &app,
        &s,
        &assignments,
        &s.agent,
        json!({"assignee_id": null}),
    )
    .await;
    let team_id = team(
        &app,
        &s,
        json!({"name": "Sales", "allow_auto_assign": false}),
    )
    .await;
    post(
        &app,
        &s,
        &assignments,
        &s.admin,
        json!({"team_id": team_id}),
    )
    .await;
    post(&app, &s, &assignments, &s.admin, json!({"team_id": 0})).await;

    let expected = vec![
        "Assigned to Al Agent by Ada Admin",
        "Conversation unassigned by Ada Admin",
        "Al Agent self-assigned this conversation",
        "Conversation unassigned by Al Agent",
        "Assigned to sales by Ada Admin",
        "Unassigned from sales by Ada Admin",
    ];
    // The agent re-assigning themselves changes nothing, so no activity.
    eventually("activities listed", Duration::from_secs(10), || async {
        activity_texts(&app, &s, display_id).await == expected
    })
    .await;
}

#[tokio::test]
async fn a_team_that_auto_assigns_says_so_in_one_line() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;
    let display_id = conversation(&app, &s, inbox).await;
    let team_id = team(&app, &s, json!({"name": "Sales"})).await;
    post(
        &app,
        &s,
        &format!("/teams/{team_id}/team_members"),
        &s.admin,
        json!({"user_ids": [s.agent_id]}),
    )
    .await;
    post(
        &app,
        &s,
        &format!("/conversations/{display_id}/assignments"),
        &s.admin,
        json!({"team_id": team_id}),
    )
    .await;
    eventually("one activity", Duration::from_secs(10), || async {
        activity_texts(&app, &s, display_id).await
            == vec!["Assigned to Al Agent via sales by Ada Admin"]
    })
    .await;
}
