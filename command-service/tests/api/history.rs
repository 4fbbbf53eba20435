//! The audit trail through HTTP: a conversation's and a contact's history
//! with actors and correlation ids, paging, agent visibility, `as_of`, and
//! the account-wide audit query.

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};
use crate::teams::{add_inbox_members, api_inbox, conversation, team};

/// A write with an `X-Correlation-Id`.
async fn write(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    correlation: &str,
    body: Value,
) -> Value {
    let res = app
        .client
        .request(method, format!("{}{path}", app.command_url))
        .header("api_access_token", token)
        .header("X-Correlation-Id", correlation)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    app.json(Method::GET, path, Some(token), None).await
}

async fn toggle(app: &TestApp, s: &Seeded, display_id: i64, status: &str, corr: &str) {
    write(
        app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/toggle_status")),
        &s.admin,
        corr,
        json!({"status": status}),
    )
    .await;
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == event_type)
        .collect()
}

#[tokio::test]
async fn conversation_history_shows_status_assignment_labels_and_messages_with_actors_and_correlation_ids(
) {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;
    let display_id = conversation(&app, &s, inbox).await;
    let support = team(&app, &s, json!({"name": "support"})).await;

    toggle(&app, &s, display_id, "resolved", "corr-toggle").await;
    write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/assignments")),
        &s.admin,
        "corr-assign",
        json!({"assignee_id": s.agent_id}),
    )
    .await;
    write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/assignments")),
        &s.admin,
        "corr-team",
        json!({"team_id": support}),
    )
    .await;
    write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/labels")),
        &s.agent,
        "corr-labels",
        json!({"labels": ["vip", "billing"]}),
    )
    .await;
    let message = write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/messages")),
        &s.agent,
        "corr-message",
        json!({"content": "hello"}),
    )
    .await;

    let path = s.path(&format!("/conversations/{display_id}/history"));
    let (status, body) = get(&app, &path, &s.admin).await;
    assert_eq!(status, 200, "{body}");
    let events = body["payload"].as_array().unwrap().clone();
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "in log order");
    assert_eq!(events[0]["event_type"], "ConversationCreated");
    assert_eq!(body["meta"]["count"], json!(events.len()));

    let status_changes = of_type(&events, "ConversationStatusChanged");
    assert_eq!(status_changes.len(), 1);
    let toggled = status_changes[0];
    assert_eq!(
        toggled["changes"]["status"],
        json!({"from": "open", "to": "resolved"})
    );
    assert_eq!(toggled["actor"]["type"], "user");
    assert_eq!(toggled["actor"]["id"], json!(s.admin_id));
    assert_eq!(toggled["actor"]["name"], "Ada Admin");
    assert_eq!(toggled["correlation_id"], "corr-toggle");
    assert!(toggled["occurred_at"].is_string());

    let assigned = of_type(&events, "ConversationAssigneeChanged");
    assert_eq!(
        assigned[0]["changes"]["assignee_id"],
        json!({"from": null, "to": s.agent_id})
    );
    assert_eq!(assigned[0]["correlation_id"], "corr-assign");

    let teamed = of_type(&events, "ConversationTeamChanged");
    assert_eq!(
        teamed[0]["changes"]["team_id"],
        json!({"from": null, "to": support})
    );
    assert_eq!(teamed[0]["correlation_id"], "corr-team");

    let labelled = of_type(&events, "ConversationLabelsChanged");
    assert_eq!(labelled[0]["actor"]["id"], json!(s.agent_id));
    assert_eq!(labelled[0]["actor"]["name"], "Al Agent");
    assert_eq!(labelled[0]["correlation_id"], "corr-labels");
    let mut added: Vec<String> =
        serde_json::from_value(labelled[0]["changes"]["labels"]["added"].clone()).unwrap();
    added.sort();
    assert_eq!(added, ["billing", "vip"]);

    let posted = of_type(&events, "MessageCreated");
    assert_eq!(posted.len(), 1, "the message's own stream is included");
    assert_eq!(
        posted[0]["stream_id"],
        format!("message:{}", message["id"].as_i64().unwrap())
    );
    assert_eq!(posted[0]["data"]["content"], "hello");
    assert_eq!(posted[0]["correlation_id"], "corr-message");
    assert_eq!(posted[0]["actor"]["id"], json!(s.agent_id));

    // The agent is a member of the inbox: same history.
    let (status, mine) = get(&app, &path, &s.agent).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["payload"], body["payload"]);
}

