//! Conversation reads (§2.4; cases 38-40, 42).

use serde_json::{json, Value};

use crate::helpers::{Conv, Seeded, TestApp};

fn ids(body: &Value) -> Vec<i64> {
    body["data"]["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

fn counts(mine: i64, unassigned: i64, all: i64) -> Value {
    json!({
        "mine_count": mine,
        "unassigned_count": unassigned,
        "assigned_count": all - unassigned,
        "all_count": all,
    })
}

#[tokio::test]
async fn a_conversation_without_messages_is_listed_with_its_counts_and_meta() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    app.inbox_member(s.account_id, inbox, s.agent_id).await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    let display_id = app
        .conversation(Conv::new(s.account_id, inbox, contact))
        .await;

    let (status, body) = app.get(&s.path("/conversations"), Some(&s.agent)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["meta"], counts(0, 1, 1));
    let c = &body["data"]["payload"][0];
    assert_eq!(c["id"], display_id);
    assert_eq!(c["messages"], json!([]));

    let (status, body) = app
        .get(&s.path("/conversations/meta"), Some(&s.agent))
        .await;
    assert_eq!((status, &body["meta"]), (200, &counts(0, 1, 1)));
}

#[tokio::test]
async fn a_conversation_is_shown_by_display_id_in_chatwoots_shape() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.widget_inbox(s.account_id, "Site").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    app.conversation(Conv::new(s.account_id, inbox, contact))
        .await;
    let display_id = app
        .conversation(
            Conv::new(s.account_id, inbox, contact)
                .status("pending")
                .assignee(s.admin_id),
        )
        .await;
    assert_eq!(display_id, 2);

    let (status, c) = app
        .get(
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["id"], 2);
    assert_eq!(c["account_id"], s.account_id);
    assert_eq!(c["inbox_id"], inbox);
    assert_eq!(c["status"], "pending");
    assert_eq!(c["messages"], json!([]));
    assert_eq!(c["muted"], false);
    assert_eq!(c["can_reply"], true);
    assert_eq!(c["unread_count"], 0);
    assert_eq!(c["agent_last_seen_at"], 0);
    assert_eq!(c["contact_last_seen_at"], 0);
    assert_eq!(c["labels"], json!([]));
    assert_eq!(c["priority"], json!(null));
    assert_eq!(c["snoozed_until"], json!(null));
    assert!(c["timestamp"].is_i64());
    assert_eq!(c["timestamp"], c["last_activity_at"]);
    assert!(c["created_at"].as_i64() < c["timestamp"].as_i64());
    assert_eq!(c["meta"]["channel"], "Channel::WebWidget");
    assert_eq!(c["meta"]["sender"]["id"], contact);
    assert_eq!(c["meta"]["sender"]["email"], "j@x.com");
    assert!(c["meta"]["sender"].get("contact_inboxes").is_none());
    assert_eq!(c["meta"]["assignee"]["id"], s.admin_id);
    assert_eq!(c["meta"]["assignee"]["name"], "Ada Admin");
    assert_eq!(c["meta"]["assignee"]["role"], "administrator");

    // An unassigned conversation has no assignee in its meta.
    let (_, first) = app.get(&s.path("/conversations/1"), Some(&s.admin)).await;
    assert!(first["meta"].get("assignee").is_none());
    let (status, body) = app.get(&s.path("/conversations/3"), Some(&s.admin)).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "Resource could not be found"}))
    );
}

