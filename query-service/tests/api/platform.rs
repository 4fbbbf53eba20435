//! Platform API reads (§2.1; cases 1, 2, 4, 10, 14).

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn platform_routes_refuse_missing_invalid_and_non_platform_tokens() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let bot = app.agent_bot().await;
    let paths = [
        format!("/platform/api/v1/accounts/{}", s.account_id),
        format!("/platform/api/v1/accounts/{}/account_users", s.account_id),
        format!("/platform/api/v1/users/{}", s.admin_id),
    ];
    for path in &paths {
        for token in [
            None,
            Some("invalid"),
            Some(s.admin.as_str()),
            Some(bot.as_str()),
        ] {
            let (status, body) = app.get(path, token).await;
            assert_eq!(
                (status, body),
                (401, json!({"error": "Invalid access_token"})),
                "{path} {token:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_account_is_shown_only_once_granted_and_an_unknown_one_is_404_first() {
    let app = TestApp::spawn().await;
    let account_id = app.account("Test Account").await;
    let (app_id, token) = app.platform_app().await;
    let path = format!("/platform/api/v1/accounts/{account_id}");

    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "Non permissible resource"}))
    );
    let (status, body) = app
        .get("/platform/api/v1/accounts/999999", Some(&token))
        .await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "Resource could not be found"}))
    );

    app.grant(app_id, "account", account_id).await;
    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], account_id);
    assert_eq!(body["name"], "Test Account");
    assert_eq!(body["locale"], "en");
    assert_eq!(body["status"], "active");
    assert_eq!(body["features"], json!({}));
    assert_eq!(body["limits"], json!({}));
    assert_eq!(body["custom_attributes"], json!({}));
    assert_eq!(body["domain"], json!(null));
    assert!(body["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn account_users_are_the_raw_memberships_of_a_granted_account() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (app_id, token) = app.platform_app().await;
    let path = format!("/platform/api/v1/accounts/{}/account_users", s.account_id);
    let (status, _) = app.get(&path, Some(&token)).await;
    assert_eq!(status, 401);

    app.grant(app_id, "account", s.account_id).await;
    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let rows = body.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["user_id"], s.admin_id);
    assert_eq!(rows[0]["role"], "administrator");
    assert_eq!(rows[1]["user_id"], s.agent_id);
    assert_eq!(rows[1]["role"], "agent");
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "account_id",
        "user_id",
        "role",
        "inviter_id",
        "created_at",
        "updated_at",
        "active_at",
    ] {
        assert!(keys.contains(&key), "{key} missing from {}", rows[0]);
    }
    assert!(rows[0]["created_at"].is_string());
}

#[tokio::test]
async fn a_user_is_shown_with_access_token_and_memberships_once_granted() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.account("Other").await;
    app.member(other, s.agent_id, "administrator").await;
    let (app_id, token) = app.platform_app().await;
    let path = format!("/platform/api/v1/users/{}", s.agent_id);

    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "Non permissible resource"}))
    );
    let (status, _) = app.get("/platform/api/v1/users/999999", Some(&token)).await;
    assert_eq!(status, 404);

    app.grant(app_id, "user", s.agent_id).await;
    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], s.agent_id);
    assert_eq!(body["email"], format!("user{}@example.com", s.agent_id));
    assert_eq!(body["access_token"], s.agent);
    assert_eq!(body["available_name"], "Al Agent");
    // The most recent membership is the current one.
    assert_eq!(body["account_id"], other);
    assert_eq!(body["role"], "administrator");
    let accounts = body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(
        accounts[0],
        json!({"id": s.account_id, "name": "Acme", "active_at": null, "role": "agent"})
    );
}
