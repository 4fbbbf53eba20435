//! Integration apps and hooks through HTTP (behaviour notes §2.8, cases 71–72).

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;
use crate::teams::{api_inbox, conversation};

fn app_ids(body: &Value) -> Vec<&str> {
    body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn case_71_apps_list_any_member_payload_and_show_by_id() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, body) = app
        .json(
            Method::GET,
            &s.path("/integrations/apps"),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app_ids(&body), vec!["webhook", "dialogflow", "fullcontact"]);
    let first = &body["payload"][0];
    assert_eq!(first["name"], "Webhooks");
    assert_eq!(first["enabled"], true);
    assert_eq!(first["hooks"], json!([]));
    assert_eq!(body["payload"][1]["hook_type"], "inbox");
    assert_eq!(
        body["payload"][1]["settings_json_schema"]["required"],
        json!(["project_id", "credentials"])
    );

    let (status, body) = app
        .json(
            Method::GET,
            &s.path("/integrations/apps/dialogflow"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Dialogflow");
    let (status, body) = app
        .json(
            Method::GET,
            &s.path("/integrations/apps/nope"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    // No credentials → 401.
    let (status, _) = app
        .json(Method::GET, &s.path("/integrations/apps"), None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn case_72_dialogflow_hook_create_update_delete_administrators_only() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Bot inbox").await;
    let hooks = s.path("/integrations/hooks");
    let body = json!({
        "app_id": "dialogflow",
        "inbox_id": inbox,
        "settings": {"project_id": "p1", "credentials": {}}
    });

    let before = app.event_count().await;
    let (status, err) = app
        .json(Method::POST, &hooks, Some(&s.agent), Some(body.clone()))
        .await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(app.event_count().await, before);

    let (status, hook) = app
        .json(
            Method::POST,
            &hooks,
            Some(&s.admin),
            Some(json!({ "hook": body })),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    assert_eq!(hook["app_id"], "dialogflow");
    assert_eq!(hook["status"], true);
    assert_eq!(hook["hook_type"], "inbox");
    assert_eq!(hook["inbox"], json!({"id": inbox, "name": "Bot inbox"}));
    assert_eq!(hook["settings"]["project_id"], "p1");
    let hook_id = hook["id"].as_i64().unwrap();
    let one = format!("{hooks}/{hook_id}");

    // The apps list shows it; agents see it without its settings.
    let (_, apps) = app
        .json(
            Method::GET,
            &s.path("/integrations/apps"),
            Some(&s.agent),
            None,
        )
        .await;
    let listed = &apps["payload"][1]["hooks"];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(listed[0]["id"], hook_id);
    assert!(listed[0].get("settings").is_none());

    // A new conversation in that inbox starts with the bot.
    let display_id = conversation(&app, &s, inbox).await;
    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(conv["status"], "pending", "{conv}");

    let (status, _) = app
        .json(
            Method::PATCH,
            &one,
            Some(&s.agent),
            Some(json!({"status": false})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, updated) = app
        .json(
            Method::PATCH,
            &one,
            Some(&s.admin),
            Some(json!({"status": "disabled", "settings": {"project_id": "p2", "credentials": {"k": 1}}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], false);
    assert_eq!(updated["settings"]["project_id"], "p2");

    let (status, _) = app.json(Method::DELETE, &one, Some(&s.agent), None).await;
    assert_eq!(status, 401);
    let (status, _) = app.json(Method::DELETE, &one, Some(&s.admin), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.json(Method::DELETE, &one, Some(&s.admin), None).await;
    assert_eq!(status, 404);
    let (_, apps) = app
        .json(
            Method::GET,
            &s.path("/integrations/apps/dialogflow"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(apps["hooks"], json!([]));
}

#[tokio::test]
async fn hook_settings_app_and_inbox_are_validated_and_single_hook_apps_refuse_a_second() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let hooks = s.path("/integrations/hooks");
    let before = app.event_count().await;
    for (body, wanted) in [
        (
            json!({"app_id": "dialogflow", "inbox_id": 999, "settings": {"project_id": "p", "credentials": {}}}),
            "Inbox must exist",
        ),
        (
            json!({"app_id": "dialogflow", "settings": {"project_id": "p", "credentials": {}}}),
            "Inbox must exist",
        ),
        (
            json!({"app_id": "nope", "settings": {}}),
            "App must be one of webhook, dialogflow, fullcontact",
        ),
        (
            json!({"app_id": "fullcontact", "settings": {"api_key": 5, "x": 1}}),
            "Settings : Invalid settings data (api_key must be a string; x is not a setting of this app)",
        ),
        (
            json!({"app_id": "fullcontact"}),
            "Settings : Invalid settings data (api_key is required)",
        ),
    ] {
        let (status, err) = app
            .json(Method::POST, &hooks, Some(&s.admin), Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body} → {err}");
        assert_eq!(err["message"], wanted, "{body}");
    }
    assert_eq!(app.event_count().await, before);

    let ok = json!({"app_id": "fullcontact", "settings": {"api_key": "k"}});
    let (status, hook) = app
        .json(Method::POST, &hooks, Some(&s.admin), Some(ok.clone()))
        .await;
    assert_eq!(status, 200, "{hook}");
    assert_eq!(hook["inbox"], Value::Null);
    assert_eq!(hook["hook_type"], "account");
    let (status, err) = app
        .json(Method::POST, &hooks, Some(&s.admin), Some(ok))
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(
        err["message"],
        "App fullcontact allows only one hook per account"
    );

    // Webhooks may be many.
    for _ in 0..2 {
        let (status, hook) = app
            .json(
                Method::POST,
                &hooks,
                Some(&s.admin),
                Some(json!({"app_id": "webhook", "settings": {"url": "https://example.com/h"}})),
            )
            .await;
        assert_eq!(status, 200, "{hook}");
    }
    // A bad update changes nothing; another account's hook is not there.
    let one = format!("{hooks}/{}", hook["id"]);
    let (status, _) = app
        .json(
            Method::PATCH,
            &one,
            Some(&s.admin),
            Some(json!({"settings": {"api_key": 1}})),
        )
        .await;
    assert_eq!(status, 422);
    let other = app.with_account().await;
    let (status, _) = app
        .json(
            Method::PATCH,
            &other.path(&format!("/integrations/hooks/{}", hook["id"])),
            Some(&other.admin),
            Some(json!({"status": false})),
        )
        .await;
    assert_eq!(status, 404);
}