#[tokio::test]
async fn history_follows_the_conversation_authorization() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    let display_id = conversation(&app, &s, inbox).await;
    let path = s.path(&format!("/conversations/{display_id}/history"));

    // An agent outside the inbox: Chatwoot's policy 401.
    let (status, body) = get(&app, &path, &s.agent).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(get(&app, &format!("{path}?as_of=1"), &s.agent).await.0, 401);
    // Unknown conversation: 404; junk id: 404.
    let (status, _) = get(&app, &s.path("/conversations/999999/history"), &s.admin).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &s.path("/conversations/abc/history"), &s.admin).await;
    assert_eq!(status, 404);
    // Someone else's account: 401.
    let (status, _) = get(&app, &path, &other.admin).await;
    assert_eq!(status, 401);
    // No token: 401.
    let (status, _) = app.json(Method::GET, &path, None, None).await;
    assert_eq!(status, 401);
    // The contact's history: unknown contact 404.
    let (status, _) = get(&app, &s.path("/contacts/999999/history"), &s.admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn history_pages_by_page_number_and_by_cursor() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    let display_id = conversation(&app, &s, inbox).await;
    // Created + 51 toggles = 52 events.
    for i in 0..51 {
        let to = if i % 2 == 0 { "resolved" } else { "open" };
        toggle(&app, &s, display_id, to, &format!("c{i}")).await;
    }
    let path = s.path(&format!("/conversations/{display_id}/history"));
    let (status, first) = get(&app, &path, &s.admin).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["meta"]["count"], 52);
    assert_eq!(first["meta"]["per_page"], 50);
    let page_one = first["payload"].as_array().unwrap();
    assert_eq!(page_one.len(), 50);
    let after = first["meta"]["next_after"].as_i64().unwrap();
    assert_eq!(after, page_one[49]["position"].as_i64().unwrap());

    let (_, by_cursor) = get(&app, &format!("{path}?after={after}"), &s.admin).await;
    let (_, by_page) = get(&app, &format!("{path}?page=2"), &s.admin).await;
    assert_eq!(by_cursor["payload"].as_array().unwrap().len(), 2);
    assert_eq!(by_cursor["payload"], by_page["payload"]);
    assert_eq!(by_cursor["meta"]["next_after"], Value::Null);
    assert_eq!(by_cursor["payload"][1]["correlation_id"], "c50");

    let (status, _) = get(&app, &format!("{path}?after=x"), &s.admin).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn as_of_a_time_between_two_toggles_gives_the_earlier_status() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    let display_id = conversation(&app, &s, inbox).await;
    write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/labels")),
        &s.admin,
        "l",
        json!({"labels": ["vip"]}),
    )
    .await;
    toggle(&app, &s, display_id, "resolved", "first").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    toggle(&app, &s, display_id, "pending", "second").await;
    write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/assignments")),
        &s.admin,
        "a",
        json!({"assignee_id": s.admin_id}),
    )
    .await;

    let show = s.path(&format!("/conversations/{display_id}"));
    let (_, now) = get(&app, &show, &s.admin).await;
    assert_eq!(now["status"], "pending");
    assert_eq!(now["meta"]["assignee"]["id"], json!(s.admin_id));

    let at = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (status, then) = get(&app, &format!("{show}?as_of={}", urlencode(&at)), &s.admin).await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["status"], "resolved");
    assert_eq!(then["labels"], json!(["vip"]));
    assert_eq!(then["id"], now["id"]);
    assert!(then["meta"].get("assignee").is_none_or(Value::is_null));

    // By position: the conversation's first event shows it open, unlabelled.
    let (_, history) = get(&app, &format!("{show}/history"), &s.admin).await;
    let created = history["payload"][0]["position"].as_i64().unwrap();
    let (status, first) = get(&app, &format!("{show}?as_of={created}"), &s.admin).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "open");
    assert_eq!(first["labels"], json!([]));

    // Before it existed: 404. Junk: 400.
    let (status, _) = get(
        &app,
        &format!("{show}?as_of=2000-01-01T00:00:00Z"),
        &s.admin,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(&app, &format!("{show}?as_of=yesterday"), &s.admin).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&app, &format!("{show}?as_of=0"), &s.admin).await;
    assert_eq!(status, 400);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn audit_events_filter_by_actor_type_time_and_are_for_administrators() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    add_inbox_members(&app, &s, inbox, &[s.agent_id]).await;
    let display_id = conversation(&app, &s, inbox).await;
    write(
        &app,
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/labels")),
        &s.agent,
        "by-agent",
        json!({"labels": ["x"]}),
    )
    .await;
    toggle(&app, &s, display_id, "resolved", "by-admin").await;
    let audit = s.path("/audit_events");

    let (status, all) = get(&app, &audit, &s.admin).await;
    assert_eq!(status, 200, "{all}");
    assert!(all["meta"]["count"].as_i64().unwrap() >= 5);

    let (_, agent) = get(
        &app,
        &format!("{audit}?actor_type=user&actor_id={}", s.agent_id),
        &s.admin,
    )
    .await;
    let agent = agent["payload"].as_array().unwrap();
    assert_eq!(agent.len(), 1, "{agent:?}");
    assert_eq!(agent[0]["event_type"], "ConversationLabelsChanged");
    assert_eq!(agent[0]["correlation_id"], "by-agent");

    let (_, toggles) = get(
        &app,
        &format!("{audit}?event_type=ConversationStatusChanged"),
        &s.admin,
    )
    .await;
    assert_eq!(toggles["meta"]["count"], 1);
    assert_eq!(toggles["payload"][0]["correlation_id"], "by-admin");

    // The account and its members were made by the platform app.
    let (_, platform) = get(&app, &format!("{audit}?actor_type=platform_app"), &s.admin).await;
    assert!(platform["meta"]["count"].as_i64().unwrap() >= 1);
    assert!(platform["payload"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"]["type"] == "platform_app"));

    let (_, future) = get(
        &app,
        &format!("{audit}?since=2999-01-01T00:00:00Z"),
        &s.admin,
    )
    .await;
    assert_eq!(future["meta"]["count"], 0);
    let (_, past) = get(
        &app,
        &format!("{audit}?until=2000-01-01T00:00:00Z"),
        &s.admin,
    )
    .await;
    assert_eq!(past["meta"]["count"], 0);

    let (status, _) = get(&app, &audit, &s.agent).await;
    assert_eq!(status, 401, "administrators only");
    let (status, _) = get(&app, &format!("{audit}?actor_type=robot"), &s.admin).await;
    assert_eq!(status, 422);
    let (status, _) = get(&app, &format!("{audit}?since=soon"), &s.admin).await;
    assert_eq!(status, 400);
    let (status, _) = get(&app, &format!("{audit}?actor_id=-1"), &s.admin).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn contact_history_says_which_fields_changed() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let contact = write(
        &app,
        Method::POST,
        &s.path("/contacts"),
        &s.admin,
        "create-contact",
        json!({"name": "Ann", "email": "ann@example.com"}),
    )
    .await;
    let id = contact["payload"]["contact"]["id"].as_i64().unwrap();
    write(
        &app,
        Method::PUT,
        &s.path(&format!("/contacts/{id}")),
        &s.agent,
        "rename",
        json!({"name": "Anna"}),
    )
    .await;
    let (status, body) = get(&app, &s.path(&format!("/contacts/{id}/history")), &s.agent).await;
    assert_eq!(status, 200, "{body}");
    let events = body["payload"].as_array().unwrap();
    assert_eq!(events[0]["event_type"], "ContactCreated");
    assert_eq!(events[0]["correlation_id"], "create-contact");
    let updated = of_type(events, "ContactUpdated");
    assert_eq!(updated.len(), 1);
    assert_eq!(
        updated[0]["changes"]["name"],
        json!({"from": "Ann", "to": "Anna"})
    );
    assert!(updated[0]["changes"].get("email").is_none());
    assert_eq!(updated[0]["actor"]["id"], json!(s.agent_id));
}
