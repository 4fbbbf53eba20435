//! Agent bots and the bot connected to an inbox.
//!
//! A bot belongs to an account, or to none (a global bot, made by a platform
//! app). Its access token is derived by the caller; only the hash is
//! recorded. An inbox has at most one bot ([`InboxAgentBot`], decided on the
//! inbox's own stream); the caller checks that the bot may be connected to
//! the inbox's account (its own bots and global bots). A deleted bot refuses
//! every further command as not found.

use serde::{Deserialize, Serialize};

use crate::validate::name_length;
use crate::{Aggregate, Attributes, DomainError, Event};

/// Longest `outgoing_url` accepted (Chatwoot's URL length limit).
pub const MAX_URL: usize = 2048;

/// How a bot is reached. Chatwoot knows only webhook bots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotType {
    /// Events are posted to `outgoing_url`.
    #[default]
    Webhook,
}

impl BotType {
    /// The name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BotType::Webhook => "webhook",
        }
    }

    /// Reads a name or Rails' enum integer (0).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        match value.trim() {
            "webhook" | "0" => Ok(BotType::Webhook),
            _ => Err(DomainError::invalid(
                "bot_type",
                "Bot type is not included in the list (webhook)",
            )),
        }
    }
}

/// Bot fields a client may send; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentBotChanges {
    /// Name; required on create.
    pub name: Option<String>,
    /// Description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Where events are posted; `Some(None)` clears it.
    pub outgoing_url: Option<Option<String>>,
    /// Kind of bot.
    pub bot_type: Option<BotType>,
    /// Free-form configuration.
    pub bot_config: Option<Attributes>,
}

/// The fields of a bot as recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentBotFields {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Where events are posted.
    pub outgoing_url: Option<String>,
    /// Kind of bot.
    pub bot_type: BotType,
    /// Configuration.
    pub bot_config: Attributes,
}

/// An agent bot as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentBot {
    /// Set once created.
    pub id: Option<i64>,
    /// Owning account; `None` for a global bot.
    pub account_id: Option<i64>,
    /// Current fields.
    pub fields: AgentBotFields,
    /// Deleted: nothing more may happen to it.
    pub deleted: bool,
}

/// What may be asked of an agent bot.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentBotCommand {
    /// Create the bot.
    Create {
        /// New id.
        agent_bot_id: i64,
        /// Owning account, `None` for a global bot.
        account_id: Option<i64>,
        /// Fields sent; `name` is required.
        changes: AgentBotChanges,
        /// SHA-256 of its access token.
        access_token_hash: String,
    },
    /// Change its fields.
    Update(AgentBotChanges),
    /// Delete it (the caller disconnects it from its inboxes).
    Delete,
}

fn settle(current: &AgentBotFields, c: &AgentBotChanges) -> Result<AgentBotFields, DomainError> {
    let mut f = current.clone();
    if let Some(v) = &c.name {
        f.name = v.trim().to_owned();
    }
    if let Some(v) = &c.description {
        f.description = v.clone();
    }
    if let Some(v) = &c.outgoing_url {
        f.outgoing_url = v
            .as_ref()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
    }
    if let Some(v) = c.bot_type {
        f.bot_type = v;
    }
    if let Some(v) = &c.bot_config {
        f.bot_config = v.clone();
    }
    if f.name.is_empty() {
        return Err(DomainError::invalid("name", "Name can't be blank"));
    }
    name_length(&f.name)?;
    if f.outgoing_url
        .as_ref()
        .is_some_and(|u| u.chars().count() > MAX_URL)
    {
        return Err(DomainError::invalid(
            "outgoing_url",
            format!("Outgoing url is too long (maximum is {MAX_URL} characters)"),
        ));
    }
    Ok(f)
}

