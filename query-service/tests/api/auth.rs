//! Who may read the account API (§1.1 and case 17).

use reqwest::header::HeaderMap;
use serde_json::json;

use crate::helpers::TestApp;

fn account_paths(account_id: i64) -> Vec<String> {
    [
        "/inboxes",
        "/contacts",
        "/contacts/search?q=a",
        "/contacts/1",
        "/contacts/1/contactable_inboxes",
        "/contacts/1/conversations",
        "/conversations",
        "/conversations/meta",
        "/conversations/1",
    ]
    .iter()
    .map(|rest| format!("/api/v1/accounts/{account_id}{rest}"))
    .collect()
}

#[tokio::test]
async fn every_account_route_without_credentials_gets_devises_401() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    for path in account_paths(s.account_id) {
        let (status, body) = app.get(&path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(
            body,
            json!({"errors": ["You need to sign in or sign up before continuing."]}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_unknown_token_gets_invalid_access_token() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    for path in account_paths(s.account_id) {
        let (status, body) = app.get(&path, Some("invalid")).await;
        assert_eq!(
            (status, body),
            (401, json!({"error": "Invalid Access Token"})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_platform_app_token_is_not_valid_on_the_account_api() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (app_id, platform) = app.platform_app().await;
    app.grant(app_id, "account", s.account_id).await;
    let (status, body) = app.get(&s.path("/inboxes"), Some(&platform)).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "Invalid Access Token"}))
    );
}

#[tokio::test]
async fn an_agent_bot_token_is_refused_on_every_read() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let bot = app.agent_bot().await;
    let mut paths = account_paths(s.account_id);
    paths.push("/api/v1/profile".into());
    for path in paths {
        let (status, body) = app.get(&path, Some(&bot)).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({"error": "Access to this endpoint is not authorized for bots"})
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_user_of_another_account_gets_401_and_an_unknown_account_is_404() {
    let app = TestApp::spawn().await;
    let a = app.with_account().await;
    let b = app.with_account().await;
    for path in account_paths(a.account_id) {
        let (status, body) = app.get(&path, Some(&b.admin)).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({"error": "You are not authorized to access this account"})
            ),
            "{path}"
        );
    }
    for path in account_paths(999_999) {
        let (status, body) = app.get(&path, Some(&a.admin)).await;
        assert_eq!(
            (status, body),
            (404, json!({"error": "Resource could not be found"})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_bearer_token_is_accepted_when_api_access_token_is_absent() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", s.admin).parse().unwrap(),
    );
    let (status, body) = app.get_with(&s.path("/inboxes"), headers).await;
    assert_eq!((status, body), (200, json!({"payload": []})));

    // api_access_token wins when both are sent.
    let mut headers = HeaderMap::new();
    headers.insert("api_access_token", "invalid".parse().unwrap());
    headers.insert(
        "authorization",
        format!("Bearer {}", s.admin).parse().unwrap(),
    );
    let (status, _) = app.get_with(&s.path("/inboxes"), headers).await;
    assert_eq!(status, 401);
}
