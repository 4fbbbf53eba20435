//! Inbox list (§2.6; case 58).

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn administrators_see_every_inbox_and_agents_only_their_member_inboxes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let site = app.widget_inbox(s.account_id, "site").await;
    app.api_inbox(s.account_id, "API").await;
    app.inbox_member(s.account_id, site, s.agent_id).await;
    // Another account's inbox never shows.
    let other = app.account("Other").await;
    app.api_inbox(other, "Elsewhere").await;

    let (status, body) = app.get(&s.path("/inboxes"), Some(&s.admin)).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["API", "site"], "sorted by lower(name)");

    let (status, body) = app.get(&s.path("/inboxes/"), Some(&s.agent)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"].as_array().unwrap().len(), 1);
    assert_eq!(body["payload"][0]["id"], site);
}

#[tokio::test]
async fn inboxes_carry_their_channel_fields() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let site = app.widget_inbox(s.account_id, "Site").await;
    let api = app.api_inbox(s.account_id, "Zapi").await;
    let (_, body) = app.get(&s.path("/inboxes"), Some(&s.admin)).await;
    let widget = &body["payload"][0];
    assert_eq!(widget["id"], site);
    assert_eq!(widget["channel_id"], site + 1000);
    assert_eq!(widget["channel_type"], "Channel::WebWidget");
    assert_eq!(widget["website_url"], "test.com");
    assert_eq!(widget["widget_color"], "#009CE0");
    assert_eq!(widget["welcome_title"], "Hi");
    assert_eq!(widget["welcome_tagline"], json!(null));
    assert_eq!(widget["reply_time"], "in_a_few_minutes");
    assert_eq!(widget["hmac_token"], "widget-hmac");
    let token = format!("wtoken{}", s.account_id);
    assert_eq!(widget["website_token"], token.as_str());
    assert!(widget["web_widget_script"]
        .as_str()
        .is_some_and(|script| script.contains(&token)));
    assert_eq!(widget["enable_auto_assignment"], true);
    assert_eq!(widget["timezone"], "UTC");
    assert_eq!(widget["working_hours"].as_array().unwrap().len(), 7);
    assert_eq!(widget["avatar_url"], "");

    let api_inbox = &body["payload"][1];
    assert_eq!(api_inbox["id"], api);
    assert_eq!(api_inbox["channel_type"], "Channel::Api");
    assert_eq!(api_inbox["webhook_url"], "https://hooks.example.com/in");
    assert_eq!(api_inbox["website_token"], json!(null));
    // The key its webhook deliveries are signed with (docs/webhooks.md).
    assert_eq!(api_inbox["hmac_token"], "api-hmac");
}
