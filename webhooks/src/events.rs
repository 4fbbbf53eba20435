//! Which Chatwoot webhook events a logged event is (pure).
//!
//! One logged event may be several webhook events (a status change is both
//! `conversation_status_changed` and `conversation_updated`, as in today's
//! Chatwoot). Each names the resource its payload renders and the *lane* its
//! deliveries are ordered in: every conversation and message event of one
//! conversation shares the lane `conversation:<id>`, so a webhook receives a
//! conversation's events in log order.

use domain::message::MessageType;
use domain::Event;
use serde_json::{json, Value};

/// What a payload is rendered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A conversation, by global id.
    Conversation(i64),
    /// A message, by global id.
    Message(i64),
    /// A contact.
    Contact(i64),
    /// An inbox.
    Inbox(i64),
}

/// One webhook event of a logged event.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// Chatwoot's event name (`message_created`, ...).
    pub name: &'static str,
    /// What the payload shows.
    pub resource: Resource,
    /// The ordering lane (`conversation:<id>`, `contact:<id>`, `inbox:<id>`).
    pub lane: String,
    /// `changed_attributes` of conversation updates, if any.
    pub changed: Option<Value>,
}

fn change(attr: &str, from: Value, to: Value) -> Option<Value> {
    Some(json!([{ attr: {"previous_value": from, "current_value": to} }]))
}

/// The webhook events of a logged event, in the order they are sent.
pub fn webhook_events(event: &Event) -> Vec<WebhookEvent> {
    let conversation = |name, id: i64, changed| WebhookEvent {
        name,
        resource: Resource::Conversation(id),
        lane: format!("conversation:{id}"),
        changed,
    };
    match event {
        Event::ConversationCreated {
            conversation_id, ..
        } => vec![conversation("conversation_created", *conversation_id, None)],
        Event::ConversationStatusChanged {
            conversation_id,
            from,
            to,
            ..
        } => {
            let changed = change("status", json!(from), json!(to));
            vec![
                conversation(
                    "conversation_status_changed",
                    *conversation_id,
                    changed.clone(),
                ),
                conversation("conversation_updated", *conversation_id, changed),
            ]
        }
        Event::ConversationAssigneeChanged {
            conversation_id,
            from,
            to,
            ..
        } => vec![conversation(
            "conversation_updated",
            *conversation_id,
            change("assignee_id", json!(from), json!(to)),
        )],
        Event::ConversationTeamChanged {
            conversation_id,
            from,
            to,
            ..
        } => vec![conversation(
            "conversation_updated",
            *conversation_id,
            change("team_id", json!(from), json!(to)),
        )],
        Event::ConversationLabelsChanged {
            conversation_id,
            labels,
            added,
            removed,
            ..
        } => {
            let before: Vec<&String> = labels
                .iter()
                .filter(|l| !added.contains(l))
                .chain(removed.iter())
                .collect();
            vec![conversation(
                "conversation_updated",
                *conversation_id,
                change("label_list", json!(before), json!(labels)),
            )]
        }
        // Chatwoot sends message events for incoming and outgoing messages only.
        Event::MessageCreated {
            message_id,
            conversation_id,
            message_type: MessageType::Incoming | MessageType::Outgoing,
            ..
        } => vec![WebhookEvent {
            name: "message_created",
            resource: Resource::Message(*message_id),
            lane: format!("conversation:{conversation_id}"),
            changed: None,
        }],
        Event::MessageDeleted {
            message_id,
            conversation_id,
            ..
        } => vec![WebhookEvent {
            name: "message_updated",
            resource: Resource::Message(*message_id),
            lane: format!("conversation:{conversation_id}"),
            changed: None,
        }],
        Event::ContactCreated { contact_id, .. } | Event::ContactUpdated { contact_id, .. } => {
            let name = if matches!(event, Event::ContactCreated { .. }) {
                "contact_created"
            } else {
                "contact_updated"
            };
            vec![WebhookEvent {
                name,
                resource: Resource::Contact(*contact_id),
                lane: format!("contact:{contact_id}"),
                changed: None,
            }]
        }
        Event::InboxCreated { inbox_id, .. } | Event::InboxUpdated { inbox_id, .. } => {
            let name = if matches!(event, Event::InboxCreated { .. }) {
                "inbox_created"
            } else {
                "inbox_updated"
            };
            vec![WebhookEvent {
                name,
                resource: Resource::Inbox(*inbox_id),
                lane: format!("inbox:{inbox_id}"),
                changed: None,
            }]
        }
        _ => vec![],
    }
}

