//! Contact reads (§2.3; cases 25-29, 37).

use serde_json::{json, Value};

use crate::helpers::{Conv, TestApp};

fn names(body: &Value) -> Vec<String> {
    body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn listed_contacts_carry_their_contact_inboxes_and_conversation_counts() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let inbox = app.api_inbox(s.account_id, "API").await;
    let jane = app
        .contact(s.account_id, "Jane", Some("jane@example.com"), None)
        .await;
    app.contact_inbox(s.account_id, jane, inbox, "src-jane")
        .await;
    app.conversation(Conv::new(s.account_id, inbox, jane)).await;
    // Only contacts with an e-mail, phone number or identifier are listed.
    app.contact(s.account_id, "Anonymous", None, None).await;
    let other = app.account("Other").await;
    app.contact(other, "Elsewhere", Some("e@example.com"), None)
        .await;

    let (status, body) = app.get(&s.path("/contacts"), Some(&s.agent)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"], json!({"count": 1, "current_page": 1}));
    let c = &body["payload"][0];
    assert_eq!(c["id"], jane);
    assert_eq!(c["email"], "jane@example.com");
    assert_eq!(c["conversations_count"], 1);
    assert_eq!(c["contact_inboxes"][0]["source_id"], "src-jane");
    assert_eq!(c["contact_inboxes"][0]["inbox"]["name"], "API");
    assert_eq!(
        c["contact_inboxes"][0]["inbox"]["channel_type"],
        "Channel::Api"
    );
    assert!(c["created_at"].is_i64());
    assert_eq!(c["availability_status"], "offline");
}

#[tokio::test]
async fn contacts_come_fifteen_a_page_and_sort_by_name_either_way() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    for i in 0..17 {
        let name = format!("Contact {i:02}");
        app.contact(s.account_id, &name, Some(&format!("c{i}@x.com")), None)
            .await;
    }
    let (_, first) = app
        .get(&s.path("/contacts?sort=name"), Some(&s.admin))
        .await;
    assert_eq!(first["meta"]["count"], 17);
    let first = names(&first);
    assert_eq!(first.len(), 15);
    assert_eq!(first[0], "Contact 00");
    assert_eq!(first[14], "Contact 14");

    let (_, second) = app
        .get(&s.path("/contacts?sort=name&page=2"), Some(&s.admin))
        .await;
    assert_eq!(second["meta"]["current_page"], "2");
    assert_eq!(names(&second), ["Contact 15", "Contact 16"]);

    let (_, desc) = app
        .get(&s.path("/contacts?sort=-name"), Some(&s.admin))
        .await;
    assert_eq!(names(&desc)[0], "Contact 16");

    let (_, by_email) = app
        .get(&s.path("/contacts?sort=-email"), Some(&s.admin))
        .await;
    assert_eq!(by_email["payload"][0]["email"], "c9@x.com");

    let (_, beyond) = app.get(&s.path("/contacts?page=3"), Some(&s.admin)).await;
    assert_eq!(beyond["payload"], json!([]));
    assert_eq!(beyond["meta"]["count"], 17);
}

