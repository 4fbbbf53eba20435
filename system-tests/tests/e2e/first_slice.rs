//! The first slice, end to end: the platform API sets up an account and an
//! administrator; the administrator opens an API inbox, a contact and a
//! conversation, sees it in the list at once (read-your-writes), resolves it,
//! and reads their profile. Requests and answers are Chatwoot's (see
//! chatwoot-api-behavior.md §2.1, §2.3, §2.4, §2.6, §2.9, §7).

use serde_json::json;

use crate::harness::System;

#[tokio::test]
async fn a_client_walks_the_first_slice_through_the_front_door() {
    let system = System::start().await;
    let api = system.client();
    let platform = system.platform_token();

    // Platform API: an account, a user, the user an administrator of the account.
    let account = api
        .post(
            "/platform/api/v1/accounts",
            platform,
            json!({"name": "Acme Support"}),
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    let account_id = account.body["id"].as_i64().expect("the account has an id");
    assert!(
        account
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty()),
        "the front door answers with the request id"
    );

    let user = api
        .post(
            "/platform/api/v1/users",
            platform,
            json!({"name": "Jane Agent", "email": "jane@acme.test", "password": "Password1!"}),
        )
        .await;
    assert_eq!(user.status, 200, "{}", user.body);
    let user_id = user.body["id"].as_i64().expect("the user has an id");
    let token = user.body["access_token"]
        .as_str()
        .expect("a platform user carries its access_token")
        .to_owned();

    let membership = api
        .post(
            &format!("/platform/api/v1/accounts/{account_id}/account_users"),
            platform,
            json!({"user_id": user_id, "role": "administrator"}),
        )
        .await;
    assert_eq!(membership.status, 200, "{}", membership.body);

    // Account API, as the administrator.
    let account_path = |rest: &str| format!("/api/v1/accounts/{account_id}{rest}");
    let inbox = api
        .post(
            &account_path("/inboxes"),
            &token,
            json!({"name": "Website API", "channel": {"type": "api", "webhook_url": ""}}),
        )
        .await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let inbox_id = inbox.body["id"].as_i64().expect("the inbox has an id");

    // Sent chunked, as the TypeScript SDK sends its bodies: the front door
    // must pass it through.
    let contact = api
        .post_chunked(
            &account_path("/contacts"),
            &token,
            json!({"name": "Sam Customer", "email": "sam@example.com", "inbox_id": inbox_id}),
        )
        .await;
    assert_eq!(contact.status, 200, "{}", contact.body);
    let contact_id = contact.body["payload"]["contact"]["id"].as_i64();
    assert!(contact_id.is_some(), "{}", contact.body);
    let source_id = contact.body["payload"]["contact_inbox"]["source_id"]
        .as_str()
        .expect("the contact was added to the inbox with a source id")
        .to_owned();

    let conversation = api
        .post(
            &account_path("/conversations"),
            &token,
            json!({"source_id": source_id, "inbox_id": inbox_id}),
        )
        .await;
    assert_eq!(conversation.status, 200, "{}", conversation.body);
    assert_eq!(conversation.body["id"], 1, "the account's first display_id");
    assert_eq!(conversation.body["status"], "open");
    assert_eq!(conversation.header("x-read-your-writes"), Some("visible"));
    let display_id = 1;

    // At once, no retry: the write answered only once the read model had it.
    let list = api.get(&account_path("/conversations"), &token).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let payload = list.body["data"]["payload"]
        .as_array()
        .expect("data.payload is a list");
    assert!(
        payload.iter().any(|c| c["id"] == display_id),
        "the new conversation is listed: {}",
        list.body
    );
    assert_eq!(list.body["data"]["meta"]["all_count"], 1, "{}", list.body);
    assert_eq!(
        list.body["data"]["meta"]["unassigned_count"], 1,
        "{}",
        list.body
    );

    let toggled = api
        .post(
            &account_path(&format!("/conversations/{display_id}/toggle_status")),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(toggled.status, 200, "{}", toggled.body);
    assert_eq!(toggled.body["payload"]["current_status"], "resolved");

    let open = api.get(&account_path("/conversations"), &token).await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert_eq!(
        open.body["data"]["meta"]["all_count"], 0,
        "no open conversation left"
    );
    let resolved = api
        .get(&account_path("/conversations?status=resolved"), &token)
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(
        resolved.body["data"]["meta"]["all_count"], 1,
        "{}",
        resolved.body
    );

    let profile = api.get("/api/v1/profile", &token).await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_eq!(profile.body["email"], "jane@acme.test");
    assert_eq!(profile.body["access_token"], token.as_str());
}
