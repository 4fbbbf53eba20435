//! Platform API writes (behaviour notes §2.1, conformance cases 1-16).

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn platform_writes_without_a_valid_platform_token_get_401() {
    let app = TestApp::spawn_with(false, std::time::Duration::from_millis(50)).await;
    for token in [None, Some("invalid")] {
        let (s, body) = app
            .json(
                Method::POST,
                "/platform/api/v1/accounts",
                token,
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(s, 401);
        assert_eq!(body, json!({"error": "Invalid access_token"}));
    }
    assert_eq!(
        app.event_count().await,
        1,
        "only the platform app's own event"
    );
}

#[tokio::test]
async fn a_platform_app_creates_an_account_reads_it_at_once_and_renames_it() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let res = app
        .call(
            Method::POST,
            "/platform/api/v1/accounts",
            p,
            Some(json!({"name": "Test Account"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-read-your-writes"], "visible");
    let account: serde_json::Value = res.json().await.unwrap();
    assert_eq!(account["name"], "Test Account");
    let id = account["id"].as_i64().unwrap();

    let (s, read) = app
        .json(
            Method::GET,
            &format!("/platform/api/v1/accounts/{id}"),
            p,
            None,
        )
        .await;
    assert_eq!((s, &read["name"]), (200, &json!("Test Account")));

    let (s, updated) = app
        .json(
            Method::PATCH,
            &format!("/platform/api/v1/accounts/{id}"),
            p,
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!((s, &updated["name"]), (200, &json!("Renamed")));
    let (_, read) = app
        .json(
            Method::GET,
            &format!("/platform/api/v1/accounts/{id}"),
            p,
            None,
        )
        .await;
    assert_eq!(read["name"], "Renamed");
}

#[tokio::test]
async fn an_account_without_a_name_is_a_422_and_writes_nothing() {
    let app = TestApp::spawn_with(false, std::time::Duration::from_millis(50)).await;
    let before = app.event_count().await;
    let (s, body) = app
        .json(
            Method::POST,
            "/platform/api/v1/accounts",
            Some(&app.platform_token),
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["message"], "Name can't be blank");
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn an_app_cannot_touch_an_account_it_was_not_granted_and_an_unknown_one_is_404() {
    let app = TestApp::spawn().await;
    let (s, account) = app
        .json(
            Method::POST,
            "/platform/api/v1/accounts",
            Some(&app.platform_token),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(s, 200);
    let store = command_service::event_store::EventStore::new(app.env.pool.clone());
    let (_, other) = command_service::admin::create_platform_app(
        &store,
        &app.env.settings.token_secret,
        "other",
    )
    .await
    .unwrap();
    let id = account["id"].as_i64().unwrap();
    let (s, body) = app
        .json(
            Method::PATCH,
            &format!("/platform/api/v1/accounts/{id}"),
            Some(&other),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        (s, body),
        (401, json!({"error": "Non permissible resource"}))
    );
    let (s, _) = app
        .json(
            Method::PATCH,
            "/platform/api/v1/accounts/999999",
            Some(&other),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn account_users_are_upserted_and_removed() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let seeded = app.with_account().await;
    let path = format!(
        "/platform/api/v1/accounts/{}/account_users",
        seeded.account_id
    );

    // An existing agent becomes an administrator (case 15).
    let (s, au) = app
        .json(
            Method::POST,
            &path,
            p,
            Some(json!({"user_id": seeded.agent_id, "role": "administrator"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (au["user_id"].as_i64(), au["role"].as_str()),
        (Some(seeded.agent_id), Some("administrator"))
    );

    // Unknown role and unknown user are clear 422s, not 500s.
    let (s, _) = app
        .json(
            Method::POST,
            &path,
            p,
            Some(json!({"user_id": seeded.agent_id, "role": "owner"})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, body) = app
        .json(
            Method::POST,
            &path,
            p,
            Some(json!({"user_id": 987654, "role": "agent"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["message"], "User must exist");

    // Removing both members leaves none (case 16).
    for user_id in [seeded.admin_id, seeded.agent_id] {
        let res = app
            .call(Method::DELETE, &path, p, Some(json!({"user_id": user_id})))
            .await;
        assert_eq!(res.status(), 200);
    }
    let (_, list) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(list, json!([]));
    // The removed administrator can no longer use the account.
    let (s, _) = app
        .json(
            Method::GET,
            &seeded.path("/inboxes"),
            Some(&seeded.admin),
            None,
        )
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn creating_a_user_with_a_known_email_returns_that_user_unchanged() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let body = json!({"name": "old test", "email": "same@example.com", "password": "Secret123!"});
    let (s, first) = app
        .json(Method::POST, "/platform/api/v1/users", p, Some(body))
        .await;
    assert_eq!(s, 200, "{first}");
    let again = json!({"name": "new name", "email": "Same@Example.com", "password": "Secret123!"});
    let (s, second) = app
        .json(Method::POST, "/platform/api/v1/users", p, Some(again))
        .await;
    assert_eq!(s, 200);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["name"], "old test");
    assert!(first["access_token"]
        .as_str()
        .is_some_and(|t| t.len() >= 24));
}

#[tokio::test]
async fn a_user_is_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let seeded = app.with_account().await;
    let path = format!("/platform/api/v1/users/{}", seeded.agent_id);
    let (s, user) = app
        .json(Method::PATCH, &path, p, Some(json!({"name": "test123"})))
        .await;
    assert_eq!((s, &user["name"]), (200, &json!("test123")));
    let res = app.call(Method::DELETE, &path, p, None).await;
    assert_eq!(res.status(), 200);
    let (s, _) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(s, 404);
    // The deleted user's token no longer works.
    let (s, _) = app
        .json(Method::GET, "/api/v1/profile", Some(&seeded.agent), None)
        .await;
    assert_eq!(s, 401);
}