#[tokio::test]
async fn search_matches_name_email_and_phone_case_insensitively_and_needs_q() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    app.contact(s.account_id, "Anna Smith", Some("anna@one.com"), None)
        .await;
    app.contact(
        s.account_id,
        "Bob",
        Some("test@test.com"),
        Some("+15550001"),
    )
    .await;

    let (status, body) = app
        .get(&s.path("/contacts/search?q=test@test.com"), Some(&s.agent))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["Bob"]);
    assert_eq!(body["meta"]["count"], 1);
    let (_, body) = app
        .get(&s.path("/contacts/search?q=Test@Test.com"), Some(&s.agent))
        .await;
    assert_eq!(names(&body), ["Bob"]);
    let (_, body) = app
        .get(&s.path("/contacts/search?q=aNNa%20SM"), Some(&s.agent))
        .await;
    assert_eq!(names(&body), ["Anna Smith"]);
    let (_, body) = app
        .get(&s.path("/contacts/search?q=5550"), Some(&s.agent))
        .await;
    assert_eq!(names(&body), ["Bob"]);
    let (_, body) = app
        .get(&s.path("/contacts/search?q=%25"), Some(&s.agent))
        .await;
    assert_eq!(names(&body), Vec::<String>::new(), "% is literal");

    for path in [
        "/contacts/search",
        "/contacts/search?q=",
        "/contacts/search?q=%20",
    ] {
        let (status, body) = app.get(&s.path(path), Some(&s.agent)).await;
        assert_eq!(
            (status, body),
            (
                422,
                json!({"error": "Specify search string with parameter q"})
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn one_contact_is_shown_in_its_account_only() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let id = app
        .contact(s.account_id, "Jane", Some("jane@example.com"), None)
        .await;
    let (status, body) = app
        .get(&s.path(&format!("/contacts/{id}")), Some(&s.agent))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["email"], "jane@example.com");
    assert_eq!(body["payload"]["contact_inboxes"], json!([]));

    let paths = ["", "/conversations", "/contactable_inboxes"]
        .map(|rest| other.path(&format!("/contacts/{id}{rest}")));
    app.assert_not_found(paths, &other.admin).await;
}

#[tokio::test]
async fn contactable_inboxes_offer_api_inboxes_always_and_widgets_only_when_known() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let api = app.api_inbox(s.account_id, "API").await;
    let api_known = app.api_inbox(s.account_id, "API known").await;
    let site = app.widget_inbox(s.account_id, "Site").await;
    let site_known = app.widget_inbox(s.account_id, "Site known").await;
    let contact = app.contact(s.account_id, "C", Some("c@x.com"), None).await;
    app.contact_inbox(s.account_id, contact, api_known, "known-api")
        .await;
    app.contact_inbox(s.account_id, contact, site_known, "known-site")
        .await;
    let path = s.path(&format!("/contacts/{contact}/contactable_inboxes"));

    let (status, body) = app.get(&path, Some(&s.admin)).await;
    assert_eq!(status, 200, "{body}");
    let entries = body["payload"].as_array().unwrap();
    let source = |inbox: i64| {
        entries
            .iter()
            .find(|e| e["inbox"]["id"] == inbox)
            .map(|e| e["source_id"].as_str().unwrap().to_owned())
    };
    assert_eq!(entries.len(), 3);
    assert_eq!(source(api_known).as_deref(), Some("known-api"));
    assert_eq!(source(site_known).as_deref(), Some("known-site"));
    assert!(source(site).is_none());
    let fresh = source(api).unwrap();
    assert!(uuid::Uuid::parse_str(&fresh).is_ok());

    // The fresh source id is not stored: the next call draws another.
    let (_, again) = app.get(&path, Some(&s.admin)).await;
    let again = again["payload"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["inbox"]["id"] == api)
        .map(|e| e["source_id"].clone())
        .unwrap();
    assert_ne!(again, json!(fresh));

    // An agent sees only the inboxes they are a member of.
    app.inbox_member(s.account_id, api_known, s.agent_id).await;
    let (_, body) = app.get(&path, Some(&s.agent)).await;
    assert_eq!(body["payload"].as_array().unwrap().len(), 1);
    assert_eq!(body["payload"][0]["inbox"]["id"], api_known);
}

#[tokio::test]
async fn a_contacts_conversations_are_limited_to_the_inboxes_the_caller_sees() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (outsider_id, outsider) = app.user("Outsider").await;
    app.member(s.account_id, outsider_id, "agent").await;
    let one = app.api_inbox(s.account_id, "One").await;
    let two = app.api_inbox(s.account_id, "Two").await;
    app.inbox_member(s.account_id, one, s.agent_id).await;
    let contact = app.contact(s.account_id, "C", Some("c@x.com"), None).await;
    for (inbox, minutes) in [(one, 4), (one, 3), (two, 2), (two, 1)] {
        app.conversation(Conv::new(s.account_id, inbox, contact).minutes_ago(minutes))
            .await;
    }
    let path = s.path(&format!("/contacts/{contact}/conversations"));

    let (status, body) = app.get(&path, Some(&s.admin)).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<i64> = body["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [4, 3, 2, 1], "most recently active first");

    let (_, body) = app.get(&path, Some(&s.agent)).await;
    assert_eq!(body["payload"].as_array().unwrap().len(), 2);
    let (_, body) = app.get(&path, Some(&outsider)).await;
    assert_eq!(body["payload"], json!([]));
}