#[tokio::test]
async fn an_agent_outside_the_inbox_gets_401_on_a_conversation_until_added() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    let id = app
        .conversation(Conv::new(s.account_id, inbox, contact))
        .await;
    // The conversation, what opening it reads, its labels, its history and
    // the conversation as it was: one rule for all.
    let paths: Vec<String> = [
        "",
        "/messages",
        "/labels",
        "/history",
        "?as_of=2100-01-01T00:00:00Z",
    ]
    .iter()
    .map(|rest| s.path(&format!("/conversations/{id}{rest}")))
    .collect();

    for path in &paths {
        let (status, body) = app.get(path, Some(&s.agent)).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({"error": "You are not authorized to do this action"})
            ),
            "{path}"
        );
    }
    for path in &paths[..4] {
        assert_eq!(app.get(path, Some(&s.admin)).await.0, 200, "{path}");
    }
    app.inbox_member(s.account_id, inbox, s.agent_id).await;
    for path in &paths[..4] {
        assert_eq!(app.get(path, Some(&s.agent)).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn another_accounts_conversation_is_not_found() {
    let app = TestApp::spawn().await;
    let a = app.with_account().await;
    let b = app.with_account().await;
    let inbox = app.api_inbox(a.account_id, "API").await;
    let contact = app
        .contact(a.account_id, "Jane", Some("j@x.com"), None)
        .await;
    let id = app
        .conversation(Conv::new(a.account_id, inbox, contact))
        .await;
    let paths = ["", "/messages", "/labels", "/history"]
        .map(|rest| b.path(&format!("/conversations/{id}{rest}")));
    app.assert_not_found(paths, &b.admin).await;
    let (_, list) = app
        .get(&b.path("/conversations?status=all"), Some(&b.admin))
        .await;
    assert_eq!(list["data"]["meta"], counts(0, 0, 0));
    assert_eq!(list["data"]["payload"], json!([]));
}

/// Five conversations in one inbox: open ×3 (admin's, agent's, nobody's),
/// resolved ×1 (nobody's), pending ×1 (agent's), newest last.
async fn seed_mix(app: &TestApp, s: &Seeded) -> i64 {
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    let base = || Conv::new(s.account_id, inbox, contact);
    app.conversation(base().assignee(s.admin_id).minutes_ago(5))
        .await;
    app.conversation(base().assignee(s.agent_id).minutes_ago(4))
        .await;
    app.conversation(base().minutes_ago(3)).await;
    app.conversation(base().status("resolved").minutes_ago(2))
        .await;
    app.conversation(base().status("pending").assignee(s.agent_id).minutes_ago(1))
        .await;
    inbox
}

#[tokio::test]
async fn counts_and_payload_follow_assignee_type_and_status() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    seed_mix(&app, &s).await;
    let get = |query: &'static str| {
        let app = &app;
        let path = s.path(&format!("/conversations{query}"));
        let token = s.admin.clone();
        async move { app.get(&path, Some(&token)).await.1 }
    };

    // Default: open, everyone's; counts do not depend on assignee_type.
    let open = get("").await;
    assert_eq!(open["data"]["meta"], counts(1, 1, 3));
    assert_eq!(ids(&open), [3, 2, 1], "most recently active first");
    assert_eq!(ids(&get("?assignee_type=me").await), [1]);
    assert_eq!(ids(&get("?assignee_type=unassigned").await), [3]);
    assert_eq!(ids(&get("?assignee_type=assigned").await), [2, 1]);
    assert_eq!(ids(&get("?assignee_type=all").await), [3, 2, 1]);
    assert_eq!(
        get("?assignee_type=me").await["data"]["meta"],
        counts(1, 1, 3)
    );

    let resolved = get("?status=resolved").await;
    assert_eq!(resolved["data"]["meta"], counts(0, 1, 1));
    assert_eq!(ids(&resolved), [4]);
    // The seed's `bot` is today's `pending`.
    for query in ["?status=pending", "?status=bot"] {
        let pending = get(query).await;
        assert_eq!(pending["data"]["meta"], counts(0, 0, 1), "{query}");
        assert_eq!(ids(&pending), [5]);
        assert_eq!(pending["data"]["payload"][0]["status"], "pending");
    }
    assert_eq!(
        get("?status=snoozed").await["data"]["meta"],
        counts(0, 0, 0)
    );
    let all = get("?status=all").await;
    assert_eq!(all["data"]["meta"], counts(1, 2, 5));
    assert_eq!(ids(&all), [5, 4, 3, 2, 1]);
    let meta = get("/meta?status=all").await;
    assert_eq!(meta["meta"], counts(1, 2, 5));
}

