//! Messages of a conversation, each its own stream (`message:<id>`) so a long
//! conversation does not make every write replay its whole history.
//!
//! A message is created once and may be soft-deleted (Chatwoot keeps the row:
//! the content becomes "This message was deleted" and
//! `content_attributes.deleted` is true). Activity messages ("Conversation was
//! marked resolved by ...") are not commands: the projection derives them from
//! conversation events (docs/architecture.md, "Activity messages").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attachment::{Attachment, MAX_ATTACHMENTS};
use crate::{Aggregate, Attributes, DomainError, Event};

/// Longest content Chatwoot accepts (today's limit).
pub const MAX_CONTENT: usize = 150_000;

/// The content a soft-deleted message shows.
pub const DELETED_CONTENT: &str = "This message was deleted";

/// Who a message is from, or what kind of record it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// From the contact (0).
    Incoming,
    /// From the team (1).
    Outgoing,
    /// A record of something that happened (2).
    Activity,
    /// A channel template (3).
    Template,
}

impl MessageType {
    /// Reads `message_type` as clients send it: a name or its integer.
    /// Only incoming and outgoing may be posted.
    pub fn parse_postable(value: &Value) -> Result<Self, DomainError> {
        let parsed = match value {
            Value::String(s) => match s.trim() {
                "incoming" | "0" => Some(Self::Incoming),
                "outgoing" | "1" => Some(Self::Outgoing),
                _ => None,
            },
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(Self::Incoming),
                Some(1) => Some(Self::Outgoing),
                _ => None,
            },
            _ => None,
        };
        parsed.ok_or_else(|| {
            DomainError::invalid(
                "message_type",
                format!("Message type '{value}' is not valid (incoming, outgoing)"),
            )
        })
    }

    /// The integer Chatwoot renders.
    pub fn as_int(self) -> i16 {
        match self {
            Self::Incoming => 0,
            Self::Outgoing => 1,
            Self::Activity => 2,
            Self::Template => 3,
        }
    }
}

/// How a message's content is to be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    /// Plain text (default).
    Text,
    /// Asks for a line of text.
    InputText,
    /// Asks for a paragraph.
    InputTextarea,
    /// Asks for an e-mail address.
    InputEmail,
    /// Offers options (`items: [{title, value}]`).
    InputSelect,
    /// Cards (`items: [{title, description, media_url, actions}]`).
    Cards,
    /// A form (`items: [{type, name, label, ...}]`).
    Form,
    /// Articles (`items: [{title, description, link}]`).
    Article,
}

impl ContentType {
    /// Parses a client's `content_type`; anything unknown is a 422.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        match value.trim() {
            "text" => Ok(Self::Text),
            "input_text" => Ok(Self::InputText),
            "input_textarea" => Ok(Self::InputTextarea),
            "input_email" => Ok(Self::InputEmail),
            "input_select" => Ok(Self::InputSelect),
            "cards" => Ok(Self::Cards),
            "form" => Ok(Self::Form),
            "article" => Ok(Self::Article),
            other => Err(DomainError::invalid(
                "content_type",
                format!(
                    "Content type '{other}' is not valid (text, input_text, input_textarea, \
                     input_email, input_select, cards, form, article)"
                ),
            )),
        }
    }

    /// The name Chatwoot renders.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::InputText => "input_text",
            Self::InputTextarea => "input_textarea",
            Self::InputEmail => "input_email",
            Self::InputSelect => "input_select",
            Self::Cards => "cards",
            Self::Form => "form",
            Self::Article => "article",
        }
    }

    /// The keys an item may have, for the types whose items are validated.
    fn item_keys(self) -> Option<&'static [&'static str]> {
        match self {
            Self::InputSelect => Some(&["title", "value"]),
            Self::Cards => Some(&["title", "description", "media_url", "actions"]),
            Self::Form => Some(&[
                "type",
                "placeholder",
                "label",
                "name",
                "options",
                "default",
                "required",
                "pattern",
                "title",
                "pattern_error",
            ]),
            Self::Article => Some(&["title", "description", "link"]),
            _ => None,
        }
    }
}

/// Keys a card action may have.
const CARD_ACTION_KEYS: &[&str] = &["text", "type", "payload", "uri"];

fn content_attributes_error(what: &str) -> DomainError {
    DomainError::Rejected(format!("Validation failed: Content attributes {what}"))
}

