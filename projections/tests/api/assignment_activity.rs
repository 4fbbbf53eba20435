//! Activity messages of assignments and teams (behaviour notes §2.5):
//! Chatwoot's texts, ids fixed by the event's position, nothing twice.

use domain::conversation::ConversationStatus;
use domain::{Actor, Event};

use crate::helpers::*;

fn conversation() -> Event {
    Event::ConversationCreated {
        conversation_id: 7,
        account_id: 1,
        display_id: 1,
        inbox_id: 2,
        contact_id: 3,
        contact_inbox_id: 4,
        status: ConversationStatus::Open,
        assignee_id: None,
        team_id: None,
        snoozed_until: None,
        additional_attributes: domain::Attributes::new(),
        custom_attributes: domain::Attributes::new(),
    }
}

fn assignee(from: Option<i64>, to: Option<i64>, by: i64, by_team: bool) -> Event {
    Event::ConversationAssigneeChanged {
        conversation_id: 7,
        account_id: 1,
        from,
        to,
        actor: Actor::user(by),
        by_team,
    }
}

fn team(from: Option<i64>, to: Option<i64>, assignee_id: Option<i64>, deleted: bool) -> Event {
    Event::ConversationTeamChanged {
        conversation_id: 7,
        account_id: 1,
        from,
        to,
        actor: Actor::user(10),
        assignee_id,
        team_deleted: deleted,
    }
}

async fn activities(env: &TestEnv) -> Vec<(i64, String)> {
    sqlx::query_as("select id, content from read_model.messages where message_type = 2 order by id")
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn case_54_assignment_and_team_changes_derive_chatwoots_activity_texts_once() {
    let env = TestEnv::new().await;
    let mut position = 0;
    let mut version = 0;
    let mut setup = |stream: &str, event: &Event, v: i64| {
        position += 1;
        envelope(stream, v, position, event)
    };
    let mut log = vec![
        setup("user:10", &user_created(10), 1),
        setup("user:11", &user_created(11), 1),
        setup(
            "team:5",
            &Event::TeamCreated {
                team_id: 5,
                account_id: 1,
                name: "sales".into(),
                description: None,
                allow_auto_assign: true,
            },
            1,
        ),
    ];
    let conversation_events = [
        conversation(),
        assignee(None, Some(11), 10, false),
        assignee(Some(11), Some(10), 10, false),
        assignee(Some(10), None, 10, false),
        team(None, Some(5), None, false),
        team(Some(5), None, None, false),
        team(None, Some(5), Some(11), false),
        assignee(None, Some(11), 10, true),
        team(Some(5), None, None, true),
    ];
    for event in &conversation_events {
        version += 1;
        log.push(setup("conversation:7", event, version));
    }
    for env_ in &log {
        apply_one(&env.pool, env_).await.unwrap();
    }
    // A redelivery of everything derives nothing new.
    for env_ in &log {
        apply_one(&env.pool, env_).await.unwrap();
    }
    let got = activities(&env).await;
    let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Assigned to User 11 by User 10",
            "User 10 self-assigned this conversation",
            "Conversation unassigned by User 10",
            "Assigned to sales by User 10",
            "Unassigned from sales by User 10",
            "Assigned to User 11 via sales by User 10",
        ]
    );
    // Ids come from the positions: the first assignment is the 5th event.
    assert_eq!(got[0].0, projections::activity::activity_id(5, 0));
    env.cleanup().await;
}

/// Label names are taken as they are, even when they look like the
/// templates' placeholders; an unknown actor is "Someone". Applied in one
/// batch with a rename of the actor after the changes: the texts show the
/// name the actor had when each change was applied.
#[tokio::test]
async fn label_activities_take_label_names_as_they_are_and_the_name_of_their_time() {
    let env = TestEnv::new().await;
    let labels = |added: &[&str], removed: &[&str], by: i64| Event::ConversationLabelsChanged {
        conversation_id: 7,
        account_id: 1,
        labels: added.iter().map(|l| (*l).to_owned()).collect(),
        added: added.iter().map(|l| (*l).to_owned()).collect(),
        removed: removed.iter().map(|l| (*l).to_owned()).collect(),
        actor: Actor::user(by),
    };
    let renamed = Event::UserUpdated {
        user_id: 10,
        name: "Renamed".into(),
        display_name: None,
        email: "user10@example.com".into(),
        custom_attributes: Default::default(),
    };
    let log = [
        envelope("user:10", 1, 1, &user_created(10)),
        envelope("conversation:7", 1, 2, &conversation()),
        envelope(
            "conversation:7",
            2,
            3,
            &labels(&["{user}", "{team}"], &[], 10),
        ),
        envelope("conversation:7", 3, 4, &labels(&[], &["{assignee}"], 99)),
        envelope("user:10", 2, 5, &renamed),
        envelope("conversation:7", 4, 6, &labels(&["vip"], &[], 10)),
    ];
    apply_in_one_batch(&env, &log).await;

    let got = activities(&env).await;
    let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "User 10 added {user}, {team}",
            "Someone removed {assignee}",
            "Renamed added vip",
        ]
    );
    env.cleanup().await;
}