#[tokio::test]
async fn an_agent_counts_and_lists_only_member_inboxes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let mine = seed_mix(&app, &s).await;
    let theirs = app.api_inbox(s.account_id, "Other").await;
    let contact = app.contact(s.account_id, "Bo", Some("b@x.com"), None).await;
    app.conversation(Conv::new(s.account_id, theirs, contact).assignee(s.agent_id))
        .await;
    app.conversation(Conv::new(s.account_id, theirs, contact))
        .await;

    let (_, admin) = app.get(&s.path("/conversations"), Some(&s.admin)).await;
    assert_eq!(admin["data"]["meta"], counts(1, 2, 5));

    // Not a member of any inbox yet: nothing.
    let (_, agent) = app.get(&s.path("/conversations"), Some(&s.agent)).await;
    assert_eq!(agent["data"]["meta"], counts(0, 0, 0));
    assert_eq!(ids(&agent), Vec::<i64>::new());

    app.inbox_member(s.account_id, mine, s.agent_id).await;
    let (_, agent) = app.get(&s.path("/conversations"), Some(&s.agent)).await;
    assert_eq!(agent["data"]["meta"], counts(1, 1, 3));
    assert_eq!(ids(&agent), [3, 2, 1]);
    // Asking for an inbox they are not in shows nothing either.
    let (_, agent) = app
        .get(
            &s.path(&format!("/conversations?inbox_id={theirs}")),
            Some(&s.agent),
        )
        .await;
    assert_eq!(agent["data"]["meta"], counts(0, 0, 0));
    assert_eq!(agent["data"]["payload"], json!([]));
    // The administrator can narrow to one inbox.
    let (_, admin) = app
        .get(
            &s.path(&format!("/conversations?inbox_id={theirs}")),
            Some(&s.admin),
        )
        .await;
    assert_eq!(admin["data"]["meta"], counts(0, 1, 2));
    assert_eq!(ids(&admin), [7, 6]);
}

#[tokio::test]
async fn team_id_narrows_the_list_and_its_counts() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    app.team(s.account_id, 7, "sales").await;
    app.conversation(Conv::new(s.account_id, inbox, contact).team(7))
        .await;
    app.conversation(Conv::new(s.account_id, inbox, contact))
        .await;
    let (_, body) = app
        .get(&s.path("/conversations?team_id=7"), Some(&s.admin))
        .await;
    assert_eq!(body["data"]["meta"], counts(0, 1, 1));
    assert_eq!(ids(&body), [1]);
    assert_eq!(body["data"]["payload"][0]["meta"]["team"]["name"], "sales");
    // A team that is not the account's is a 404, as in Chatwoot.
    let (status, _) = app
        .get(&s.path("/conversations?team_id=8"), Some(&s.admin))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_counts_are_read_from_the_projected_counters_not_counted() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    // A counter the projection maintains, with no conversation rows behind it.
    app.add_count(s.account_id, inbox, "open", s.admin_id, 0, 1000)
        .await;
    app.add_count(s.account_id, inbox, "open", 0, 0, 234).await;
    app.add_count(s.account_id, inbox, "resolved", 0, 0, 5)
        .await;
    let (_, body) = app.get(&s.path("/conversations"), Some(&s.admin)).await;
    assert_eq!(body["data"]["meta"], counts(1000, 234, 1234));
    assert_eq!(body["data"]["payload"], json!([]));
}