/// The agent-bot events of a logged event with the conversation whose inbox
/// decides the bot, in the order they are sent. Chatwoot's
/// `AgentBotListener` sends a bot `conversation_opened`,
/// `conversation_resolved`, `message_created`, `message_updated` and
/// `webwidget_triggered` (never: nothing records it) with the webhook
/// payloads; opened/resolved carry no `changed_attributes`.
pub fn bot_events(event: &Event) -> Vec<(WebhookEvent, i64)> {
    use domain::conversation::ConversationStatus;
    match event {
        Event::ConversationStatusChanged {
            conversation_id,
            to,
            ..
        } => {
            let name = match to {
                ConversationStatus::Open => "conversation_opened",
                ConversationStatus::Resolved => "conversation_resolved",
                _ => return vec![],
            };
            vec![(
                WebhookEvent {
                    name,
                    resource: Resource::Conversation(*conversation_id),
                    lane: format!("conversation:{conversation_id}"),
                    changed: None,
                },
                *conversation_id,
            )]
        }
        Event::MessageCreated {
            conversation_id, ..
        }
        | Event::MessageDeleted {
            conversation_id, ..
        } => webhook_events(event)
            .into_iter()
            .map(|w| (w, *conversation_id))
            .collect(),
        _ => vec![],
    }
}

/// The events an API inbox's `webhook_url` gets, with the conversation
/// whose inbox decides the receiver: every conversation and message event
/// of [`webhook_events`] (Chatwoot's `WebhookListener` sends an inbox's
/// events to its account webhooks and to the API channel's URL alike, with
/// no subscription list for the latter). Contact and inbox events have no
/// conversation and go to account webhooks only.
pub fn inbox_events(event: &Event) -> Vec<(WebhookEvent, i64)> {
    webhook_events(event)
        .into_iter()
        .filter_map(|w| {
            let conversation_id = w.lane.strip_prefix("conversation:")?.parse().ok()?;
            Some((w, conversation_id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::conversation::ConversationStatus;
    use domain::message::ContentType;
    use domain::Actor;

    #[test]
    fn a_status_change_is_status_changed_then_updated_with_changed_attributes() {
        let e = Event::ConversationStatusChanged {
            conversation_id: 7,
            account_id: 1,
            from: ConversationStatus::Open,
            to: ConversationStatus::Resolved,
            snoozed_until: None,
            actor: Actor::system(),
        };
        let out = webhook_events(&e);
        assert_eq!(
            out.iter().map(|w| w.name).collect::<Vec<_>>(),
            ["conversation_status_changed", "conversation_updated"]
        );
        assert_eq!(out[0].lane, "conversation:7");
        assert_eq!(
            out[0].changed,
            Some(json!([{"status": {"previous_value": "open", "current_value": "resolved"}}]))
        );
    }

    #[test]
    fn activity_messages_send_nothing_and_messages_share_their_conversations_lane() {
        let message = |message_type| Event::MessageCreated {
            message_id: 3,
            account_id: 1,
            conversation_id: 7,
            inbox_id: 2,
            message_type,
            content: Some("x".into()),
            content_type: ContentType::Text,
            content_attributes: Default::default(),
            private: false,
            sender: None,
            source_id: None,
            attachments: vec![],
        };
        assert!(webhook_events(&message(MessageType::Activity)).is_empty());
        let out = webhook_events(&message(MessageType::Incoming));
        assert_eq!(out[0].name, "message_created");
        assert_eq!(out[0].lane, "conversation:7");
    }

    #[test]
    fn an_api_inbox_gets_conversation_and_message_events_but_not_contact_ones() {
        let status = Event::ConversationStatusChanged {
            conversation_id: 7,
            account_id: 1,
            from: ConversationStatus::Open,
            to: ConversationStatus::Resolved,
            snoozed_until: None,
            actor: Actor::system(),
        };
        let got: Vec<(&str, i64)> = inbox_events(&status)
            .iter()
            .map(|(w, c)| (w.name, *c))
            .collect();
        assert_eq!(
            got,
            [
                ("conversation_status_changed", 7),
                ("conversation_updated", 7)
            ]
        );
        let contact = Event::ContactCreated {
            contact_id: 4,
            account_id: 1,
            fields: Default::default(),
        };
        assert_eq!(webhook_events(&contact).len(), 1);
        assert!(inbox_events(&contact).is_empty());
    }

    #[test]
    fn a_bot_gets_opened_and_resolved_and_public_message_events_only() {
        let status = |to| Event::ConversationStatusChanged {
            conversation_id: 7,
            account_id: 1,
            from: ConversationStatus::Pending,
            to,
            snoozed_until: None,
            actor: Actor::system(),
        };
        let names = |e: &Event| {
            bot_events(e)
                .iter()
                .map(|(w, _)| w.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&status(ConversationStatus::Open)),
            ["conversation_opened"]
        );
        assert_eq!(
            names(&status(ConversationStatus::Resolved)),
            ["conversation_resolved"]
        );
        assert!(names(&status(ConversationStatus::Snoozed)).is_empty());
        let (w, conversation) = &bot_events(&status(ConversationStatus::Open))[0];
        assert_eq!(
            (w.lane.as_str(), *conversation, &w.changed),
            ("conversation:7", 7, &None)
        );
    }
}
