//! Issue 4, concurrency: 32 clients act on one conversation at once
//! (status, assignee, labels, messages). Every acknowledged change is in the
//! history, no update is lost, and the final state, as the read model serves
//! it, equals folding the conversation's history.

use domain::conversation::Conversation;
use domain::Aggregate;
use infra::stored::{StoredEvent, COLUMNS};
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};

const CLIENTS: usize = 32;
const ROUNDS: usize = 3;

#[derive(Debug, Default)]
struct Tally {
    toggles: usize,
    messages: usize,
    conflicts: usize,
}

async fn setup(app: &TestApp, s: &Seeded) -> i64 {
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": "Hot", "channel": {"type": "api"}})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    let inbox_id = inbox["id"].as_i64().unwrap();
    let (status, body) = app
        .json(
            Method::POST,
            &s.path("/inbox_members"),
            Some(&s.admin),
            Some(json!({"inbox_id": inbox_id, "user_ids": [s.admin_id, s.agent_id]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, contact) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "Hot Customer", "inbox_id": inbox_id})),
        )
        .await;
    let contact_id = contact["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    conv["id"].as_i64().unwrap()
}

/// One client: a round of each kind of change, answers tallied. A 409
/// (the retries ran out) is a clear error; anything else but 200 fails.
async fn client(app: &TestApp, s: &Seeded, display_id: i64, n: usize) -> Tally {
    let mut tally = Tally::default();
    let conv = |rest: &str| s.path(&format!("/conversations/{display_id}{rest}"));
    let token = if n.is_multiple_of(2) {
        &s.admin
    } else {
        &s.agent
    };
    for round in 0..ROUNDS {
        let step = (n + round) % 4;
        let (path, body) = match step {
            0 => (conv("/toggle_status"), json!({})),
            1 => (
                conv("/assignments"),
                json!({"assignee_id": if n.is_multiple_of(3) { Value::Null } else if n % 3 == 1 { json!(s.admin_id) } else { json!(s.agent_id) }}),
            ),
            2 => (
                conv("/labels"),
                json!({"labels": [format!("l{}", n % 5), "hot"]}),
            ),
            _ => (
                conv("/messages"),
                json!({"content": format!("client {n} round {round}"), "message_type": "outgoing"}),
            ),
        };
        let (status, answer) = app.json(Method::POST, &path, Some(token), Some(body)).await;
        match status {
            200 => match step {
                0 => tally.toggles += 1,
                3 => tally.messages += 1,
                _ => {}
            },
            409 => tally.conflicts += 1,
            other => panic!("{path}: {other} {answer}"),
        }
    }
    tally
}

#[tokio::test]
async fn thirty_two_clients_on_one_conversation_lose_nothing() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let display_id = setup(&app, &s).await;

    let tallies =
        futures::future::join_all((0..CLIENTS).map(|n| client(&app, &s, display_id, n))).await;
    let toggles: usize = tallies.iter().map(|t| t.toggles).sum();
    let messages: usize = tallies.iter().map(|t| t.messages).sum();
    let conflicts: usize = tallies.iter().map(|t| t.conflicts).sum();
    eprintln!("{toggles} toggles, {messages} messages acknowledged; {conflicts} conflicts");
    assert!(toggles > 0 && messages > 0);
    // Commands on one stream queue on its lock (EventStore::load): none
    // should run out of retries.
    assert_eq!(conflicts, 0, "no command failed with 409");

    let conversation_id: i64 = sqlx::query_scalar(
        "select id from write_model.conversations where account_id = $1 and display_id = $2",
    )
    .bind(s.account_id)
    .bind(display_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    let history: Vec<StoredEvent> = sqlx::query_as(&format!(
        "select {COLUMNS} from event_store.events where stream_id = $1 order by stream_version"
    ))
    .bind(format!("conversation:{conversation_id}"))
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    let events: Vec<domain::Event> = history.iter().map(|e| e.decode().unwrap()).collect();

    // Every acknowledged toggle is one status change in the history (none
    // is lost to a concurrent one); every acknowledged message is an event.
    let status_changes = history
        .iter()
        .filter(|e| e.event_type == "ConversationStatusChanged")
        .count();
    assert_eq!(
        status_changes, toggles,
        "one status change per acknowledged toggle"
    );
    let message_events: i64 = sqlx::query_scalar(
        "select count(*) from event_store.events \
         where event_type = 'MessageCreated' and (payload->>'conversation_id')::bigint = $1",
    )
    .bind(conversation_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(message_events as usize, messages);

    // The final state served equals the fold of the history.
    let folded = Conversation::fold(&events);
    let (status, shown) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["status"],
        json!(folded.status.unwrap().as_str()),
        "{shown}"
    );
    assert_eq!(
        shown["meta"]["assignee"]["id"].as_i64(),
        folded.assignee_id,
        "{shown}"
    );
    let labels: Vec<String> = serde_json::from_value(shown["labels"].clone()).unwrap();
    assert_eq!(labels, folded.labels, "{shown}");
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from read_model.messages \
         where conversation_id = $1 and content like 'client %'",
    )
    .bind(conversation_id)
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(
        stored as usize, messages,
        "every message in the read model once"
    );
}