#[tokio::test]
async fn the_list_is_always_paginated_twenty_five_a_page() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    for i in 0..27 {
        app.conversation(Conv::new(s.account_id, inbox, contact).minutes_ago(100 - i))
            .await;
    }
    let (_, first) = app.get(&s.path("/conversations"), Some(&s.admin)).await;
    let first = ids(&first);
    assert_eq!(first.len(), 25);
    assert_eq!(first[0], 27);
    let (_, second) = app
        .get(&s.path("/conversations?page=2"), Some(&s.admin))
        .await;
    assert_eq!(second["data"]["meta"]["all_count"], 27);
    assert_eq!(ids(&second), [2, 1]);
}

/// The display ids of the open conversations' list at `offset`, as a plain
/// `offset` reads them.
async fn open_page_by_offset(app: &TestApp, account_id: i64, offset: i64) -> Vec<i64> {
    sqlx::query_scalar(
        "select display_id from read_model.conversations \
         where account_id = $1 and status = 'open' \
         order by last_activity_at desc, id desc limit 25 offset $2",
    )
    .bind(account_id)
    .bind(offset)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Pages before, at and past the first one read at its key (page 11) are
/// those their offsets give, with `all` conversations counted.
async fn assert_pages_follow_offsets(app: &TestApp, s: &Seeded, all: i64) {
    for page in [2, 10, 11, 12, 13] {
        let (status, body) = app
            .get(
                &s.path(&format!("/conversations?page={page}")),
                Some(&s.admin),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["meta"]["all_count"], all);
        assert_eq!(
            ids(&body),
            open_page_by_offset(app, s.account_id, (page - 1) * 25).await,
            "page {page} of {all}"
        );
    }
}

#[tokio::test]
async fn a_deep_page_read_at_its_key_is_the_page_its_offset_gives_at_every_generation() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), None)
        .await;
    // 12 pages; from page 11 on (an offset of 250) a page starts at its key.
    app.open_conversations(s.account_id, inbox, contact, 300)
        .await;
    app.stamp_generation(s.account_id, 1).await;
    assert_pages_follow_offsets(&app, &s, 300).await;
    // Past the end, nothing.
    assert!(open_page_by_offset(&app, s.account_id, 300)
        .await
        .is_empty());
    // The most recent conversation comes first: once the read model's
    // generation has moved, every page starts a row later than before.
    app.conversation(Conv::new(s.account_id, inbox, contact))
        .await;
    app.stamp_generation(s.account_id, 2).await;
    assert_pages_follow_offsets(&app, &s, 301).await;
    assert_eq!(open_page_by_offset(&app, s.account_id, 300).await.len(), 1);
}

/// A message as the projection writes it, `minute` minutes after
/// 2026-01-01T10:00:00Z; returns that time in Unix seconds.
async fn message(
    app: &TestApp,
    account_id: i64,
    display_id: i64,
    (id, message_type, content): (i64, i16, &str),
    sender: Option<(&str, i64)>,
    minute: i64,
) -> i64 {
    let at = 1_767_261_600 + minute * 60;
    sqlx::query(
        "insert into read_model.messages \
         (id, account_id, conversation_id, inbox_id, message_type, content, content_type, \
          sender_type, sender_id, created_at, updated_at) \
         select $1, c.account_id, c.id, c.inbox_id, $3, $4, 'text', $5, $6, \
                to_timestamp($7), to_timestamp($7) \
         from read_model.conversations c where c.account_id = $2 and c.display_id = $8",
    )
    .bind(id)
    .bind(account_id)
    .bind(message_type)
    .bind(content)
    .bind(sender.map(|(kind, _)| kind))
    .bind(sender.map(|(_, id)| id))
    .bind(at as f64)
    .bind(display_id)
    .execute(&app.pool)
    .await
    .unwrap();
    at
}

