//! The caller's profile (§2.9; case 73).

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_profile_shows_the_users_own_id_email_and_access_token_at_both_paths() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    for path in ["/api/v1/profile", "/profile"] {
        let (status, body) = app.get(path, Some(&s.agent)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["id"], s.agent_id);
        assert_eq!(body["email"], format!("user{}@example.com", s.agent_id));
        assert_eq!(body["access_token"], s.agent);
        assert_eq!(body["account_id"], s.account_id);
        assert_eq!(body["role"], "agent");
        assert_eq!(body["inviter_id"], json!(null));
    }
}

#[tokio::test]
async fn the_profile_needs_a_user_token() {
    let app = TestApp::spawn().await;
    let bot = app.agent_bot().await;
    let (_, platform) = app.platform_app().await;
    let (status, body) = app.get("/api/v1/profile", None).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"errors": ["You need to sign in or sign up before continuing."]})
        )
    );
    let (status, body) = app.get("/api/v1/profile", Some(&bot)).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "Access to this endpoint is not authorized for bots"})
        )
    );
    for token in ["invalid", platform.as_str()] {
        let (status, body) = app.get("/api/v1/profile", Some(token)).await;
        assert_eq!(
            (status, body),
            (401, json!({"error": "Invalid Access Token"}))
        );
    }
}
