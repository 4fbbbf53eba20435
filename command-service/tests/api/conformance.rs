//! Behaviour notes §4 conformance cases for contacts, conversations, inboxes
//! and the profile that had no test of their own, through HTTP.

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;
use crate::teams::{api_inbox, conversation};

#[tokio::test]
async fn case_30_32_33_34_contact_create_merge_other_account_and_duplicate_email() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"contact": {"name": "A", "email": "a@example.com",
                "custom_attributes": {"test": "test", "test1": "test1"}}})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["payload"]["contact"]["custom_attributes"],
        json!({"test": "test", "test1": "test1"})
    );
    let id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, u) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/contacts/{id}")),
            Some(&s.admin),
            Some(json!({"custom_attributes": {"test": "new test", "test2": "test2"}})),
        )
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(
        u["payload"]["custom_attributes"],
        json!({"test": "new test", "test1": "test1", "test2": "test2"})
    );
    let other = app.with_account().await;
    let (status, _) = app
        .json(
            Method::PATCH,
            &other.path(&format!("/contacts/{id}")),
            Some(&other.admin),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, b) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "B", "email": "b@example.com"})),
        )
        .await;
    let b_id = b["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, err) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/contacts/{b_id}")),
            Some(&s.admin),
            Some(json!({"email": "A@example.com"})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!("email")),
        "{err}"
    );
}

#[tokio::test]
async fn case_42_43_conversation_show_and_create_with_attributes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox, "source_id": "src-1"})),
        )
        .await;
    assert_eq!(c["payload"]["contact_inbox"]["source_id"], "src-1", "{c}");
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"source_id": "src-1", "inbox_id": inbox, "additional_attributes": {"test": "test"}})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["additional_attributes"], json!({"test": "test"}));
    let display_id = conv["id"].as_i64().unwrap();
    let (status, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["id"], display_id);
}

#[tokio::test]
async fn case_47_48_49_toggle_status_without_status_and_to_bot() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Api").await;
    let display_id = conversation(&app, &s, inbox).await;
    let toggle = s.path(&format!("/conversations/{display_id}/toggle_status"));
    let go = async |body: serde_json::Value| {
        let (status, r) = app
            .json(Method::POST, &toggle, Some(&s.admin), Some(body))
            .await;
        assert_eq!(status, 200, "{r}");
        r["payload"]["current_status"].as_str().unwrap().to_owned()
    };
    assert_eq!(go(json!({})).await, "resolved");
    assert_eq!(go(json!({})).await, "open");
    assert_eq!(go(json!({"status": "bot"})).await, "pending");
    assert_eq!(go(json!({})).await, "open");
}

#[tokio::test]
async fn case_73_profile_shows_id_email_and_access_token() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, me) = app
        .json(Method::GET, "/api/v1/profile", Some(&s.agent), None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], s.agent_id);
    assert!(me["email"].as_str().unwrap().starts_with("al.agent-"));
    assert_eq!(me["access_token"], s.agent.as_str());
}