impl Aggregate for AgentBot {
    type Command = AgentBotCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::AgentBotCreated {
                agent_bot_id,
                account_id,
                name,
                description,
                outgoing_url,
                bot_type,
                bot_config,
                ..
            }
            | Event::AgentBotUpdated {
                agent_bot_id,
                account_id,
                name,
                description,
                outgoing_url,
                bot_type,
                bot_config,
            } => {
                self.id = Some(*agent_bot_id);
                self.account_id = *account_id;
                self.fields = AgentBotFields {
                    name: name.clone(),
                    description: description.clone(),
                    outgoing_url: outgoing_url.clone(),
                    bot_type: *bot_type,
                    bot_config: bot_config.clone(),
                };
            }
            Event::AgentBotDeleted { .. } => self.deleted = true,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &AgentBotCommand) -> Result<Vec<Event>, DomainError> {
        if let AgentBotCommand::Create {
            agent_bot_id,
            account_id,
            changes,
            access_token_hash,
        } = command
        {
            if self.id.is_some() {
                return Err(DomainError::Rejected("Agent bot already exists".into()));
            }
            let f = settle(&AgentBotFields::default(), changes)?;
            return Ok(vec![Event::AgentBotCreated {
                agent_bot_id: *agent_bot_id,
                account_id: *account_id,
                name: f.name,
                description: f.description,
                outgoing_url: f.outgoing_url,
                bot_type: f.bot_type,
                bot_config: f.bot_config,
                access_token_hash: access_token_hash.clone(),
            }]);
        }
        let Some(agent_bot_id) = self.id.filter(|_| !self.deleted) else {
            return Err(DomainError::NotFound);
        };
        match command {
            AgentBotCommand::Create { .. } => Ok(vec![]),
            AgentBotCommand::Update(changes) => {
                let f = settle(&self.fields, changes)?;
                if f == self.fields {
                    return Ok(vec![]);
                }
                Ok(vec![Event::AgentBotUpdated {
                    agent_bot_id,
                    account_id: self.account_id,
                    name: f.name,
                    description: f.description,
                    outgoing_url: f.outgoing_url,
                    bot_type: f.bot_type,
                    bot_config: f.bot_config,
                }])
            }
            AgentBotCommand::Delete => Ok(vec![Event::AgentBotDeleted {
                agent_bot_id,
                account_id: self.account_id,
            }]),
        }
    }
}

/// The bot side of an inbox, folded from the inbox's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxAgentBot {
    /// `(inbox id, account id)` once the inbox exists.
    pub ids: Option<(i64, i64)>,
    /// The connected bot.
    pub agent_bot_id: Option<i64>,
}

/// Connect a bot to the inbox (`Some`) or disconnect it (`None`). The caller
/// has checked that the bot exists and may serve the inbox's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetAgentBot(pub Option<i64>);