fn only_keys(value: &Value, allowed: &[&str], what: &str) -> Result<(), DomainError> {
    let Value::Object(map) = value else {
        return Err(content_attributes_error(&format!("{what} must be objects")));
    };
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(content_attributes_error(&format!(
            "{what} has an invalid key '{k}' (allowed: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Checks `content_attributes` against the content type, as Chatwoot's
/// content attribute validator does: input_select, cards, form and article
/// need at least one item, each with only its type's keys; each card needs
/// actions with only `text, type, payload, uri`.
pub fn validate_content_attributes(
    content_type: ContentType,
    attributes: &Attributes,
) -> Result<(), DomainError> {
    let Some(keys) = content_type.item_keys() else {
        return Ok(());
    };
    let items = match attributes.get("items") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(content_attributes_error("At least one item is required."))
        }
        Some(_) => return Err(content_attributes_error("items must be an array")),
    };
    for item in items {
        only_keys(item, keys, "Item")?;
        if content_type == ContentType::Cards {
            match item.get("actions") {
                Some(Value::Array(actions)) if !actions.is_empty() => {
                    for action in actions {
                        only_keys(action, CARD_ACTION_KEYS, "Card action")?;
                    }
                }
                _ => {
                    return Err(content_attributes_error(
                        "Each card needs at least one action",
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Sender {
    /// An agent.
    User(i64),
    /// An agent bot.
    AgentBot(i64),
    /// The conversation's contact.
    Contact(i64),
}

/// A new message as the command service hands it over (ids drawn, facts
/// looked up).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// New global message id.
    pub message_id: i64,
    /// Account.
    pub account_id: i64,
    /// Global conversation id.
    pub conversation_id: i64,
    /// The conversation's inbox.
    pub inbox_id: i64,
    /// Whether the inbox is an API inbox (only those take posted incoming messages).
    pub inbox_is_api: bool,
    /// Incoming or outgoing.
    pub message_type: MessageType,
    /// The text, if any.
    pub content: Option<String>,
    /// How to show it.
    pub content_type: ContentType,
    /// Items and the like.
    pub content_attributes: Attributes,
    /// A private note.
    pub private: bool,
    /// Who sends it.
    pub sender: Option<Sender>,
    /// The message's id in the channel, if any.
    pub source_id: Option<String>,
    /// Files already put in the blob store (at most [`MAX_ATTACHMENTS`]).
    pub attachments: Vec<Attachment>,
}

/// What may be asked of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageCommand {
    /// Create it.
    Create(NewMessage),
    /// Soft-delete it; it must belong to this conversation (global id).
    Delete {
        /// The conversation the path names.
        conversation_id: i64,
    },
}

/// A message as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// `(message id, account id, conversation id)` once created.
    pub ids: Option<(i64, i64, i64)>,
    /// Incoming, outgoing, ...
    pub message_type: Option<MessageType>,
    /// Whether it was soft-deleted.
    pub deleted: bool,
    /// Blob keys of its attachments (their bytes go when it is deleted).
    pub blob_keys: Vec<String>,
}

impl Aggregate for Message {
    type Command = MessageCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::MessageCreated {
                message_id,
                account_id,
                conversation_id,
                message_type,
                attachments,
                ..
            } => {
                self.ids = Some((*message_id, *account_id, *conversation_id));
                self.message_type = Some(*message_type);
                self.blob_keys = attachments.iter().map(|a| a.blob.key.clone()).collect();
            }
            Event::MessageDeleted { .. } => self.deleted = true,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &MessageCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            MessageCommand::Create(m) => {
                if self.ids.is_some() {
                    return Err(DomainError::Rejected("Message already exists".into()));
                }
                if m.message_type == MessageType::Incoming && !m.inbox_is_api {
                    return Err(DomainError::Rejected(
                        "Incoming messages are only allowed in Api inboxes".into(),
                    ));
                }
                if !matches!(
                    m.message_type,
                    MessageType::Incoming | MessageType::Outgoing
                ) {
                    return Err(DomainError::invalid(
                        "message_type",
                        "Only incoming and outgoing messages can be created",
                    ));
                }
                if m.content
                    .as_deref()
                    .is_some_and(|c| c.chars().count() > MAX_CONTENT)
                {
                    return Err(DomainError::Rejected(format!(
                        "Validation failed: Content is too long (maximum is {MAX_CONTENT} characters)"
                    )));
                }
                if m.attachments.len() > MAX_ATTACHMENTS {
                    return Err(DomainError::Rejected(format!(
                        "Validation failed: Attachments are too many (maximum is {MAX_ATTACHMENTS})"
                    )));
                }
                let blank = m.content.as_deref().is_none_or(|c| c.trim().is_empty());
                if blank && m.attachments.is_empty() && m.content_type.item_keys().is_none() {
                    return Err(DomainError::Rejected(
                        "Validation failed: Content can't be blank".into(),
                    ));
                }
                validate_content_attributes(m.content_type, &m.content_attributes)?;
                Ok(vec![Event::MessageCreated {
                    message_id: m.message_id,
                    account_id: m.account_id,
                    conversation_id: m.conversation_id,
                    inbox_id: m.inbox_id,
                    message_type: m.message_type,
                    content: m.content.clone(),
                    content_type: m.content_type,
                    content_attributes: m.content_attributes.clone(),
                    private: m.private,
                    sender: m.sender,
                    source_id: m.source_id.clone(),
                    attachments: m.attachments.clone(),
                }])
            }
            MessageCommand::Delete { conversation_id } => {
                let Some((message_id, account_id, of)) = self.ids else {
                    return Err(DomainError::NotFound);
                };
                if of != *conversation_id {
                    return Err(DomainError::NotFound);
                }
                if self.deleted {
                    return Ok(vec![]);
                }
                Ok(vec![Event::MessageDeleted {
                    message_id,
                    account_id,
                    conversation_id: of,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, when};
    use serde_json::json;

    fn new(message_type: MessageType, api: bool) -> NewMessage {
        NewMessage {
            message_id: 10,
            account_id: 1,
            conversation_id: 100,
            inbox_id: 2,
            inbox_is_api: api,
            message_type,
            content: Some("hello".into()),
            content_type: ContentType::Text,
            content_attributes: Attributes::new(),
            private: false,
            sender: Some(Sender::User(9)),
            source_id: None,
            attachments: vec![],
        }
    }

    fn with_items(content_type: ContentType, attrs: Value) -> NewMessage {
        let Value::Object(map) = attrs else { panic!() };
        NewMessage {
            content: None,
            content_type,
            content_attributes: map,
            ..new(MessageType::Outgoing, false)
        }
    }

    fn created() -> Vec<Event> {
        when::<Message>(
            &[],
            MessageCommand::Create(new(MessageType::Outgoing, false)),
        )
        .unwrap()
    }

    #[test]
    fn given_nothing_when_create_outgoing_then_message_created() {
        let events = created();
        assert!(matches!(
            &events[..],
            [Event::MessageCreated {
                message_id: 10,
                message_type: MessageType::Outgoing,
                private: false,
                ..
            }]
        ));
    }

    #[test]
    fn given_a_non_api_inbox_when_create_incoming_then_rejected() {
        assert_eq!(
            when::<Message>(
                &[],
                MessageCommand::Create(new(MessageType::Incoming, false))
            ),
            Err(DomainError::Rejected(
                "Incoming messages are only allowed in Api inboxes".into()
            ))
        );
    }

    #[test]
    fn given_an_api_inbox_when_create_incoming_then_created() {
        let events = when::<Message>(
            &[],
            MessageCommand::Create(new(MessageType::Incoming, true)),
        )
        .unwrap();
        assert!(matches!(
            &events[..],
            [Event::MessageCreated {
                message_type: MessageType::Incoming,
                ..
            }]
        ));
    }

    #[test]
    fn given_nothing_when_create_with_blank_text_then_rejected() {
        let mut m = new(MessageType::Outgoing, false);
        m.content = Some("  ".into());
        assert!(when::<Message>(&[], MessageCommand::Create(m)).is_err());
    }

    #[test]
    fn given_nothing_when_create_with_too_long_content_then_rejected_case_69() {
        let mut m = new(MessageType::Outgoing, false);
        m.content = Some("a".repeat(MAX_CONTENT + 1));
        assert_eq!(
            when::<Message>(&[], MessageCommand::Create(m)),
            Err(DomainError::Rejected(
                "Validation failed: Content is too long (maximum is 150000 characters)".into()
            ))
        );
    }

    #[test]
    fn given_nothing_when_create_input_select_with_two_items_then_created_case_66() {
        let m = with_items(
            ContentType::InputSelect,
            json!({"items": [{"title": "a", "value": "a"}, {"title": "b", "value": "b"}]}),
        );
        assert!(when::<Message>(&[], MessageCommand::Create(m)).is_ok());
    }

    #[test]
    fn given_nothing_when_create_cards_with_one_card_then_created_case_66() {
        let m = with_items(
            ContentType::Cards,
            json!({"items": [{"title": "t", "description": "d", "media_url": "u",
                "actions": [{"type": "link", "text": "View", "uri": "https://x"}]}]}),
        );
        assert!(when::<Message>(&[], MessageCommand::Create(m)).is_ok());
    }

    #[test]
    fn invalid_items_are_rejected() {
        for (ct, attrs) in [
            (ContentType::InputSelect, json!({})),
            (ContentType::InputSelect, json!({"items": []})),
            (
                ContentType::InputSelect,
                json!({"items": [{"title": "a", "oops": 1}]}),
            ),
            (ContentType::InputSelect, json!({"items": ["a"]})),
            (ContentType::Cards, json!({"items": [{"title": "t"}]})),
            (
                ContentType::Cards,
                json!({"items": [{"title": "t", "actions": [{"bad": 1}]}]}),
            ),
            (ContentType::Form, json!({"items": [{"nope": 1}]})),
            (
                ContentType::Article,
                json!({"items": [{"title": "t", "url": "x"}]}),
            ),
        ] {
            let m = with_items(ct, attrs.clone());
            assert!(
                matches!(
                    when::<Message>(&[], MessageCommand::Create(m)),
                    Err(DomainError::Rejected(_))
                ),
                "{ct:?} {attrs}"
            );
        }
    }

    #[test]
    fn given_a_message_when_deleted_then_soft_deleted_once() {
        let history = created();
        let events = when::<Message>(
            &history,
            MessageCommand::Delete {
                conversation_id: 100,
            },
        )
        .unwrap();
        assert_eq!(
            events,
            vec![Event::MessageDeleted {
                message_id: 10,
                account_id: 1,
                conversation_id: 100
            }]
        );
        let all: Vec<Event> = history.into_iter().chain(events).collect();
        assert!(given::<Message>(&all).deleted);
        assert!(when::<Message>(
            &all,
            MessageCommand::Delete {
                conversation_id: 100
            }
        )
        .unwrap()
        .is_empty());
    }

    #[test]
    fn given_a_message_of_another_conversation_when_deleted_then_not_found() {
        assert_eq!(
            when::<Message>(&created(), MessageCommand::Delete { conversation_id: 7 }),
            Err(DomainError::NotFound)
        );
        assert_eq!(
            when::<Message>(
                &[],
                MessageCommand::Delete {
                    conversation_id: 100
                }
            ),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn message_types_parse_from_names_and_integers() {
        assert_eq!(
            MessageType::parse_postable(&json!("incoming")).unwrap(),
            MessageType::Incoming
        );
        assert_eq!(
            MessageType::parse_postable(&json!(1)).unwrap(),
            MessageType::Outgoing
        );
        assert!(MessageType::parse_postable(&json!("activity")).is_err());
        assert!(MessageType::parse_postable(&json!(7)).is_err());
        assert!(ContentType::parse("video").is_err());
    }

    fn attachment(id: i64) -> Attachment {
        use crate::attachment::{BlobRef, FileType};
        Attachment {
            id,
            file_type: FileType::Image,
            blob: BlobRef {
                key: format!("attachments/1/{id}"),
                byte_size: 3,
                content_type: "image/png".into(),
                file_name: "a.png".into(),
                checksum: "00".into(),
            },
        }
    }

    #[test]
    fn given_nothing_when_create_with_only_attachments_then_blank_content_is_fine() {
        let m = NewMessage {
            content: None,
            attachments: vec![attachment(1)],
            ..new(MessageType::Outgoing, false)
        };
        let events = when::<Message>(&[], MessageCommand::Create(m)).unwrap();
        let state = given::<Message>(&events);
        assert_eq!(state.blob_keys, vec!["attachments/1/1".to_owned()]);
    }

    #[test]
    fn given_nothing_when_create_with_16_attachments_then_rejected() {
        let m = NewMessage {
            attachments: (0..16).map(attachment).collect(),
            ..new(MessageType::Outgoing, false)
        };
        assert!(matches!(
            when::<Message>(&[], MessageCommand::Create(m)),
            Err(DomainError::Rejected(_))
        ));
    }

    #[test]
    fn a_message_created_before_attachments_existed_reads_with_none() {
        let mut payload = created()[0].payload();
        payload.as_object_mut().unwrap().remove("attachments");
        let event = Event::from_stored("MessageCreated", 1, payload).unwrap();
        assert!(
            matches!(event, Event::MessageCreated { attachments, .. } if attachments.is_empty())
        );
    }
}