/// Unix seconds of a read-model row's timestamp column.
async fn unix(app: &TestApp, table: &str, column: &str, id: i64) -> i64 {
    sqlx::query_scalar(&format!(
        "select floor(extract(epoch from {column}))::bigint from read_model.{table} where id = $1"
    ))
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_conversation_and_its_messages_are_rendered_whole_in_chatwoots_shape() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app
        .contact(s.account_id, "Jane", Some("j@x.com"), Some("+15550100"))
        .await;
    app.team(s.account_id, 7, "sales").await;
    let display_id = app
        .conversation(
            Conv::new(s.account_id, inbox, contact)
                .assignee(s.admin_id)
                .team(7),
        )
        .await;
    let (account, admin) = (s.account_id, s.admin_id);
    let mut sent = Vec::new();
    for (row, sender, minute) in [
        ((901, 0, "Hi"), Some(("contact", contact)), 0),
        ((902, 1, "Hello"), Some(("user", admin)), 1),
        ((903, 1, "Beep"), Some(("agent_bot", 5)), 2),
        ((904, 2, "Resolved"), None, 3),
    ] {
        sent.push(message(&app, account, display_id, row, sender, minute).await);
    }
    let [incoming, reply, bot, activity] = sent[..] else {
        unreachable!()
    };
    let conversation_id: i64 = sqlx::query_scalar(
        "select id from read_model.conversations where account_id = $1 and display_id = $2",
    )
    .bind(account)
    .bind(display_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let contact_created = unix(&app, "contacts", "created_at", contact).await;
    let created = unix(&app, "conversations", "created_at", conversation_id).await;
    let active = unix(&app, "conversations", "last_activity_at", conversation_id).await;

    let iso = |at: i64| {
        chrono::DateTime::from_timestamp(at, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S.000Z")
            .to_string()
    };
    let msg = |id: i64, message_type: i64, content: &str, at: i64, sender: Option<(&str, i64)>| {
        let mut m = json!({
            "id": id,
            "content": content,
            "account_id": account,
            "inbox_id": inbox,
            "conversation_id": display_id,
            "message_type": message_type,
            "content_type": "text",
            "content_attributes": {},
            "created_at": at,
            "updated_at": iso(at),
            "private": false,
            "status": "sent",
            "source_id": null,
            "sender_type": sender.map(|(kind, _)| kind),
            "sender_id": sender.map(|(_, id)| id),
        });
        let shape = match sender {
            Some(("Contact", id)) => json!({
                "id": id, "name": "Jane", "email": "j@x.com", "phone_number": "+15550100",
                "identifier": null, "additional_attributes": {}, "thumbnail": "", "type": "contact",
            }),
            Some(("User", id)) => json!({
                "id": id, "name": "Ada Admin", "available_name": "Ada Admin", "avatar_url": "",
                "type": "user", "availability_status": "offline", "thumbnail": "",
            }),
            Some(("AgentBot", id)) => {
                json!({"id": id, "name": null, "avatar_url": "", "type": "agent_bot"})
            }
            _ => Value::Null,
        };
        if !shape.is_null() {
            m["sender"] = shape;
        }
        m
    };
    let sender = json!({
        "id": contact,
        "name": "Jane",
        "email": "j@x.com",
        "phone_number": "+15550100",
        "identifier": null,
        "thumbnail": "",
        "availability_status": "offline",
        "blocked": false,
        "additional_attributes": {},
        "custom_attributes": {},
        "conversations_count": 1,
        "created_at": contact_created,
    });
    let assignee = json!({
        "id": admin,
        "account_id": account,
        "name": "Ada Admin",
        "available_name": "Ada Admin",
        "email": format!("user{admin}@example.com"),
        "role": "administrator",
        "confirmed": true,
        "availability_status": "offline",
        "thumbnail": "",
    });
    let expected = json!({
        "meta": {
            "sender": sender,
            "channel": "Channel::Api",
            "assignee": assignee,
            "team": {
                "id": 7, "name": "sales", "description": null,
                "allow_auto_assign": true, "account_id": account,
            },
        },
        "id": display_id,
        "messages": [msg(904, 2, "Resolved", activity, None)],
        "account_id": account,
        "inbox_id": inbox,
        "status": "open",
        "muted": false,
        "can_reply": true,
        "timestamp": active,
        "contact_last_seen_at": 0,
        "agent_last_seen_at": 0,
        "unread_count": 1,
        "additional_attributes": {},
        "custom_attributes": {},
        "labels": [],
        "snoozed_until": null,
        "created_at": created,
        "last_activity_at": active,
        "priority": null,
        "last_non_activity_message": msg(903, 1, "Beep", bot, Some(("AgentBot", 5))),
    });

    let path = s.path(&format!("/conversations/{display_id}"));
    let (status, shown) = app.get(&path, Some(&s.admin)).await;
    assert_eq!((status, &shown), (200, &expected));
    let (status, list) = app.get(&s.path("/conversations"), Some(&s.admin)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"]["payload"], json!([expected]));

    let (status, thread) = app.get(&format!("{path}/messages"), Some(&s.admin)).await;
    assert_eq!(status, 200, "{thread}");
    let mut contact_push = sender;
    contact_push["type"] = json!("contact");
    assert_eq!(
        thread,
        json!({
            "meta": {
                "labels": [],
                "additional_attributes": {},
                "contact": contact_push,
                "assignee": assignee,
                "agent_last_seen_at": null,
            },
            "payload": [
                msg(901, 0, "Hi", incoming, Some(("Contact", contact))),
                msg(902, 1, "Hello", reply, Some(("User", admin))),
                msg(903, 1, "Beep", bot, Some(("AgentBot", 5))),
                msg(904, 2, "Resolved", activity, None),
            ],
        })
    );
}

#[tokio::test]
async fn a_lists_last_messages_skip_activities_only_where_asked_and_unread_counts_follow_the_agents_last_look(
) {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let contact = app.contact(s.account_id, "Jane", None, None).await;
    let account = s.account_id;
    let mut conversations = Vec::new();
    for minutes_ago in [3, 2, 1, 0] {
        let c = Conv::new(account, inbox, contact).minutes_ago(minutes_ago);
        conversations.push(app.conversation(c).await);
    }
    let [replied, resolved, only_activity, silent] = conversations[..] else {
        unreachable!()
    };
    let them = Some(("contact", contact));
    message(&app, account, replied, (911, 2, "Assigned"), None, 0).await;
    message(&app, account, replied, (912, 0, "Hi"), them, 1).await;
    message(&app, account, replied, (913, 0, "Anyone?"), them, 2).await;
    // The agent saw the conversation between the two incoming messages.
    sqlx::query(
        "update read_model.conversations set agent_last_seen_at = to_timestamp($3) \
         where account_id = $1 and display_id = $2",
    )
    .bind(account)
    .bind(replied)
    .bind((1_767_261_600 + 90) as f64)
    .execute(&app.pool)
    .await
    .unwrap();
    message(&app, account, resolved, (921, 0, "Hi"), them, 0).await;
    message(&app, account, resolved, (922, 1, "Hello"), them, 1).await;
    message(&app, account, resolved, (923, 2, "Resolved"), None, 2).await;
    message(&app, account, resolved, (924, 2, "Reopened"), None, 3).await;
    message(&app, account, only_activity, (931, 2, "Created"), None, 0).await;

    let (status, body) = app.get(&s.path("/conversations"), Some(&s.admin)).await;
    assert_eq!(status, 200, "{body}");
    let shown: Vec<(i64, Vec<Value>, Value, Value)> = body["data"]["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let last: Vec<Value> = c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].clone())
                .collect();
            let id = c["id"].as_i64().unwrap();
            let real = c["last_non_activity_message"]["id"].clone();
            (id, last, real, c["unread_count"].clone())
        })
        .collect();
    assert_eq!(
        shown,
        [
            (silent, vec![], Value::Null, json!(0)),
            (only_activity, vec![json!(931)], Value::Null, json!(0)),
            (resolved, vec![json!(924)], json!(922), json!(1)),
            (replied, vec![json!(913)], json!(913), json!(1)),
        ]
    );
}
