//! Agent bots (platform and account APIs), the inbox's agent bot, bot tokens,
//! SSO login links, and deletions that leave nothing behind.

use command_service::event_store::EventStore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};

const NOT_FOR_BOTS: &str = "Access to this endpoint is not authorized for bots";
const BOT_NOT_IN_ACCOUNT: &str = "Bot is not authorized to access this account";

async fn other_platform_app(app: &TestApp) -> String {
    let store = EventStore::new(app.env.pool.clone());
    command_service::admin::create_platform_app(&store, &app.env.settings.token_secret, "other")
        .await
        .unwrap()
        .1
}

async fn api_inbox(app: &TestApp, s: &Seeded, name: &str) -> i64 {
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": name, "channel": {"type": "api"}})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    inbox["id"].as_i64().unwrap()
}

/// A bot of the account made by its administrator: `(id, token)`.
async fn account_bot(app: &TestApp, s: &Seeded, name: &str) -> (i64, String) {
    let (status, bot) = app
        .json(
            Method::POST,
            &s.path("/agent_bots"),
            Some(&s.admin),
            Some(json!({"name": name, "outgoing_url": "https://bot.example/hook"})),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    (
        bot["id"].as_i64().unwrap(),
        bot["access_token"].as_str().unwrap().to_owned(),
    )
}

/// A global bot made by the tests' platform app: `(id, token)`.
async fn global_bot(app: &TestApp, name: &str) -> (i64, String) {
    let (status, bot) = app
        .json(
            Method::POST,
            "/platform/api/v1/agent_bots",
            Some(&app.platform_token),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["account_id"], Value::Null);
    (
        bot["id"].as_i64().unwrap(),
        bot["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn set_bot(app: &TestApp, s: &Seeded, inbox_id: i64, bot: Value) -> (u16, Value) {
    app.json(
        Method::POST,
        &s.path(&format!("/inboxes/{inbox_id}/set_agent_bot")),
        Some(&s.admin),
        Some(json!({ "agent_bot": bot })),
    )
    .await
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn cases_1_2_6_7_8_9_platform_agent_bots_for_the_app_that_made_them() {
    let app = TestApp::spawn().await;
    let p = Some(app.platform_token.as_str());
    let other = other_platform_app(&app).await;

    for token in [None, Some("invalid")] {
        let (status, body) = app
            .json(Method::GET, "/platform/api/v1/agent_bots", token, None)
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "Invalid access_token");
        let (status, _) = app
            .json(
                Method::POST,
                "/platform/api/v1/agent_bots",
                token,
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(status, 401);
    }

    // Case 6: no bots granted → [].
    let (status, body) = app
        .json(Method::GET, "/platform/api/v1/agent_bots", p, None)
        .await;
    assert_eq!((status, body), (200, json!([])));

    // Case 8: create → the bot, granted to the app.
    let (status, bot) = app
        .json(
            Method::POST,
            "/platform/api/v1/agent_bots",
            p,
            Some(
                json!({"name": "test", "description": "d", "outgoing_url": "https://b.example",
                        "bot_type": "webhook", "bot_config": {"k": 1}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["name"], "test");
    assert_eq!(bot["description"], "d");
    assert_eq!(bot["outgoing_url"], "https://b.example");
    assert_eq!(bot["bot_type"], "webhook");
    assert_eq!(bot["bot_config"], json!({"k": 1}));
    assert_eq!(bot["account_id"], Value::Null);
    assert_eq!(bot["access_token"].as_str().unwrap().len(), 48);
    let bot_id = bot["id"].as_i64().unwrap();
    let (_, list) = app
        .json(Method::GET, "/platform/api/v1/agent_bots", p, None)
        .await;
    assert_eq!(ids(&list), vec![bot_id]);
    let path = format!("/platform/api/v1/agent_bots/{bot_id}");
    let (status, shown) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(status, 200);
    assert_eq!(shown, bot);

    // Case 7: another app sees none of it.
    let (_, list) = app
        .json(
            Method::GET,
            "/platform/api/v1/agent_bots",
            Some(&other),
            None,
        )
        .await;
    assert_eq!(list, json!([]));
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let (status, body) = app
            .json(method, &path, Some(&other), Some(json!({"name": "x"})))
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "Non permissible resource");
    }
    // Unknown id → 404 before the grant check; bad input → 422, nothing written.
    let (status, _) = app
        .json(Method::GET, "/platform/api/v1/agent_bots/999999", p, None)
        .await;
    assert_eq!(status, 404);
    let before = app.event_count().await;
    for body in [
        json!({"name": ""}),
        json!({"name": "x", "bot_type": "csml"}),
        json!({"name": "x", "account_id": 999999}),
    ] {
        let (status, err) = app
            .json(Method::POST, "/platform/api/v1/agent_bots", p, Some(body))
            .await;
        assert_eq!(status, 422, "{err}");
    }
    assert_eq!(app.event_count().await, before);

    // Case 9: update, then delete; the token stops working.
    let (status, updated) = app
        .json(Method::PATCH, &path, p, Some(json!({"name": "test123"})))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "test123");
    assert_eq!(updated["description"], "d");
    let (status, body) = app.json(Method::DELETE, &path, p, None).await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = app
        .json(Method::GET, "/platform/api/v1/agent_bots", p, None)
        .await;
    assert_eq!(list, json!([]));
    let (status, _) = app.json(Method::GET, &path, p, None).await;
    assert_eq!(status, 404);
    let tokens: i64 = sqlx::query_scalar(
        "select (select count(*) from write_model.access_tokens where owner_type = 'agent_bot') \
              + (select count(*) from read_model.access_tokens where owner_type = 'agent_bot')",
    )
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(tokens, 0);
}

#[tokio::test]
async fn platform_bots_go_only_into_accounts_the_app_manages() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = other_platform_app(&app).await;
    let (status, body) = app
        .json(
            Method::POST,
            "/platform/api/v1/agent_bots",
            Some(&other),
            Some(json!({"name": "intruder", "account_id": s.account_id})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, bot) = app
        .json(
            Method::POST,
            "/platform/api/v1/agent_bots",
            Some(&app.platform_token),
            Some(json!({"name": "mine", "account_id": s.account_id})),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["account_id"], s.account_id);
    let (_, list) = app
        .json(Method::GET, &s.path("/agent_bots"), Some(&s.agent), None)
        .await;
    assert_eq!(ids(&list), vec![bot["id"].as_i64().unwrap()]);
}

#[tokio::test]
async fn cases_20_21_22_23_24_account_agent_bots_own_and_global() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let t = app.with_account().await;
    let (global, _) = global_bot(&app, "global").await;
    let (own, _) = account_bot(&app, &s, "own").await;
    let (theirs, _) = account_bot(&app, &t, "theirs").await;

    // Case 20: the list has the account's bots and the global ones, for any member.
    for token in [&s.admin, &s.agent] {
        let (status, list) = app
            .json(Method::GET, &s.path("/agent_bots"), Some(token), None)
            .await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(ids(&list), vec![global, own]);
    }
    let (_, list) = app
        .json(Method::GET, &s.path("/agent_bots"), Some(&s.admin), None)
        .await;
    // Administrators see their own bot's token; a global bot's URL and token stay hidden.
    assert!(list[1]["access_token"].is_string());
    assert_eq!(list[1]["outgoing_url"], "https://bot.example/hook");
    assert_eq!(list[1]["system_bot"], false);
    assert!(list[0].get("access_token").is_none());
    assert!(list[0].get("outgoing_url").is_none());
    assert_eq!(list[0]["system_bot"], true);
    let (_, list) = app
        .json(Method::GET, &s.path("/agent_bots"), Some(&s.agent), None)
        .await;
    assert!(list[1].get("access_token").is_none());

    // Case 21: show a global bot, the own bot; another account's bot is a 404.
    for (bot, expected) in [(global, 200), (own, 200), (theirs, 404), (999999, 404)] {
        let (status, body) = app
            .json(
                Method::GET,
                &s.path(&format!("/agent_bots/{bot}")),
                Some(&s.agent),
                None,
            )
            .await;
        assert_eq!(status, expected, "{bot}: {body}");
    }

    // Case 22: agents may not create.
    let before = app.event_count().await;
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/agent_bots"),
            Some(&s.agent),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "You are not authorized to do this action");
    assert_eq!(app.event_count().await, before);

    // Case 23: a global bot or another account's bot is a 404 to update; agents 401.
    for bot in [global, theirs] {
        let (status, _) = app
            .json(
                Method::PATCH,
                &s.path(&format!("/agent_bots/{bot}")),
                Some(&s.admin),
                Some(json!({"name": "hijacked"})),
            )
            .await;
        assert_eq!(status, 404);
    }
    let (_, g) = app
        .json(
            Method::GET,
            &s.path(&format!("/agent_bots/{global}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(g["name"], "global");
    let (status, _) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/agent_bots/{own}")),
            Some(&s.agent),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/agent_bots/{own}")),
            Some(&s.admin),
            Some(json!({"name": "renamed", "description": "helps"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "renamed");
    assert_eq!(body["description"], "helps");

    // Another account's administrator cannot reach this account at all.
    let (status, _) = app
        .json(Method::GET, &s.path("/agent_bots"), Some(&t.admin), None)
        .await;
    assert_eq!(status, 401);

    // Case 24: agents may not delete; deleting a global bot is a 404; the
    // administrator deletes the own bot and the account stays (v1.17's bug not copied).
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/agent_bots/{own}")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/agent_bots/{global}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/agent_bots/{own}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = app
        .json(Method::GET, &s.path("/agent_bots"), Some(&s.admin), None)
        .await;
    assert_eq!(ids(&list), vec![global]);
    let (status, account) = app
        .json(
            Method::GET,
            &format!("/platform/api/v1/accounts/{}", s.account_id),
            Some(&app.platform_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{account}");
}

#[tokio::test]
async fn cases_62_63_inbox_agent_bot_set_show_and_remove() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let t = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    let (bot, _) = account_bot(&app, &s, "Helper").await;
    let (theirs, _) = account_bot(&app, &t, "Theirs").await;
    let show = s.path(&format!("/inboxes/{inbox}/agent_bot"));

    // Case 62: none set → an empty agent_bot, for any member.
    for token in [&s.admin, &s.agent] {
        let (status, body) = app.json(Method::GET, &show, Some(token), None).await;
        assert_eq!((status, body), (200, json!({"agent_bot": {}})));
    }

    // Case 63: agents may not set; 0, unknown and another account's bots are 404s.
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/inboxes/{inbox}/set_agent_bot")),
            Some(&s.agent),
            Some(json!({"agent_bot": bot})),
        )
        .await;
    assert_eq!(status, 401);
    let before = app.event_count().await;
    for wrong in [json!(0), json!(999999), json!(theirs)] {
        let (status, body) = set_bot(&app, &s, inbox, wrong.clone()).await;
        assert_eq!(status, 404, "{wrong}: {body}");
    }
    let (status, _) = set_bot(&app, &s, 999999, json!(bot)).await;
    assert_eq!(status, 404);
    assert_eq!(app.event_count().await, before);

    let (status, body) = set_bot(&app, &s, inbox, json!(bot)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.json(Method::GET, &show, Some(&s.agent), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["agent_bot"]["name"], "Helper");
    assert_eq!(body["agent_bot"]["id"], bot);
    assert!(body["agent_bot"].get("access_token").is_none());
    // Setting the same bot again records nothing.
    let before = app.event_count().await;
    let (status, _) = set_bot(&app, &s, inbox, json!(bot)).await;
    assert_eq!(status, 200);
    assert_eq!(app.event_count().await, before);

    let (status, _) = set_bot(&app, &s, inbox, Value::Null).await;
    assert_eq!(status, 200);
    let (_, body) = app.json(Method::GET, &show, Some(&s.admin), None).await;
    assert_eq!(body, json!({"agent_bot": {}}));

    // A global bot may serve any account's inbox.
    let (global, _) = global_bot(&app, "Global").await;
    let (status, _) = set_bot(&app, &s, inbox, json!(global)).await;
    assert_eq!(status, 200);
    let (_, body) = app.json(Method::GET, &show, Some(&s.admin), None).await;
    assert_eq!(body["agent_bot"]["id"], global);
    // Another account's inbox is a 404.
    let (status, _) = app
        .json(
            Method::GET,
            &t.path(&format!("/inboxes/{inbox}/agent_bot")),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn case_66_bot_tokens_act_only_where_the_bot_is_connected() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let t = app.with_account().await;
    let inbox = api_inbox(&app, &s, "Support").await;
    let (bot, bot_token) = account_bot(&app, &s, "Helper").await;
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox})),
        )
        .await;
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let create = json!({"contact_id": contact_id, "inbox_id": inbox});

    // Not connected yet: refused on the routes bots may call.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&bot_token),
            Some(create.clone()),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], BOT_NOT_IN_ACCOUNT);

    let (status, _) = set_bot(&app, &s, inbox, json!(bot)).await;
    assert_eq!(status, 200);

    // Connected: create a conversation (pending: the inbox has a bot),
    // toggle its status, post a message.
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&bot_token),
            Some(create.clone()),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["status"], "pending");
    let display_id = conv["id"].as_i64().unwrap();
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/toggle_status")),
            Some(&bot_token),
            Some(json!({"status": "open"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, message) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/messages")),
            Some(&bot_token),
            Some(json!({"content": "Hello from the bot", "message_type": "outgoing"})),
        )
        .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["content"], "Hello from the bot");

    // Everything else is closed to bots: other writes and every read.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&bot_token),
            Some(json!({"name": "bots"})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], NOT_FOR_BOTS);
    for path in [
        "/conversations",
        "/agent_bots",
        "/inboxes",
        &format!("/conversations/{display_id}/messages"),
    ] {
        let (status, body) = app
            .json(Method::GET, &s.path(path), Some(&bot_token), None)
            .await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], NOT_FOR_BOTS);
    }
    // Platform routes refuse bot tokens.
    let (status, _) = app
        .json(
            Method::GET,
            "/platform/api/v1/agent_bots",
            Some(&bot_token),
            None,
        )
        .await;
    assert_eq!(status, 401);

    // Another account, where the bot is not connected.
    let other_inbox = api_inbox(&app, &t, "Other").await;
    let (status, body) = app
        .json(
            Method::POST,
            &t.path("/conversations"),
            Some(&bot_token),
            Some(json!({"contact_id": contact_id, "inbox_id": other_inbox})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], BOT_NOT_IN_ACCOUNT);

    // Disconnected: refused again. Deleted: the token is unknown.
    let (status, _) = set_bot(&app, &s, inbox, Value::Null).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&bot_token),
            Some(create.clone()),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], BOT_NOT_IN_ACCOUNT);
    let (status, _) = set_bot(&app, &s, inbox, json!(bot)).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/agent_bots/{bot}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&bot_token),
            Some(create),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "Invalid Access Token");
    // Deleting the bot disconnected it from the inbox.
    let (_, body) = app
        .json(
            Method::GET,
            &s.path(&format!("/inboxes/{inbox}/agent_bot")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(body, json!({"agent_bot": {}}));
    let has_bot: bool =
        sqlx::query_scalar("select has_agent_bot from write_model.inboxes where id = $1")
            .bind(inbox)
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert!(!has_bot);
}

fn sso_token(url: &str) -> String {
    url.split("sso_auth_token=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn case_10_sso_login_link_is_single_use_and_expires() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = other_platform_app(&app).await;
    let login = format!("/platform/api/v1/users/{}/login", s.agent_id);

    for token in [None, Some("invalid"), Some(s.admin.as_str())] {
        let (status, _) = app.json(Method::GET, &login, token, None).await;
        assert_eq!(status, 401);
    }
    let (status, body) = app.json(Method::GET, &login, Some(&other), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "Non permissible resource");
    let (status, _) = app
        .json(
            Method::GET,
            "/platform/api/v1/users/999999/login",
            Some(&app.platform_token),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, body) = app
        .json(Method::GET, &login, Some(&app.platform_token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(url.contains("/app/login?email=al.agent-"), "{url}");
    assert!(url.contains("%40example.com&sso_auth_token="), "{url}");
    let token = sso_token(url);
    assert_eq!(token.len(), 64);
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from write_model.sso_tokens where token_hash = $1 or token_hash = $2",
    )
    .bind(&token)
    .bind(infra::tokens::hash(&token))
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let stored_plain: i64 =
        sqlx::query_scalar("select count(*) from write_model.sso_tokens where token_hash = $1")
            .bind(&token)
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(stored_plain, 0);

    let (_, profile) = app
        .json(Method::GET, "/api/v1/profile", Some(&s.agent), None)
        .await;
    let email = profile["email"].as_str().unwrap().to_owned();
    let sign_in = |email: &str, token: &str| {
        let body = json!({"email": email, "sso_auth_token": token});
        let app = &app;
        async move {
            app.json(Method::POST, "/auth/sign_in", None, Some(body))
                .await
        }
    };
    // The wrong e-mail does not redeem (nor spend) it.
    let (status, body) = sign_in("someone@example.com", &token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["success"], false);
    let (status, body) = sign_in(&email.to_uppercase(), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["id"], s.agent_id);
    assert_eq!(body["data"]["access_token"], s.agent.as_str());
    // Second use.
    let (status, _) = sign_in(&email, &token).await;
    assert_eq!(status, 401);
    // Expired: a fresh token whose expiry is moved into the past.
    let (_, body) = app
        .json(Method::GET, &login, Some(&app.platform_token), None)
        .await;
    let token = sso_token(body["url"].as_str().unwrap());
    sqlx::query(
        "update write_model.sso_tokens set expires_at = now() - interval '1 second' \
         where token_hash = $1",
    )
    .bind(infra::tokens::hash(&token))
    .execute(&app.env.pool)
    .await
    .unwrap();
    let (status, _) = sign_in(&email, &token).await;
    assert_eq!(status, 401);
    // No token, no password login.
    let (status, _) = app
        .json(
            Method::POST,
            "/auth/sign_in",
            None,
            Some(json!({"email": email, "password": "Secret123!"})),
        )
        .await;
    assert_eq!(status, 401);
}

/// Rows of `account_id` in every read-model table that has that column.
async fn rows_of_account(app: &TestApp, account_id: i64) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.columns \
         where table_schema = 'read_model' and column_name = 'account_id' order by table_name",
    )
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!(
            "select count(*) from read_model.{table} where account_id = $1"
        ))
        .bind(account_id)
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
        counts.push((table, n));
    }
    counts
}

