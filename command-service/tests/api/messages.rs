//! Messages, labels, activity messages and conversation search, end to end
//! through the command service, relay, projection and query service.
//! Test names cite the behaviour notes' conformance cases (§4) where one applies.

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};

/// An inbox of the given channel, a contact in it and a conversation:
/// `(display id, contact id)`.
async fn conversation(app: &TestApp, s: &Seeded, channel: Value) -> (i64, i64) {
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": "In", "channel": channel})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    let inbox_id = inbox["id"].as_i64().unwrap();
    let (status, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "Carl Contact", "email": format!("c{}@example.com", uuid::Uuid::new_v4().simple()), "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    (conv["id"].as_i64().unwrap(), contact_id)
}

async fn api_conversation(app: &TestApp, s: &Seeded) -> (i64, i64) {
    conversation(app, s, json!({"type": "api", "webhook_url": ""})).await
}

async fn post(app: &TestApp, s: &Seeded, display_id: i64, body: Value) -> (u16, Value) {
    app.json(
        Method::POST,
        &s.path(&format!("/conversations/{display_id}/messages")),
        Some(&s.admin),
        Some(body),
    )
    .await
}

async fn messages(app: &TestApp, s: &Seeded, display_id: i64, query: &str) -> Value {
    let (status, body) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}/messages{query}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn ids(list: &Value) -> Vec<i64> {
    list["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn messages_are_listed_twenty_at_a_time_with_before_and_after_cursors_case_67() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, contact_id) = api_conversation(&app, &s).await;
    let mut posted = Vec::new();
    for i in 0..23 {
        let (status, m) = post(&app, &s, display_id, json!({"content": format!("m{i}")})).await;
        assert_eq!(status, 200, "{m}");
        assert_eq!(m["message_type"], 1);
        assert_eq!(m["conversation_id"], display_id);
        posted.push(m["id"].as_i64().unwrap());
    }

    let page = messages(&app, &s, display_id, "").await;
    assert_eq!(ids(&page), posted[3..].to_vec(), "newest 20, oldest first");
    assert_eq!(page["meta"]["contact"]["id"], contact_id);
    assert_eq!(page["meta"]["labels"], json!([]));
    assert_eq!(page["payload"][0]["content_type"], "text");
    assert_eq!(page["payload"][0]["sender"]["type"], "user");

    let older = messages(&app, &s, display_id, &format!("?before={}", posted[3])).await;
    assert_eq!(ids(&older), posted[..3].to_vec());

    let newer = messages(&app, &s, display_id, &format!("?after={}", posted[20])).await;
    assert_eq!(ids(&newer), posted[21..].to_vec());

    let between = messages(
        &app,
        &s,
        display_id,
        &format!("?after={}&before={}", posted[0], posted[3]),
    )
    .await;
    assert_eq!(ids(&between), posted[1..3].to_vec());
}

#[tokio::test]
async fn a_private_note_is_created_and_echo_id_comes_back_case_64() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    let (status, m) = post(
        &app,
        &s,
        display_id,
        json!({"content": "test-message", "private": "true", "echo_id": "abc-1", "message_type": "outgoing"}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content"], "test-message");
    assert_eq!(m["private"], true);
    assert_eq!(m["echo_id"], "abc-1");
    assert!(m["id"].as_i64().is_some());

    let list = messages(&app, &s, display_id, "").await;
    assert_eq!(list["payload"].as_array().unwrap().len(), 1);
    assert_eq!(list["payload"][0]["content"], "test-message");
    assert!(list["payload"][0].get("echo_id").is_none(), "not persisted");
    let internal = messages(&app, &s, display_id, "?filter_internal_messages=true").await;
    assert_eq!(internal["payload"], json!([]));
}

#[tokio::test]
async fn a_messages_answer_is_the_message_as_its_thread_lists_it() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    // Without files, the answer is rendered without looking for attachments.
    let (status, answer) = post(
        &app,
        &s,
        display_id,
        json!({"content": "no files here", "message_type": "outgoing"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("attachments").is_none(), "{answer}");

    let list = messages(&app, &s, display_id, "").await;
    assert_eq!(list["payload"][0], answer);
}

#[tokio::test]
async fn input_select_and_cards_are_accepted_and_invalid_items_are_422_case_66() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    let (status, m) = post(
        &app,
        &s,
        display_id,
        json!({"content_type": "input_select", "content_attributes": {"items": [
            {"title": "a", "value": "a"}, {"title": "b", "value": "b"}]}}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content_type"], "input_select");
    assert_eq!(m["content"], Value::Null);
    let (status, m) = post(
        &app,
        &s,
        display_id,
        json!({"content": "c", "content_type": "cards", "content_attributes": {"items": [
            {"title": "t", "description": "d", "media_url": "https://x/y.png",
             "actions": [{"type": "link", "text": "View", "uri": "https://x"}]}]}}),
    )
    .await;
    assert_eq!(status, 200, "{m}");

    let before = app.event_count().await;
    for bad in [
        json!({"content_type": "input_select", "content_attributes": {"items": []}}),
        json!({"content_type": "input_select", "content_attributes": {"items": [{"nope": 1}]}}),
        json!({"content_type": "cards", "content_attributes": {"items": [{"title": "t"}]}}),
        json!({"content": "x", "content_type": "video"}),
        json!({"content": "x", "message_type": "activity"}),
        json!({"content": "x", "message_type": 7}),
        json!({"content": ""}),
    ] {
        let (status, body) = post(&app, &s, display_id, bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {body}");
        assert!(body.get("id").is_none(), "{body}");
    }
    assert_eq!(app.event_count().await, before, "nothing written");
}

#[tokio::test]
async fn incoming_messages_are_refused_outside_api_inboxes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = conversation(
        &app,
        &s,
        json!({"type": "web_widget", "website_url": "example.com"}),
    )
    .await;
    let before = app.event_count().await;
    let (status, body) = post(
        &app,
        &s,
        display_id,
        json!({"content": "hi", "message_type": "incoming"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            422,
            json!({"error": "Incoming messages are only allowed in Api inboxes"})
        )
    );
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn an_incoming_message_reopens_a_resolved_conversation_case_70() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, contact_id) = api_conversation(&app, &s).await;
    let (status, t) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/toggle_status")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["payload"]["current_status"], "resolved");

    let (status, m) = post(
        &app,
        &s,
        display_id,
        json!({"content": "back again", "message_type": 0}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["message_type"], 0);
    assert_eq!(m["sender"]["type"], "contact");
    assert_eq!(m["sender"]["id"], contact_id);

    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(conv["status"], "open");
    assert!(conv["timestamp"].as_i64().unwrap() >= m["created_at"].as_i64().unwrap());
    assert_eq!(conv["last_non_activity_message"]["id"], m["id"]);
    assert_eq!(conv["unread_count"], 1);

    let list = messages(&app, &s, display_id, "").await;
    let contents: Vec<(i64, String)> = list["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["message_type"].as_i64().unwrap(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        contents,
        vec![
            (
                2,
                "Conversation was marked resolved by Ada Admin".to_owned()
            ),
            (0, "back again".to_owned()),
            (
                2,
                "System reopened the conversation due to a new incoming message.".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_message_is_soft_deleted_and_unknown_ids_are_404_case_68() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    let (other_display_id, _) = api_conversation(&app, &s).await;
    let (_, m) = post(&app, &s, display_id, json!({"content": "oops"})).await;
    let id = m["id"].as_i64().unwrap();

    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/conversations/{other_display_id}/messages/{id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404, "a message of another conversation");
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/conversations/{display_id}/messages/999999")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, deleted) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/conversations/{display_id}/messages/{id}")),
            Some(&s.agent),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["id"], id);
    assert_eq!(deleted["content"], "This message was deleted");
    assert_eq!(deleted["content_attributes"]["deleted"], true);
    let list = messages(&app, &s, display_id, "").await;
    assert_eq!(list["payload"][0]["content"], "This message was deleted");
}

#[tokio::test]
async fn unknown_conversations_are_404_and_other_accounts_are_refused() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    for (method, path) in [
        (Method::POST, "/conversations/999/messages"),
        (Method::GET, "/conversations/999/messages"),
        (Method::DELETE, "/conversations/999/messages/1"),
        (Method::POST, "/conversations/999/labels"),
        (Method::GET, "/conversations/999/labels"),
        (Method::GET, "/conversations/abc/messages"),
    ] {
        let (status, body) = app
            .json(
                method.clone(),
                &s.path(path),
                Some(&s.admin),
                Some(json!({"content": "x"})),
            )
            .await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body, json!({"error": "Resource could not be found"}));
    }
    // A member of another account, on this account's conversation.
    for method in [Method::POST, Method::GET] {
        let (status, _) = app
            .json(
                method.clone(),
                &s.path(&format!("/conversations/{display_id}/messages")),
                Some(&other.admin),
                Some(json!({"content": "x"})),
            )
            .await;
        assert_eq!(status, 401, "{method}");
    }
    // Their own account does not have this display id's messages.
    let (status, _) = app
        .json(
            Method::POST,
            &other.path(&format!("/conversations/{display_id}/messages")),
            Some(&other.admin),
            Some(json!({"content": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}/messages")),
            None,
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_display_id_asked_for_before_its_conversation_exists_is_found_once_it_does() {
    // The command service remembers display id → conversation id, but only
    // for conversations it found: a miss must not stick.
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, _) = post(&app, &s, 1, json!({"content": "too early"})).await;
    assert_eq!(status, 404);
    let (display_id, _) = api_conversation(&app, &s).await;
    assert_eq!(display_id, 1, "the account's first conversation");
    for content in ["now", "and again"] {
        let (status, body) = post(&app, &s, display_id, json!({"content": content})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["content"], content);
    }
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display_id}/labels")),
            Some(&s.admin),
            Some(json!({"labels": ["found"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn labels_are_overwritten_shown_filtered_and_recorded_as_activity_case_56_57() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    let (other_id, _) = api_conversation(&app, &s).await;
    let labels_path = s.path(&format!("/conversations/{display_id}/labels"));

    let (status, body) = app
        .json(
            Method::POST,
            &labels_path,
            Some(&s.admin),
            Some(json!({"labels": ["label1", "label2"]})),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"payload": ["label1", "label2"]}))
    );
    let (status, body) = app
        .json(Method::GET, &labels_path, Some(&s.admin), None)
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"payload": ["label1", "label2"]}))
    );

    let (status, body) = app
        .json(
            Method::POST,
            &labels_path,
            Some(&s.admin),
            Some(json!({"labels": ["label3", "label4"]})),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"payload": ["label3", "label4"]}))
    );

    let (_, conv) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(conv["labels"], json!(["label3", "label4"]));

    let (_, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?labels[]=label4&labels[]=zzz"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 1, "{list}");
    assert_eq!(list["data"]["payload"][0]["id"], display_id);
    let (_, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?labels=label1"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 0, "{list}");
    let (_, list) = app
        .json(Method::GET, &s.path("/conversations"), Some(&s.admin), None)
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 2);
    let _ = other_id;

    let activity: Vec<String> = messages(&app, &s, display_id, "").await["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        activity,
        vec![
            "Ada Admin added label1, label2",
            "Ada Admin added label3, label4",
            "Ada Admin removed label1, label2",
        ]
    );

    let (status, body) = app
        .json(Method::POST, &labels_path, Some(&s.admin), Some(json!({})))
        .await;
    assert_eq!((status, body), (200, json!({"payload": []})));
}

#[tokio::test]
async fn q_searches_message_content_and_lists_show_the_last_message_case_38_39_41() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (first, contact_id) = api_conversation(&app, &s).await;
    let (second, _) = api_conversation(&app, &s).await;
    let (empty, _) = api_conversation(&app, &s).await;
    let (_, m1) = post(&app, &s, first, json!({"content": "test1"})).await;
    post(&app, &s, second, json!({"content": "test2"})).await;

    let (_, list) = app
        .json(
            Method::GET,
            &s.path("/conversations?q=TEST1"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(list["data"]["meta"]["all_count"], 1, "{list}");
    assert_eq!(list["data"]["payload"][0]["id"], first);
    assert_eq!(
        list["data"]["payload"][0]["messages"][0]["content"],
        "test1"
    );
    assert_eq!(list["data"]["payload"][0]["messages"][0]["id"], m1["id"]);

    let (_, list) = app
        .json(Method::GET, &s.path("/conversations"), Some(&s.admin), None)
        .await;
    let payload = list["data"]["payload"].as_array().unwrap();
    let of = |id: i64| payload.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(of(empty)["messages"], json!([]));
    assert_eq!(of(empty)["last_non_activity_message"], Value::Null);
    // The newest activity comes first.
    assert_eq!(payload[0]["id"], second, "{list}");

    let (status, mine) = app
        .json(
            Method::GET,
            &s.path(&format!("/contacts/{contact_id}/conversations")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["payload"][0]["id"], first);
}

#[tokio::test]
async fn an_agents_message_does_not_queue_behind_a_command_holding_its_conversation() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (display_id, _) = api_conversation(&app, &s).await;
    let conversation_id: i64 = sqlx::query_scalar(
        "select id from write_model.conversations where account_id = $1 and display_id = $2",
    )
    .bind(s.account_id)
    .bind(display_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    // Another command on the conversation, mid-transaction, holds its lock.
    let mut holder = app.env.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("conversation:{conversation_id}"))
        .execute(&mut *holder)
        .await
        .unwrap();
    // An outgoing message only reads the conversation: it goes through now.
    let reply = post(
        &app,
        &s,
        display_id,
        json!({"content": "on its way", "message_type": "outgoing"}),
    );
    let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(20), reply)
        .await
        .expect("the reply does not wait for the conversation's lock");
    assert_eq!(status, 200, "{body}");
    // An incoming one may reopen the conversation, so it waits its turn.
    let incoming = post(
        &app,
        &s,
        display_id,
        json!({"content": "hello?", "message_type": "incoming"}),
    );
    tokio::pin!(incoming);
    // The real signal: its transaction waits on the advisory lock.
    let queued = crate::helpers::someone_waits_on_an_advisory_lock(
        &app.env.pool,
        "the incoming message waiting on the lock",
    );
    tokio::select! {
        answer = &mut incoming => panic!("the incoming message did not queue: {answer:?}"),
        _ = queued => {}
    }
    holder.rollback().await.unwrap();
    let (status, body) = incoming.await;
    assert_eq!(status, 200, "{body}");
}
