//! Teams, team members, inbox members, assignments and agent visibility,
//! through the command and query apps with the projection running.

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};

pub(crate) async fn api_inbox(app: &TestApp, s: &Seeded, name: &str) -> i64 {
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": name, "channel": {"type": "api"}})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    inbox["id"].as_i64().unwrap()
}

/// A conversation in the inbox, opened by the administrator: its display id.
pub(crate) async fn conversation(app: &TestApp, s: &Seeded, inbox_id: i64) -> i64 {
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox_id})),
        )
        .await;
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    conv["id"].as_i64().unwrap()
}

pub(crate) async fn team(app: &TestApp, s: &Seeded, body: Value) -> i64 {
    let (status, team) = app
        .json(Method::POST, &s.path("/teams"), Some(&s.admin), Some(body))
        .await;
    assert_eq!(status, 200, "{team}");
    team["id"].as_i64().unwrap()
}

pub(crate) async fn add_inbox_members(app: &TestApp, s: &Seeded, inbox_id: i64, users: &[i64]) {
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": inbox_id, "user_ids": users})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn case_74_teams_index_show_create_update_delete_and_agents_get_401() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;

    // Agents may not write teams.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&s.agent),
            Some(json!({"name": "test-team"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "You are not authorized to do this action"})
        )
    );

    let (status, created) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&s.admin),
            Some(json!({"team": {"name": "Test-Team", "description": "d"}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], "test-team");
    assert_eq!(created["allow_auto_assign"], true);
    assert_eq!(created["is_member"], false);
    assert_eq!(created["account_id"], s.account_id);
    let id = created["id"].as_i64().unwrap();

    // Duplicate names, case-insensitively, are a 422.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&s.admin),
            Some(json!({"name": " TEST-team "})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], "Name has already been taken");
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&s.admin),
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(status, 422);

    let (status, list) = app
        .json(Method::GET, &s.path("/teams"), Some(&s.agent), None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), vec![id]);
    let (status, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/teams/{id}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!((status, shown["id"].as_i64()), (200, Some(id)));

    for method in [Method::PATCH, Method::DELETE] {
        let (status, _) = app
            .json(
                method,
                &s.path(&format!("/teams/{id}")),
                Some(&s.agent),
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(status, 401);
    }
    let (status, updated) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/teams/{id}")),
            Some(&s.admin),
            Some(json!({"name": "New-Team", "allow_auto_assign": false})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "new-team");
    assert_eq!(updated["allow_auto_assign"], false);
    assert_eq!(updated["description"], "d");

    // Another account's token, and unknown ids.
    let other = app.with_account().await;
    let (status, _) = app
        .json(Method::GET, &s.path("/teams"), Some(&other.admin), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(
            Method::GET,
            &other.path(&format!("/teams/{id}")),
            Some(&other.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::PATCH,
            &other.path(&format!("/teams/{id}")),
            Some(&other.admin),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(Method::GET, &s.path("/teams/999"), Some(&s.admin), None)
        .await;
    assert_eq!(status, 404);

    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/teams/{id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = app
        .json(Method::GET, &s.path("/teams"), Some(&s.admin), None)
        .await;
    assert_eq!(list, json!([]));
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/teams/{id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
    // The name is free again.
    team(&app, &s, json!({"name": "new-team"})).await;
}

#[tokio::test]
async fn team_members_are_added_replaced_and_removed_and_must_be_account_members() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let id = team(&app, &s, json!({"name": "sales"})).await;
    let members = s.path(&format!("/teams/{id}/team_members"));

    let (status, _) = app
        .json(
            Method::POST,
            &members,
            Some(&s.agent),
            Some(json!({"user_ids": [s.agent_id]})),
        )
        .await;
    assert_eq!(status, 401);
    let other = app.with_account().await;
    let (status, body) = app
        .json(
            Method::POST,
            &members,
            Some(&s.admin),
            Some(json!({"user_ids": [other.agent_id]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .json(
            Method::POST,
            &members,
            Some(&s.admin),
            Some(json!({"user_ids": "x"})),
        )
        .await;
    assert_eq!(status, 422);

    let (status, added) = app
        .json(
            Method::POST,
            &members,
            Some(&s.admin),
            Some(json!({"user_ids": [s.agent_id.to_string()]})),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(ids(&added), vec![s.agent_id]);
    assert_eq!(added[0]["role"], "agent");
    assert_eq!(added[0]["name"], "Al Agent");

    // The agent is now a member, and sees it.
    let (_, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/teams/{id}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(shown["is_member"], true);

    let (status, all) = app
        .json(
            Method::PATCH,
            &members,
            Some(&s.admin),
            Some(json!({"user_ids": [s.admin_id]})),
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), vec![s.admin_id]);
    let (status, listed) = app.json(Method::GET, &members, Some(&s.agent), None).await;
    assert_eq!((status, ids(&listed)), (200, vec![s.admin_id]));

    let (status, _) = app
        .json(
            Method::DELETE,
            &members,
            Some(&s.admin),
            Some(json!({"user_ids": [s.admin_id]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, listed) = app.json(Method::GET, &members, Some(&s.admin), None).await;
    assert_eq!(listed, json!([]));

    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/teams/999/team_members"),
            Some(&s.admin),
            Some(json!({"user_ids": [s.admin_id]})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::GET,
            &s.path("/teams/999/team_members"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn case_58_19_inbox_members_decide_what_an_agent_sees() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let first = api_inbox(&app, &s, "First").await;
    let second = api_inbox(&app, &s, "Second").await;
    let d1 = conversation(&app, &s, first).await;
    let d2 = conversation(&app, &s, second).await;

    // Writes are for administrators; unknown inboxes are 404.
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/inbox_members"),
            Some(&s.agent),
            Some(json!({"inbox_id": first, "user_ids": [s.agent_id]})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": 999, "user_ids": [s.agent_id]})),
        )
        .await;
    assert_eq!(status, 404);
    let other = app.with_account().await;
    let (status, _) = app
        .json(
            Method::POST,
            &other.path("/inbox_members"),
            Some(&other.admin),
            Some(json!({"inbox_id": first, "user_ids": [other.agent_id]})),
        )
        .await;
    assert_eq!(status, 404);

    // Before membership: no inboxes, no conversations, 401 on one.
    let (_, inboxes) = app
        .json(Method::GET, &s.path("/inboxes"), Some(&s.agent), None)
        .await;
    assert_eq!(inboxes["payload"], json!([]));
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d1}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{d1}/toggle_status")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);

    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": first, "user_ids": [s.agent_id]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body["payload"]), vec![s.agent_id]);
    let (status, body) = app
        .json(
            Method::GET,
            &s.path(&format!("/inbox_members/{first}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!((status, ids(&body["payload"])), (200, vec![s.agent_id]));

    // Case 58: administrator 2 inboxes, agent 1.
    let (_, inboxes) = app
        .json(Method::GET, &s.path("/inboxes"), Some(&s.admin), None)
        .await;
    assert_eq!(inboxes["payload"].as_array().unwrap().len(), 2);
    let (_, inboxes) = app
        .json(Method::GET, &s.path("/inboxes"), Some(&s.agent), None)
        .await;
    assert_eq!(ids(&inboxes["payload"]), vec![first]);

    // Case 19: after joining, the agent reads the conversation.
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d1}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d2}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (_, list) = app
        .json(Method::GET, &s.path("/conversations"), Some(&s.agent), None)
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 1);
    assert_eq!(ids(&list["data"]["payload"]), vec![d1]);
    let (_, list) = app
        .json(Method::GET, &s.path("/conversations"), Some(&s.admin), None)
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 2);
    let (_, meta) = app
        .json(
            Method::GET,
            &s.path("/conversations/meta"),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(meta["meta"]["all_count"], 1);

    // Replace with nobody, then the agent sees nothing again.
    let (status, body) = app
        .json(
            Method::PATCH,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": first, "user_ids": []})),
        )
        .await;
    assert_eq!((status, body["payload"].clone()), (200, json!([])));
    let (_, meta) = app
        .json(
            Method::GET,
            &s.path("/conversations/meta"),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(meta["meta"]["all_count"], 0);
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/inbox_members/{first}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": second, "user_ids": [s.agent_id]})),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cases_52_54_assignee_is_set_and_cleared_and_counts_follow() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Inbox").await;
    let d = conversation(&app, &s, inbox).await;
    let assign = s.path(&format!("/conversations/{d}/assignments"));

    // The agent has no access to the inbox yet: as assignee 422, as caller 401.
    let (status, body) = app
        .json(
            Method::POST,
            &assign,
            Some(&s.admin),
            Some(json!({"assignee_id": s.agent_id})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .json(
            Method::POST,
            &assign,
            Some(&s.agent),
            Some(json!({"assignee_id": s.agent_id})),
        )
        .await;
    assert_eq!(status, 401);
    add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;

    let (status, body) = app
        .json(
            Method::POST,
            &assign,
            Some(&s.agent),
            Some(json!({"assignee_id": s.agent_id})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], s.agent_id);
    assert_eq!(body["name"], "Al Agent");
    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(conv["meta"]["assignee"]["id"], s.agent_id);
    let (_, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?assignee_type=me"),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(
        list["data"]["meta"],
        json!({"mine_count": 1, "unassigned_count": 0, "assigned_count": 1, "all_count": 1})
    );
    assert_eq!(ids(&list["data"]["payload"]), vec![d]);

    // Case 54: assignee_id 0 unassigns.
    let (status, body) = app
        .json(
            Method::POST,
            &assign,
            Some(&s.admin),
            Some(json!({"assignee_id": 0})),
        )
        .await;
    assert_eq!((status, body), (200, Value::Null));
    let (_, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?assignee_type=unassigned"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        list["data"]["meta"],
        json!({"mine_count": 0, "unassigned_count": 1, "assigned_count": 0, "all_count": 1})
    );
    // Neither key: nothing changes, null.
    let (status, body) = app
        .json(Method::POST, &assign, Some(&s.admin), Some(json!({})))
        .await;
    assert_eq!((status, body), (200, Value::Null));
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/conversations/999/assignments"),
            Some(&s.admin),
            Some(json!({"assignee_id": s.admin_id})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::POST,
            &assign,
            Some(&s.admin),
            Some(json!({"assignee_id": "abc"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn cases_53_55_team_assignment_auto_assigns_the_least_busy_member_and_filters_the_list() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Inbox").await;
    let d1 = conversation(&app, &s, inbox).await;
    let d2 = conversation(&app, &s, inbox).await;
    add_inbox_members(&app, &s, inbox, &[s.admin_id, s.agent_id]).await;
    let t = team(&app, &s, json!({"name": "support"})).await;
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/teams/{t}/team_members")),
            Some(&s.admin),
            Some(json!({"user_ids": [s.admin_id, s.agent_id]})),
        )
        .await;
    assert_eq!(status, 200);
    // The administrator already has an open conversation, so the agent is
    // the least busy team member whatever their ids.
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{d2}/assignments")),
            Some(&s.admin),
            Some(json!({"assignee_id": s.admin_id})),
        )
        .await;
    assert_eq!(status, 200);

    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{d1}/assignments")),
            Some(&s.admin),
            Some(json!({"team_id": t})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], t);
    assert_eq!(body["name"], "support");
    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d1}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(conv["meta"]["team"]["id"], t);
    assert_eq!(conv["meta"]["assignee"]["id"], s.agent_id);

    let (status, list) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations?team_id={t}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&list["data"]["payload"]), vec![d1]);
    assert_eq!(list["data"]["meta"]["all_count"], 1);
    let (status, _) = app
        .json(
            Method::GET,
            &s.path("/conversations?team_id=999"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{d1}/assignments")),
            Some(&s.admin),
            Some(json!({"team_id": 999})),
        )
        .await;
    assert_eq!(status, 422);

    // Case 55: team_id 0 clears the team and keeps the assignee.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{d1}/assignments")),
            Some(&s.admin),
            Some(json!({"team_id": 0})),
        )
        .await;
    assert_eq!((status, body), (200, Value::Null));
    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d1}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert!(conv["meta"].get("team").is_none(), "{conv}");
    assert_eq!(conv["meta"]["assignee"]["id"], s.agent_id);
}

#[tokio::test]
async fn case_46_deleting_a_team_clears_it_from_conversations_and_create_accepts_team_and_assignee()
{
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Inbox").await;
    add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;
    let t = team(
        &app,
        &s,
        json!({"name": "billing", "allow_auto_assign": false}),
    )
    .await;
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox})),
        )
        .await;
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.agent),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox, "team_id": t, "assignee_id": s.agent_id})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["meta"]["team"]["name"], "billing");
    assert_eq!(conv["meta"]["assignee"]["name"], "Al Agent");
    let d = conv["id"].as_i64().unwrap();
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox, "team_id": 999})),
        )
        .await;
    assert_eq!(status, 422);

    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/teams/{t}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{d}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert!(conv["meta"].get("team").is_none(), "{conv}");
    let (_, list) = app
        .json(Method::GET, &s.path("/conversations"), Some(&s.admin), None)
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 1);
    // The write side no longer accepts the deleted team.
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{d}/assignments")),
            Some(&s.admin),
            Some(json!({"team_id": t})),
        )
        .await;
    assert_eq!(status, 422);
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "select team_id, n from read_model.conversation_counts where account_id = $1",
    )
    .bind(s.account_id)
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(counts, vec![(0, 1)]);
}