#[tokio::test]
async fn deleting_an_account_or_a_user_leaves_nothing_of_them_in_the_read_model() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let p = Some(app.platform_token.as_str());
    let inbox = api_inbox(&app, &s, "Support").await;
    let (bot, bot_token) = account_bot(&app, &s, "Helper").await;
    let (global, _) = global_bot(&app, "Global").await;
    let (status, _) = set_bot(&app, &s, inbox, json!(bot)).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": inbox, "user_ids": [s.agent_id]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, team) = app
        .json(
            Method::POST,
            &s.path("/teams"),
            Some(&s.admin),
            Some(json!({"name": "support"})),
        )
        .await;
    assert_eq!(status, 200, "{team}");
    let team_id = team["id"].as_i64().unwrap();
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/teams/{team_id}/team_members")),
            Some(&s.admin),
            Some(json!({"user_ids": [s.agent_id, s.admin_id]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "C", "inbox_id": inbox})),
        )
        .await;
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&bot_token),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    let display_id = conv["id"].as_i64().unwrap();
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/messages")),
            Some(&bot_token),
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(status, 200);
    // Every kind of row an account can own, so that each table is checked.
    let (status, hook) = app
        .json(
            Method::POST,
            &s.path("/integrations/hooks"),
            Some(&s.admin),
            Some(json!({"app_id": "webhook", "settings": {"url": "https://example.com/hook"}})),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    // ---- webhooks ----
    let (status, webhook) = app
        .json(
            Method::POST,
            &s.path("/webhooks"),
            Some(&s.admin),
            Some(json!({"url": "https://example.com/account-hook"})),
        )
        .await;
    assert_eq!(status, 200, "{webhook}");
    // A PNG, as a message attachment and as the inbox's avatar.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89,
    ];
    let png = || reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("a.png");
    for (path, form) in [
        (
            format!("/conversations/{display_id}/messages"),
            reqwest::multipart::Form::new()
                .text("content", "see attached")
                .part("attachments[]", png()),
        ),
        (
            format!("/inboxes/{inbox}"),
            reqwest::multipart::Form::new().part("avatar", png()),
        ),
    ] {
        let method = if path.contains("/messages") {
            Method::POST
        } else {
            Method::PATCH
        };
        let res = app
            .client
            .request(method, format!("{}{}", app.command_url, s.path(&path)))
            .header("api_access_token", &s.admin)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}: {}", res.text().await.unwrap());
    }
    // ---- reports ----
    // A resolution, so every report table has a row of the account.
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/toggle_status")),
            Some(&s.admin),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(rows_of_account(&app, s.account_id)
        .await
        .iter()
        .all(|(_, n)| *n > 0));

    // Deleting a user removes their memberships, team and inbox memberships and token.
    let (status, _) = app
        .json(
            Method::DELETE,
            &format!("/platform/api/v1/users/{}", s.agent_id),
            p,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from read_model.users where id = $1) \
              + (select count(*) from read_model.account_users where user_id = $1) \
              + (select count(*) from read_model.inbox_members where user_id = $1) \
              + (select count(*) from read_model.team_members where user_id = $1) \
              + (select count(*) from read_model.access_tokens where owner_type = 'user' and owner_id = $1) \
              + (select count(*) from read_model.platform_app_permissibles where target_kind = 'user' and target_id = $1)",
    )
    .bind(s.agent_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let (status, _) = app
        .json(Method::GET, "/api/v1/profile", Some(&s.agent), None)
        .await;
    assert_eq!(status, 401);

    // Deleting the account removes every row of it, its bots and their tokens.
    let (status, _) = app
        .json(
            Method::DELETE,
            &format!("/platform/api/v1/accounts/{}", s.account_id),
            p,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let remaining: Vec<_> = rows_of_account(&app, s.account_id)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(remaining.is_empty(), "{remaining:?}");
    let bot_rows: i64 = sqlx::query_scalar(
        "select (select count(*) from read_model.access_tokens where owner_type = 'agent_bot' and owner_id = $1) \
              + (select count(*) from write_model.access_tokens where owner_type = 'agent_bot' and owner_id = $1) \
              + (select count(*) from read_model.platform_app_permissibles where target_kind = 'account' and target_id = $2)",
    )
    .bind(bot)
    .bind(s.account_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(bot_rows, 0);
    let (status, _) = app
        .json(
            Method::GET,
            &format!("/platform/api/v1/agent_bots/{bot}"),
            p,
            None,
        )
        .await;
    assert_eq!(status, 404);
    // A global bot outlives the account it served.
    let (status, _) = app
        .json(
            Method::GET,
            &format!("/platform/api/v1/agent_bots/{global}"),
            p,
            None,
        )
        .await;
    assert_eq!(status, 200);
}