impl Aggregate for InboxAgentBot {
    type Command = SetAgentBot;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::InboxCreated {
                inbox_id,
                account_id,
                ..
            } => self.ids = Some((*inbox_id, *account_id)),
            Event::InboxAgentBotSet { agent_bot_id, .. } => self.agent_bot_id = *agent_bot_id,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &SetAgentBot) -> Result<Vec<Event>, DomainError> {
        let Some((inbox_id, account_id)) = self.ids else {
            return Err(DomainError::NotFound);
        };
        if self.agent_bot_id == command.0 {
            return Ok(vec![]);
        }
        Ok(vec![Event::InboxAgentBotSet {
            inbox_id,
            account_id,
            agent_bot_id: command.0,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::when;

    fn created(account_id: Option<i64>) -> Event {
        Event::AgentBotCreated {
            agent_bot_id: 5,
            account_id,
            name: "Helper".into(),
            description: None,
            outgoing_url: Some("https://bot.example/hook".into()),
            bot_type: BotType::Webhook,
            bot_config: Attributes::new(),
            access_token_hash: "h".into(),
        }
    }

    fn create(name: &str) -> AgentBotCommand {
        AgentBotCommand::Create {
            agent_bot_id: 5,
            account_id: Some(1),
            changes: AgentBotChanges {
                name: Some(name.into()),
                outgoing_url: Some(Some(" https://bot.example/hook ".into())),
                ..Default::default()
            },
            access_token_hash: "h".into(),
        }
    }

    #[test]
    fn given_nothing_when_create_then_agent_bot_created() {
        let events = when::<AgentBot>(&[], create(" Helper ")).unwrap();
        assert_eq!(events, vec![created(Some(1))]);
    }

    #[test]
    fn given_nothing_when_create_without_name_then_invalid() {
        let err = when::<AgentBot>(&[], create("  ")).unwrap_err();
        assert_eq!(err, DomainError::invalid("name", "Name can't be blank"));
    }

    #[test]
    fn given_nothing_when_create_with_too_long_url_then_invalid() {
        let cmd = AgentBotCommand::Create {
            agent_bot_id: 5,
            account_id: None,
            changes: AgentBotChanges {
                name: Some("b".into()),
                outgoing_url: Some(Some("x".repeat(MAX_URL + 1))),
                ..Default::default()
            },
            access_token_hash: "h".into(),
        };
        assert!(matches!(
            when::<AgentBot>(&[], cmd),
            Err(DomainError::Invalid { .. })
        ));
    }

    #[test]
    fn given_a_bot_when_create_again_then_rejected() {
        assert!(matches!(
            when::<AgentBot>(&[created(None)], create("x")),
            Err(DomainError::Rejected(_))
        ));
    }

    #[test]
    fn given_a_bot_when_update_then_agent_bot_updated_keeping_its_account() {
        let mut config = Attributes::new();
        config.insert("k".into(), serde_json::json!(1));
        let cmd = AgentBotCommand::Update(AgentBotChanges {
            name: Some("Renamed".into()),
            description: Some(Some("d".into())),
            bot_config: Some(config.clone()),
            ..Default::default()
        });
        let events = when::<AgentBot>(&[created(Some(1))], cmd).unwrap();
        assert_eq!(
            events,
            vec![Event::AgentBotUpdated {
                agent_bot_id: 5,
                account_id: Some(1),
                name: "Renamed".into(),
                description: Some("d".into()),
                outgoing_url: Some("https://bot.example/hook".into()),
                bot_type: BotType::Webhook,
                bot_config: config,
            }]
        );
    }

    #[test]
    fn given_a_bot_when_update_changes_nothing_then_no_event() {
        let cmd = AgentBotCommand::Update(AgentBotChanges {
            name: Some("Helper".into()),
            ..Default::default()
        });
        assert!(when::<AgentBot>(&[created(None)], cmd).unwrap().is_empty());
    }

    #[test]
    fn given_a_bot_when_delete_then_agent_bot_deleted_and_then_not_found() {
        let events = when::<AgentBot>(&[created(Some(1))], AgentBotCommand::Delete).unwrap();
        assert_eq!(
            events,
            vec![Event::AgentBotDeleted {
                agent_bot_id: 5,
                account_id: Some(1)
            }]
        );
        let history = [created(Some(1)), events[0].clone()];
        assert_eq!(
            when::<AgentBot>(&history, AgentBotCommand::Delete),
            Err(DomainError::NotFound)
        );
        assert_eq!(
            when::<AgentBot>(
                &history,
                AgentBotCommand::Update(AgentBotChanges::default())
            ),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn given_nothing_when_update_then_not_found() {
        assert_eq!(
            when::<AgentBot>(&[], AgentBotCommand::Update(AgentBotChanges::default())),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn bot_types_parse_by_name_or_integer() {
        assert_eq!(BotType::parse("webhook").unwrap(), BotType::Webhook);
        assert_eq!(BotType::parse("0").unwrap(), BotType::Webhook);
        assert!(BotType::parse("csml").is_err());
    }

    fn inbox_created() -> Event {
        Event::InboxCreated {
            inbox_id: 3,
            account_id: 1,
            channel_id: 1,
            channel: crate::inbox::Channel::Api {
                webhook_url: None,
                hmac_token: "x".into(),
            },
            settings: crate::inbox::InboxSettings {
                name: "i".into(),
                greeting_enabled: false,
                greeting_message: None,
                enable_auto_assignment: true,
                working_hours_enabled: false,
                out_of_office_message: None,
                timezone: "UTC".into(),
                working_hours: vec![],
            },
        }
    }

    fn set(bot: Option<i64>) -> Event {
        Event::InboxAgentBotSet {
            inbox_id: 3,
            account_id: 1,
            agent_bot_id: bot,
        }
    }

    #[test]
    fn given_an_inbox_when_set_agent_bot_then_inbox_agent_bot_set() {
        let events = when::<InboxAgentBot>(&[inbox_created()], SetAgentBot(Some(5))).unwrap();
        assert_eq!(events, vec![set(Some(5))]);
    }

    #[test]
    fn given_a_connected_bot_when_set_again_then_nothing_and_when_unset_then_removed() {
        let history = [inbox_created(), set(Some(5))];
        assert!(when::<InboxAgentBot>(&history, SetAgentBot(Some(5)))
            .unwrap()
            .is_empty());
        assert_eq!(
            when::<InboxAgentBot>(&history, SetAgentBot(Some(6))).unwrap(),
            vec![set(Some(6))]
        );
        assert_eq!(
            when::<InboxAgentBot>(&history, SetAgentBot(None)).unwrap(),
            vec![set(None)]
        );
    }

    #[test]
    fn given_no_bot_when_unset_then_no_event() {
        assert!(when::<InboxAgentBot>(&[inbox_created()], SetAgentBot(None))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn given_no_inbox_when_set_agent_bot_then_not_found() {
        assert_eq!(
            when::<InboxAgentBot>(&[], SetAgentBot(Some(5))),
            Err(DomainError::NotFound)
        );
    }
}
