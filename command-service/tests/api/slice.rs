//! The account API writes of the first slice: inboxes, contacts,
//! conversations; roles, validation and read-your-writes.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::app::{Seeded, TestApp};

async fn api_inbox(app: &TestApp, s: &Seeded) -> i64 {
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": "API", "channel": {"type": "api", "webhook_url": ""}})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    inbox["id"].as_i64().unwrap()
}

#[tokio::test]
async fn administrators_create_and_update_inboxes_and_agents_get_401() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let widget =
        json!({"name": "test", "channel": {"type": "web_widget", "website_url": "test.com"}});
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.agent),
            Some(widget.clone()),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "You are not authorized to do this action"})
        )
    );

    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes/"),
            Some(&s.admin),
            Some(widget),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    assert!(inbox.to_string().contains("test.com"));
    assert_eq!(inbox["channel_type"], "Channel::WebWidget");
    let id = inbox["id"].as_i64().unwrap();

    let (status, updated) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/inboxes/{id}")),
            Some(&s.admin),
            Some(json!({"enable_auto_assignment": false, "channel": {"website_url": "other.com"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["enable_auto_assignment"], false);

    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": "x", "channel": {"type": "fax"}})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_contact_is_created_with_an_inbox_and_its_attributes_merge_on_update() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox_id = api_inbox(&app, &s).await;
    let (status, created) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.agent),
            Some(json!({"contact": {"name": "Jane", "email": "Jane@Example.com", "custom_attributes": {"test": "t", "test1": "t1"}}, "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let contact = &created["payload"]["contact"];
    assert_eq!(contact["email"], "jane@example.com");
    assert_eq!(
        contact["custom_attributes"],
        json!({"test": "t", "test1": "t1"})
    );
    assert!(created["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let id = contact["id"].as_i64().unwrap();

    let (status, updated) = app
        .json(
            Method::PUT,
            &s.path(&format!("/contacts/{id}")),
            Some(&s.agent),
            Some(json!({"custom_attributes": {"test": "new test", "test2": "t2"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["payload"]["custom_attributes"],
        json!({"test": "new test", "test1": "t1", "test2": "t2"})
    );

    // A second contact may not take the e-mail (case 34).
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.agent),
            Some(json!({"email": "jane@example.com"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["attributes"], json!(["email"]));
    // A name over 255 characters (case 35).
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.agent),
            Some(json!({"name": "x".repeat(256)})),
        )
        .await;
    assert_eq!(
        (status, &body["message"]),
        (422, &json!("Name is too long (maximum is 255 characters)"))
    );
}

#[tokio::test]
async fn another_accounts_contact_is_not_found() {
    let app = TestApp::spawn().await;
    let a = app.with_account().await;
    let b = app.with_account().await;
    let (_, created) = app
        .json(
            Method::POST,
            &a.path("/contacts"),
            Some(&a.agent),
            Some(json!({"name": "A"})),
        )
        .await;
    let id = created["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, _) = app
        .json(
            Method::PATCH,
            &b.path(&format!("/contacts/{id}")),
            Some(&b.agent),
            Some(json!({"name": "B"})),
        )
        .await;
    assert_eq!(status, 404);
    // Nor can a member of B write into A.
    let (status, _) = app
        .json(
            Method::POST,
            &a.path("/contacts"),
            Some(&b.agent),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn conversations_get_display_ids_per_account_and_show_up_in_the_list_at_once() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox_id = api_inbox(&app, &s).await;
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox_id})),
        )
        .await;
    let source_id = c["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();

    let (status, first) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"source_id": source_id, "additional_attributes": {"test": "test"}})),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["id"], 1);
    assert_eq!(first["status"], "open");
    assert_eq!(first["additional_attributes"], json!({"test": "test"}));

    let (status, second) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id.to_string(), "inbox_id": inbox_id.to_string(), "status": "bot"})),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["id"], 2);
    assert_eq!(second["status"], "pending");

    let (status, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?status=all"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"]["meta"]["all_count"], 2);

    // Another account numbers its own conversations from 1.
    let other = app.with_account().await;
    let other_inbox = api_inbox(&app, &other).await;
    let (_, c) = app
        .json(
            Method::POST,
            &other.path("/contacts"),
            Some(&other.admin),
            Some(json!({"name": "D", "inbox_id": other_inbox})),
        )
        .await;
    let other_source = c["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, conv) = app
        .json(
            Method::POST,
            &other.path("/conversations"),
            Some(&other.admin),
            Some(json!({"source_id": other_source})),
        )
        .await;
    assert_eq!(conv["id"], 1);
    // ... and cannot open a conversation on the first account's source id.
    let (status, _) = app
        .json(
            Method::POST,
            &other.path("/conversations"),
            Some(&other.admin),
            Some(json!({"source_id": source_id})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn toggling_status_moves_the_counts() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox_id = api_inbox(&app, &s).await;
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox_id})),
        )
        .await;
    let source_id = c["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"source_id": source_id})),
        )
        .await;
    let id = conv["id"].as_i64().unwrap();
    let toggle = s.path(&format!("/conversations/{id}/toggle_status"));

    let (status, body) = app.json(Method::POST, &toggle, Some(&s.admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["payload"],
        json!({"success": true, "current_status": "resolved", "conversation_id": id, "snoozed_until": null})
    );
    let (_, open) = app
        .json(Method::GET, &s.path("/conversations"), Some(&s.admin), None)
        .await;
    assert_eq!(open["data"]["meta"]["all_count"], 0);
    let (_, resolved) = app
        .json(
            Method::GET,
            &s.path("/conversations?status=resolved"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(resolved["data"]["meta"]["all_count"], 1);

    let (_, body) = app
        .json(
            Method::POST,
            &toggle,
            Some(&s.admin),
            Some(json!({"status": "bot"})),
        )
        .await;
    assert_eq!(body["payload"]["current_status"], "pending");
    let (status, body) = app
        .json(
            Method::POST,
            &toggle,
            Some(&s.admin),
            Some(json!({"status": "foo"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/conversations/999/toggle_status"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn malformed_bodies_and_wrong_types_are_4xx_json_and_write_nothing() {
    let app = TestApp::spawn_with(false, Duration::from_millis(50)).await;
    let before = app.event_count().await;
    let res = app
        .client
        .post(format!("{}/platform/api/v1/accounts", app.command_url))
        .header("api_access_token", &app.platform_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"].as_str().is_some());
    for bad in [
        json!({"name": ["x"]}),
        json!({"name": "x", "custom_attributes": "nope"}),
        json!({"name": {"a": 1}}),
    ] {
        let (status, body) = app
            .json(
                Method::POST,
                "/platform/api/v1/accounts",
                Some(&app.platform_token),
                Some(bad),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    let (status, _) = app
        .json(
            Method::PATCH,
            "/platform/api/v1/accounts/-1",
            Some(&app.platform_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::PATCH,
            "/platform/api/v1/accounts/99999999999999999999",
            Some(&app.platform_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.event_count().await,
        before,
        "a refused request writes nothing"
    );
}

#[tokio::test]
async fn a_write_answers_success_marked_timeout_when_the_read_side_is_late() {
    let app = TestApp::spawn_with(false, Duration::from_millis(200)).await;
    let res = app
        .call(
            Method::POST,
            "/platform/api/v1/accounts",
            Some(&app.platform_token),
            Some(json!({"name": "Late"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-read-your-writes"], "timeout");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Late");
    assert!(body["id"].as_i64().is_some());
}

#[tokio::test]
async fn a_client_can_opt_out_of_waiting() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(format!("{}/platform/api/v1/accounts", app.command_url))
        .header("api_access_token", &app.platform_token)
        .header("x-read-your-writes", "off")
        .json(&json!({"name": "Bulk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-read-your-writes"], "off");
}
