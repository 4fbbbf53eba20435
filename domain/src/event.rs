//! The persisted event vocabulary.
//!
//! Every fact the system records is one variant of [`Event`]. In the log an
//! event is stored as its type name ([`Event::event_type`]), a schema version
//! ([`Event::schema_version`]) and a JSON payload (the variant's fields). An
//! event type is never renamed once persisted; a changed shape gets a new
//! schema version and an upcaster in [`Event::from_stored`], so old events are
//! read in today's shape without being rewritten.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::Role;
use crate::agent_bot::BotType;
use crate::attachment::{Attachment, BlobRef};
use crate::contact::ContactFields;
use crate::conversation::ConversationStatus;
use crate::inbox::{Channel, InboxSettings};
use crate::message::{ContentType, MessageType, Sender};
use crate::platform_app::Permissible;
use crate::{Actor, Attributes};

/// Names a stream: the aggregate kind and its integer id (`"conversation:42"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// Aggregate kind, e.g. `"conversation"`.
    pub kind: &'static str,
    /// The aggregate's global integer id.
    pub id: i64,
}

impl StreamId {
    /// The stream of account `id` (the account and its memberships).
    pub fn account(id: i64) -> Self {
        StreamId {
            kind: "account",
            id,
        }
    }
    /// The stream of user `id`.
    pub fn user(id: i64) -> Self {
        StreamId { kind: "user", id }
    }
    /// The stream of platform app `id` (the app and its grants).
    pub fn platform_app(id: i64) -> Self {
        StreamId {
            kind: "platform_app",
            id,
        }
    }
    /// The stream of inbox `id`.
    pub fn inbox(id: i64) -> Self {
        StreamId { kind: "inbox", id }
    }
    /// The stream of contact `id` (the contact and its contact inboxes).
    pub fn contact(id: i64) -> Self {
        StreamId {
            kind: "contact",
            id,
        }
    }
    /// The stream of conversation `id` (the global id, not the display id).
    pub fn conversation(id: i64) -> Self {
        StreamId {
            kind: "conversation",
            id,
        }
    }
    /// The stream of message `id` (global message id).
    pub fn message(id: i64) -> Self {
        StreamId {
            kind: "message",
            id,
        }
    }
    /// The stream of team `id` (the team and its members).
    pub fn team(id: i64) -> Self {
        StreamId { kind: "team", id }
    }
    // ---- agent bots and sso ----
    /// An agent bot's stream.
    pub fn agent_bot(id: i64) -> Self {
        StreamId {
            kind: "agent_bot",
            id,
        }
    }
    // ---- integrations ----
    /// The stream of integration hook `id`.
    pub fn hook(id: i64) -> Self {
        StreamId { kind: "hook", id }
    }
    // ---- webhooks ----
    /// The stream of account webhook `id`.
    pub fn webhook(id: i64) -> Self {
        StreamId {
            kind: "webhook",
            id,
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// Every fact the system records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// An account was created (by a platform app or an operator).
    AccountCreated {
        /// Account id.
        account_id: i64,
        /// Display name.
        name: String,
        /// Locale, `"en"` by default.
        locale: String,
        /// Custom domain, if any.
        domain: Option<String>,
        /// Support e-mail, if any.
        support_email: Option<String>,
        /// Free-form attributes.
        custom_attributes: Attributes,
    },
    /// An account's settings changed; carries the full new values.
    AccountUpdated {
        /// Account id.
        account_id: i64,
        /// Display name.
        name: String,
        /// Locale.
        locale: String,
        /// Custom domain.
        domain: Option<String>,
        /// Support e-mail.
        support_email: Option<String>,
        /// Free-form attributes after the merge.
        custom_attributes: Attributes,
    },
    /// An account was deleted; it disappears from every read model.
    AccountDeleted {
        /// Account id.
        account_id: i64,
    },
    /// A user became a member of an account.
    AccountUserAdded {
        /// Account id.
        account_id: i64,
        /// The membership's own id.
        account_user_id: i64,
        /// The member.
        user_id: i64,
        /// The member's role.
        role: Role,
        /// Who invited them, if a user did.
        inviter_id: Option<i64>,
    },
    /// A member's role changed.
    AccountUserRoleChanged {
        /// Account id.
        account_id: i64,
        /// The membership's id.
        account_user_id: i64,
        /// The member.
        user_id: i64,
        /// Role before.
        from: Role,
        /// Role after.
        to: Role,
    },
    /// A user stopped being a member of an account.
    AccountUserRemoved {
        /// Account id.
        account_id: i64,
        /// The membership's id.
        account_user_id: i64,
        /// The former member.
        user_id: i64,
    },
    /// A user was created.
    UserCreated {
        /// User id.
        user_id: i64,
        /// Full name.
        name: String,
        /// Display name, if any.
        display_name: Option<String>,
        /// Login e-mail, lowercased.
        email: String,
        /// Free-form attributes.
        custom_attributes: Attributes,
        /// SHA-256 (hex) of the user's access token; the token itself is never stored.
        access_token_hash: String,
    },
    /// A user's profile changed; carries the full new values.
    UserUpdated {
        /// User id.
        user_id: i64,
        /// Full name.
        name: String,
        /// Display name.
        display_name: Option<String>,
        /// Login e-mail, lowercased.
        email: String,
        /// Free-form attributes after the merge.
        custom_attributes: Attributes,
    },
    /// A user was deleted, with their memberships.
    UserDeleted {
        /// User id.
        user_id: i64,
    },
    /// A platform app was registered (by the operators' CLI).
    PlatformAppCreated {
        /// App id.
        app_id: i64,
        /// The app's name.
        name: String,
        /// SHA-256 (hex) of the app's access token.
        access_token_hash: String,
    },
    /// A platform app was granted an object (it created it, or was given it).
    PermissibleGranted {
        /// App id.
        app_id: i64,
        /// What it may now manage.
        target: Permissible,
    },
    /// An inbox was created with its channel.
    InboxCreated {
        /// Inbox id.
        inbox_id: i64,
        /// Account id.
        account_id: i64,
        /// Channel id (per channel type).
        channel_id: i64,
        /// The channel.
        channel: Channel,
        /// The inbox's settings.
        settings: InboxSettings,
    },
    /// An inbox changed; carries the full new channel and settings.
    InboxUpdated {
        /// Inbox id.
        inbox_id: i64,
        /// Account id.
        account_id: i64,
        /// The channel after the change.
        channel: Channel,
        /// The settings after the change.
        settings: InboxSettings,
    },
    /// A contact was created.
    ContactCreated {
        /// Contact id.
        contact_id: i64,
        /// Account id.
        account_id: i64,
        /// The contact's fields.
        #[serde(flatten)]
        fields: ContactFields,
    },
    /// A contact changed; carries the full new fields (attributes already merged).
    ContactUpdated {
        /// Contact id.
        contact_id: i64,
        /// Account id.
        account_id: i64,
        /// The contact's fields after the change.
        #[serde(flatten)]
        fields: ContactFields,
    },
    /// A contact became reachable through an inbox under a source id.
    ContactInboxCreated {
        /// Contact id.
        contact_id: i64,
        /// Account id.
        account_id: i64,
        /// The contact inbox's id.
        contact_inbox_id: i64,
        /// The inbox.
        inbox_id: i64,
        /// The contact's address in that inbox.
        source_id: String,
    },
    /// A conversation was opened.
    ConversationCreated {
        /// Global conversation id.
        conversation_id: i64,
        /// Account id.
        account_id: i64,
        /// Per-account number that clients use as the conversation's id.
        display_id: i64,
        /// Inbox.
        inbox_id: i64,
        /// Contact.
        contact_id: i64,
        /// The contact inbox the conversation runs on.
        contact_inbox_id: i64,
        /// Initial status.
        status: ConversationStatus,
        /// Assigned agent, if any.
        assignee_id: Option<i64>,
        /// Assigned team, if any.
        team_id: Option<i64>,
        /// Until when it is snoozed (Unix seconds), if snoozed.
        snoozed_until: Option<i64>,
        /// Free-form attributes from the channel.
        additional_attributes: Attributes,
        /// Free-form attributes set by agents.
        custom_attributes: Attributes,
    },
    /// A conversation's status changed.
    ConversationStatusChanged {
        /// Global conversation id.
        conversation_id: i64,
        /// Account id.
        account_id: i64,
        /// Status before.
        from: ConversationStatus,
        /// Status after.
        to: ConversationStatus,
        /// Until when it is snoozed (Unix seconds), when `to` is snoozed.
        snoozed_until: Option<i64>,
        /// Who changed it.
        actor: Actor,
    },
    // ---- messages and labels ----
    /// A message was posted to a conversation (stream `message:<id>`).
    MessageCreated {
        /// Global message id.
        message_id: i64,
        /// Account id.
        account_id: i64,
        /// Global conversation id.
        conversation_id: i64,
        /// The conversation's inbox.
        inbox_id: i64,
        /// Incoming or outgoing.
        message_type: MessageType,
        /// The text, if any.
        content: Option<String>,
        /// How to show it.
        content_type: ContentType,
        /// Items and the like (validated for the content type).
        content_attributes: Attributes,
        /// A private note.
        private: bool,
        /// Who sent it.
        sender: Option<Sender>,
        /// The message's id in the channel, if any.
        source_id: Option<String>,
        /// Files sent with it (references to the blob store). Added later
        /// with a default, so events written before read as having none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
    },
    /// A message was soft-deleted: its content reads "This message was deleted".
    MessageDeleted {
        /// Global message id.
        message_id: i64,
        /// Account id.
        account_id: i64,
        /// Global conversation id.
        conversation_id: i64,
    },
    /// A conversation's labels were replaced.
    ConversationLabelsChanged {
        /// Global conversation id.
        conversation_id: i64,
        /// Account id.
        account_id: i64,
        /// The full set after the change, in order.
        labels: Vec<String>,
        /// Labels that were not there before.
        added: Vec<String>,
        /// Labels that are gone.
        removed: Vec<String>,
        /// Who changed them.
        actor: Actor,
    },
    // ---- teams, members, assignments ----
    /// A team was created.
    TeamCreated {
        /// Team id.
        team_id: i64,
        /// Account id.
        account_id: i64,
        /// Lowercased name, unique in the account.
        name: String,
        /// Description.
        description: Option<String>,
        /// Assigning the team auto-assigns one of its members.
        allow_auto_assign: bool,
    },
    /// A team changed; carries the full new values.
    TeamUpdated {
        /// Team id.
        team_id: i64,
        /// Account id.
        account_id: i64,
        /// Lowercased name.
        name: String,
        /// Description.
        description: Option<String>,
        /// Auto-assign on team assignment.
        allow_auto_assign: bool,
    },
    /// A team was deleted with its memberships (its conversations lose it by
    /// their own `ConversationTeamChanged` events, in the same transaction).
    TeamDeleted {
        /// Team id.
        team_id: i64,
        /// Account id.
        account_id: i64,
    },
    /// Users joined a team.
    TeamMembersAdded {
        /// Team id.
        team_id: i64,
        /// Account id.
        account_id: i64,
        /// The new members, sorted.
        user_ids: Vec<i64>,
    },
    /// Users left a team.
    TeamMembersRemoved {
        /// Team id.
        team_id: i64,
        /// Account id.
        account_id: i64,
        /// The former members, sorted.
        user_ids: Vec<i64>,
    },
    /// Users became members of an inbox.
    InboxMembersAdded {
        /// Inbox id.
        inbox_id: i64,
        /// Account id.
        account_id: i64,
        /// The new members, sorted.
        user_ids: Vec<i64>,
    },
    /// Users stopped being members of an inbox.
    InboxMembersRemoved {
        /// Inbox id.
        inbox_id: i64,
        /// Account id.
        account_id: i64,
        /// The former members, sorted.
        user_ids: Vec<i64>,
    },
    /// A conversation's assignee changed (`None`: unassigned).
    ConversationAssigneeChanged {
        /// Global conversation id.
        conversation_id: i64,
        /// Account id.
        account_id: i64,
        /// Assignee before.
        from: Option<i64>,
        /// Assignee after.
        to: Option<i64>,
        /// Who changed it.
        actor: Actor,
        /// The change came with a team assignment in the same command: its
        /// activity message is the team's ("Assigned to X via T by Y").
        /// Absent in events written before it existed (read as `false`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_team: bool,
    },
    /// A conversation's team changed (`None`: no team).
    ConversationTeamChanged {
        /// Global conversation id.
        conversation_id: i64,
        /// Account id.
        account_id: i64,
        /// Team before.
        from: Option<i64>,
        /// Team after.
        to: Option<i64>,
        /// Who changed it.
        actor: Actor,
        /// The assignee this team assignment set in the same command, if it
        /// set one (auto-assignment). Absent in older events (read as `None`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee_id: Option<i64>,
        /// The team was deleted; Chatwoot nullifies without an activity
        /// message. Absent in older events (read as `false`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        team_deleted: bool,
    },
    // ---- integrations ----
    /// An integration hook was created for an app (stream `hook:<id>`).
    HookCreated {
        /// Hook id.
        hook_id: i64,
        /// Account id.
        account_id: i64,
        /// The app (`"dialogflow"`, ...).
        app_id: String,
        /// The inbox, for inbox hooks.
        inbox_id: Option<i64>,
        /// `"account"` or `"inbox"`, from the app.
        hook_type: String,
        /// Enabled.
        status: bool,
        /// Settings, fitting the app's schema.
        settings: Attributes,
    },
    /// A hook's status or settings changed; carries the full new values.
    HookUpdated {
        /// Hook id.
        hook_id: i64,
        /// Account id.
        account_id: i64,
        /// Enabled.
        status: bool,
        /// Settings after the change.
        settings: Attributes,
    },
    /// A hook was deleted.
    HookDeleted {
        /// Hook id.
        hook_id: i64,
        /// Account id.
        account_id: i64,
    },
    // ---- agent bots and sso ----
    /// An agent bot was created, with the hash of its access token.
    AgentBotCreated {
        /// Bot id.
        agent_bot_id: i64,
        /// Owning account; `None` for a global bot.
        account_id: Option<i64>,
        /// Name.
        name: String,
        /// Description.
        description: Option<String>,
        /// Where events are posted.
        outgoing_url: Option<String>,
        /// Kind of bot.
        bot_type: BotType,
        /// Configuration.
        bot_config: Attributes,
        /// SHA-256 of its access token.
        access_token_hash: String,
    },
    /// An agent bot's fields changed (all fields as they now are).
    AgentBotUpdated {
        /// Bot id.
        agent_bot_id: i64,
        /// Owning account; `None` for a global bot.
        account_id: Option<i64>,
        /// Name.
        name: String,
        /// Description.
        description: Option<String>,
        /// Where events are posted.
        outgoing_url: Option<String>,
        /// Kind of bot.
        bot_type: BotType,
        /// Configuration.
        bot_config: Attributes,
    },
    /// An agent bot was deleted; its token stops working.
    AgentBotDeleted {
        /// Bot id.
        agent_bot_id: i64,
        /// Owning account; `None` for a global bot.
        account_id: Option<i64>,
    },
    /// The bot connected to an inbox changed (`None`: no bot).
    InboxAgentBotSet {
        /// Inbox id.
        inbox_id: i64,
        /// Account id.
        account_id: i64,
        /// The bot now connected.
        agent_bot_id: Option<i64>,
    },
    // ---- attachments and avatars ----
    /// An inbox's avatar was set, replaced or removed (`None`).
    InboxAvatarChanged {
        /// Inbox id.
        inbox_id: i64,
        /// Account id.
        account_id: i64,
        /// The new avatar's bytes, if any.
        avatar: Option<BlobRef>,
    },
    // ---- webhooks ----
    /// An account webhook was created (its signing secret is not in the log).
    WebhookCreated {
        /// Webhook id.
        webhook_id: i64,
        /// Account id.
        account_id: i64,
        /// Receiving URL (http or https).
        url: String,
        /// Display name, if any.
        name: Option<String>,
        /// Subscribed event names.
        subscriptions: Vec<String>,
    },
    /// A webhook changed; carries the full new values.
    WebhookUpdated {
        /// Webhook id.
        webhook_id: i64,
        /// Account id.
        account_id: i64,
        /// Receiving URL.
        url: String,
        /// Display name.
        name: Option<String>,
        /// Subscribed event names.
        subscriptions: Vec<String>,
    },
    /// A webhook was deleted: nothing more is sent to it.
    WebhookDeleted {
        /// Webhook id.
        webhook_id: i64,
        /// Account id.
        account_id: i64,
    },
}

/// An event as the log stores it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The type name is not one this code knows.
    #[error("unknown event type {0}")]
    UnknownType(String),
    /// The stored version is newer than this code understands.
    #[error("event type {event_type} has schema version {version}, newer than this code's")]
    FutureVersion {
        /// Type name.
        event_type: String,
        /// Stored version.
        version: i32,
    },
    /// The payload does not have the shape of its type and version.
    #[error("payload of {event_type} does not match its schema: {source}")]
    Payload {
        /// Type name.
        event_type: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl Event {
    /// The persisted type name (the variant name).
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::AccountCreated { .. } => "AccountCreated",
            Event::AccountUpdated { .. } => "AccountUpdated",
            Event::AccountDeleted { .. } => "AccountDeleted",
            Event::AccountUserAdded { .. } => "AccountUserAdded",
            Event::AccountUserRoleChanged { .. } => "AccountUserRoleChanged",
            Event::AccountUserRemoved { .. } => "AccountUserRemoved",
            Event::UserCreated { .. } => "UserCreated",
            Event::UserUpdated { .. } => "UserUpdated",
            Event::UserDeleted { .. } => "UserDeleted",
            Event::PlatformAppCreated { .. } => "PlatformAppCreated",
            Event::PermissibleGranted { .. } => "PermissibleGranted",
            Event::InboxCreated { .. } => "InboxCreated",
            Event::InboxUpdated { .. } => "InboxUpdated",
            Event::ContactCreated { .. } => "ContactCreated",
            Event::ContactUpdated { .. } => "ContactUpdated",
            Event::ContactInboxCreated { .. } => "ContactInboxCreated",
            Event::ConversationCreated { .. } => "ConversationCreated",
            Event::ConversationStatusChanged { .. } => "ConversationStatusChanged",
            // ---- messages and labels ----
            Event::MessageCreated { .. } => "MessageCreated",
            Event::MessageDeleted { .. } => "MessageDeleted",
            Event::ConversationLabelsChanged { .. } => "ConversationLabelsChanged",
            // ---- teams, members, assignments ----
            Event::TeamCreated { .. } => "TeamCreated",
            Event::TeamUpdated { .. } => "TeamUpdated",
            Event::TeamDeleted { .. } => "TeamDeleted",
            Event::TeamMembersAdded { .. } => "TeamMembersAdded",
            Event::TeamMembersRemoved { .. } => "TeamMembersRemoved",
            Event::InboxMembersAdded { .. } => "InboxMembersAdded",
            Event::InboxMembersRemoved { .. } => "InboxMembersRemoved",
            Event::ConversationAssigneeChanged { .. } => "ConversationAssigneeChanged",
            Event::ConversationTeamChanged { .. } => "ConversationTeamChanged",
            // ---- agent bots and sso ----
            Event::AgentBotCreated { .. } => "AgentBotCreated",
            Event::AgentBotUpdated { .. } => "AgentBotUpdated",
            Event::AgentBotDeleted { .. } => "AgentBotDeleted",
            Event::InboxAgentBotSet { .. } => "InboxAgentBotSet",
            // ---- integrations ----
            Event::HookCreated { .. } => "HookCreated",
            Event::HookUpdated { .. } => "HookUpdated",
            Event::HookDeleted { .. } => "HookDeleted",
            // ---- attachments and avatars ----
            Event::InboxAvatarChanged { .. } => "InboxAvatarChanged",
            // ---- webhooks ----
            Event::WebhookCreated { .. } => "WebhookCreated",
            Event::WebhookUpdated { .. } => "WebhookUpdated",
            Event::WebhookDeleted { .. } => "WebhookDeleted",
        }
    }

    /// The schema version this code writes for the event's type.
    pub fn schema_version(&self) -> i32 {
        Self::current_version(self.event_type())
    }

    /// The schema version this code writes for a type name. Bump it (and add an
    /// upcaster below) when a type's payload changes shape.
    pub fn current_version(_event_type: &str) -> i32 {
        1
    }

    /// The account the event belongs to, if it belongs to one.
    pub fn account_id(&self) -> Option<i64> {
        match self {
            Event::AccountCreated { account_id, .. }
            | Event::AccountUpdated { account_id, .. }
            | Event::AccountDeleted { account_id }
            | Event::AccountUserAdded { account_id, .. }
            | Event::AccountUserRoleChanged { account_id, .. }
            | Event::AccountUserRemoved { account_id, .. }
            | Event::InboxCreated { account_id, .. }
            | Event::InboxUpdated { account_id, .. }
            | Event::ContactCreated { account_id, .. }
            | Event::ContactUpdated { account_id, .. }
            | Event::ContactInboxCreated { account_id, .. }
            | Event::ConversationCreated { account_id, .. }
            | Event::ConversationStatusChanged { account_id, .. }
            | Event::MessageCreated { account_id, .. }
            | Event::MessageDeleted { account_id, .. }
            | Event::ConversationLabelsChanged { account_id, .. }
            // ---- teams, members, assignments ----
            | Event::TeamCreated { account_id, .. }
            | Event::TeamUpdated { account_id, .. }
            | Event::TeamDeleted { account_id, .. }
            | Event::TeamMembersAdded { account_id, .. }
            | Event::TeamMembersRemoved { account_id, .. }
            | Event::InboxMembersAdded { account_id, .. }
            | Event::InboxMembersRemoved { account_id, .. }
            | Event::ConversationAssigneeChanged { account_id, .. }
            | Event::ConversationTeamChanged { account_id, .. }
            // ---- integrations ----
            | Event::HookCreated { account_id, .. }
            | Event::HookUpdated { account_id, .. }
            | Event::HookDeleted { account_id, .. }
            // ---- attachments and avatars ----
            | Event::InboxAvatarChanged { account_id, .. }
            // ---- agent bots and sso ----
            | Event::InboxAgentBotSet { account_id, .. }
            // ---- webhooks ----
            | Event::WebhookCreated { account_id, .. }
            | Event::WebhookUpdated { account_id, .. }
            | Event::WebhookDeleted { account_id, .. } => Some(*account_id),
            Event::AgentBotCreated { account_id, .. }
            | Event::AgentBotUpdated { account_id, .. }
            | Event::AgentBotDeleted { account_id, .. } => *account_id,
            Event::PermissibleGranted {
                target: Permissible::Account(id),
                ..
            } => Some(*id),
            Event::UserCreated { .. }
            | Event::UserUpdated { .. }
            | Event::UserDeleted { .. }
            | Event::PlatformAppCreated { .. }
            | Event::PermissibleGranted { .. } => None,
        }
    }

    /// The conversation the event names by its global id, if it names one
    /// (a conversation's own events, and its messages').
    pub fn conversation_id(&self) -> Option<i64> {
        match self {
            Event::ConversationCreated {
                conversation_id, ..
            }
            | Event::ConversationStatusChanged {
                conversation_id, ..
            }
            | Event::MessageCreated {
                conversation_id, ..
            }
            | Event::MessageDeleted {
                conversation_id, ..
            }
            | Event::ConversationLabelsChanged {
                conversation_id, ..
            }
            | Event::ConversationAssigneeChanged {
                conversation_id, ..
            }
            | Event::ConversationTeamChanged {
                conversation_id, ..
            } => Some(*conversation_id),
            Event::AccountCreated { .. }
            | Event::AccountUpdated { .. }
            | Event::AccountDeleted { .. }
            | Event::AccountUserAdded { .. }
            | Event::AccountUserRoleChanged { .. }
            | Event::AccountUserRemoved { .. }
            | Event::UserCreated { .. }
            | Event::UserUpdated { .. }
            | Event::UserDeleted { .. }
            | Event::PlatformAppCreated { .. }
            | Event::PermissibleGranted { .. }
            | Event::InboxCreated { .. }
            | Event::InboxUpdated { .. }
            | Event::ContactCreated { .. }
            | Event::ContactUpdated { .. }
            | Event::ContactInboxCreated { .. }
            | Event::TeamCreated { .. }
            | Event::TeamUpdated { .. }
            | Event::TeamDeleted { .. }
            | Event::TeamMembersAdded { .. }
            | Event::TeamMembersRemoved { .. }
            | Event::InboxMembersAdded { .. }
            | Event::InboxMembersRemoved { .. }
            | Event::AgentBotCreated { .. }
            | Event::AgentBotUpdated { .. }
            | Event::AgentBotDeleted { .. }
            | Event::InboxAgentBotSet { .. }
            | Event::HookCreated { .. }
            | Event::HookUpdated { .. }
            | Event::HookDeleted { .. }
            | Event::InboxAvatarChanged { .. }
            | Event::WebhookCreated { .. }
            | Event::WebhookUpdated { .. }
            | Event::WebhookDeleted { .. } => None,
        }
    }

    /// The payload as stored: the variant's fields, without the type tag.
    pub fn payload(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("type");
        }
        value
    }

    /// Reads a stored event, upcasting older schema versions to today's shape.
    pub fn from_stored(
        event_type: &str,
        version: i32,
        payload: Value,
    ) -> Result<Self, DecodeError> {
        Self::from_stored_ref(event_type, version, &payload)
    }

    /// [`Event::from_stored`] on a borrowed payload: a payload already at
    /// today's version is read in place, without a copy (a rebuild decodes
    /// every event of the log, and copying each payload's map to add the
    /// type tag was a tenth of its projection's work).
    pub fn from_stored_ref(
        event_type: &str,
        version: i32,
        payload: &Value,
    ) -> Result<Self, DecodeError> {
        Self::check_version(event_type, version)?;
        let payload = upcast(event_type, version, Cow::Borrowed(payload));
        Self::read_tagged(event_type, payload.as_ref())
    }

    /// [`Event::from_stored`] on the payload's JSON text: a payload at
    /// today's version is read straight from the text, without building a
    /// [`Value`] of it first (a rebuild reads every event of the log so,
    /// and building the maps was most of its log reader's work); an older
    /// one is parsed and upcast.
    pub fn from_json(event_type: &str, version: i32, json: &str) -> Result<Self, DecodeError> {
        Self::check_version(event_type, version)?;
        let payload_error = |source| DecodeError::Payload {
            event_type: event_type.to_owned(),
            source,
        };
        if version != Self::current_version(event_type) {
            let payload: Value = serde_json::from_str(json).map_err(payload_error)?;
            return Self::from_stored_ref(event_type, version, &payload);
        }
        let mut text = serde_json::Deserializer::from_str(json);
        let event = Self::read_tagged(event_type, &mut text)?;
        text.end().map_err(payload_error)?;
        Ok(event)
    }

    fn check_version(event_type: &str, version: i32) -> Result<(), DecodeError> {
        if version > Self::current_version(event_type) {
            return Err(DecodeError::FutureVersion {
                event_type: event_type.to_owned(),
                version,
            });
        }
        Ok(())
    }

    /// Reads a payload (a JSON object of the variant's fields) as the event
    /// of `event_type`.
    fn read_tagged<'de, D>(event_type: &str, payload: D) -> Result<Self, DecodeError>
    where
        D: serde::Deserializer<'de, Error = serde_json::Error>,
    {
        Event::deserialize(tagged::Tagged {
            event_type,
            payload,
        })
        .map_err(|source| {
            if source.to_string().contains("unknown variant") {
                DecodeError::UnknownType(event_type.to_owned())
            } else {
                DecodeError::Payload {
                    event_type: event_type.to_owned(),
                    source,
                }
            }
        })
    }
}

/// Brings a payload of an older schema version up to the current one, one
/// version step at a time, copying it only if a step changes it. Every type
/// is at version 1 today, so there is nothing to do yet; the first change of
/// shape adds its step here, e.g. `("ContactCreated", 1) => { rename a field
/// of payload.to_mut(); 2 }`.
fn upcast<'a>(_event_type: &str, _version: i32, payload: Cow<'a, Value>) -> Cow<'a, Value> {
    payload
}

/// A stored payload read as the event it is: its fields with the `type` tag
/// the enum is told apart by put in front, read in place from the stored map
/// or text (a `type` field of the payload itself is passed over: the stored
/// type wins).
mod tagged {
    use serde::de::value::{BorrowedStrDeserializer, StrDeserializer, StringDeserializer};
    use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor};
    use serde::forward_to_deserialize_any;

    /// The payload `payload` (a deserializer of a JSON object) with the tag
    /// `event_type`.
    pub(super) struct Tagged<'t, D> {
        pub(super) event_type: &'t str,
        pub(super) payload: D,
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tagged<'_, D> {
        type Error = D::Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.payload.deserialize_map(TagFirst {
                event_type: self.event_type,
                visitor,
            })
        }

        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }

    /// Hands the payload's entries to `visitor` behind the tag.
    struct TagFirst<'t, V> {
        event_type: &'t str,
        visitor: V,
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for TagFirst<'_, V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of the event's fields")
        }

        fn visit_map<A: MapAccess<'de>>(self, entries: A) -> Result<V::Value, A::Error> {
            self.visitor.visit_map(Fields {
                tag: Tag::Key(self.event_type),
                entries,
            })
        }
    }

    /// Where the reading of the tag is.
    enum Tag<'t> {
        Key(&'t str),
        Value(&'t str),
        Read,
    }

    struct Fields<'t, A> {
        tag: Tag<'t>,
        entries: A,
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Fields<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            if let Tag::Key(event_type) = self.tag {
                self.tag = Tag::Value(event_type);
                return seed.deserialize(StrDeserializer::new("type")).map(Some);
            }
            while let Some(key) = self.entries.next_key::<Key<'de>>()? {
                match key {
                    Key::Borrowed("type") => {}
                    Key::Owned(key) if key == "type" => {}
                    Key::Borrowed(key) => {
                        return seed
                            .deserialize(BorrowedStrDeserializer::new(key))
                            .map(Some);
                    }
                    Key::Owned(key) => {
                        return seed.deserialize(StringDeserializer::new(key)).map(Some);
                    }
                }
                self.entries.next_value::<IgnoredAny>()?;
            }
            Ok(None)
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            if let Tag::Value(event_type) = self.tag {
                self.tag = Tag::Read;
                return seed.deserialize(StrDeserializer::new(event_type));
            }
            if matches!(self.tag, Tag::Key(_)) {
                return Err(A::Error::custom("a value asked for before its key"));
            }
            self.entries.next_value_seed(seed)
        }

        fn size_hint(&self) -> Option<usize> {
            let tag = usize::from(matches!(self.tag, Tag::Key(_)));
            self.entries.size_hint().map(|n| n + tag)
        }
    }

    /// A key of the payload, borrowed from it when it can be (a key with an
    /// escape in the JSON text is not).
    enum Key<'de> {
        Borrowed(&'de str),
        Owned(String),
    }

    impl<'de> serde::Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(keys: D) -> Result<Self, D::Error> {
            keys.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl<'de> Visitor<'de> for KeyVisitor {
        type Value = Key<'de>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a field name")
        }

        fn visit_borrowed_str<E: Error>(self, key: &'de str) -> Result<Key<'de>, E> {
            Ok(Key::Borrowed(key))
        }

        fn visit_str<E: Error>(self, key: &str) -> Result<Key<'de>, E> {
            Ok(Key::Owned(key.to_owned()))
        }

        fn visit_string<E: Error>(self, key: String) -> Result<Key<'de>, E> {
            Ok(Key::Owned(key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_through_its_stored_form() {
        let event = Event::AccountUserAdded {
            account_id: 1,
            account_user_id: 7,
            user_id: 3,
            role: Role::Administrator,
            inviter_id: None,
        };
        let stored = event.payload();
        assert!(stored.get("type").is_none());
        let back = Event::from_stored(event.event_type(), event.schema_version(), stored).unwrap();
        assert_eq!(back, event);
    }

    /// The in-place reading of a payload gives what reading a copy with
    /// the tag inserted gave: nested enums, maps, options, lists.
    #[test]
    fn a_payload_read_in_place_is_the_event_it_stores() {
        let event = Event::MessageCreated {
            message_id: 9,
            account_id: 1,
            conversation_id: 4,
            inbox_id: 2,
            message_type: MessageType::Incoming,
            content: Some("hello".into()),
            content_type: ContentType::Text,
            content_attributes: serde_json::from_value(serde_json::json!({"in_reply_to": 3}))
                .unwrap(),
            private: false,
            sender: Some(Sender::Contact(5)),
            source_id: None,
            attachments: vec![],
        };
        let stored = event.payload();
        let copied = {
            let mut tagged = stored.clone();
            tagged["type"] = serde_json::json!("MessageCreated");
            serde_json::from_value::<Event>(tagged).unwrap()
        };
        let read = Event::from_stored_ref("MessageCreated", 1, &stored).unwrap();
        assert_eq!(read, copied);
        assert_eq!(read, event);
    }

    fn a_message() -> Event {
        Event::MessageCreated {
            message_id: 9,
            account_id: 1,
            conversation_id: 4,
            inbox_id: 2,
            message_type: MessageType::Incoming,
            content: Some("h\u{e9}llo \"there\"\n".into()),
            content_type: ContentType::Text,
            content_attributes: serde_json::from_value(
                serde_json::json!({"in_reply_to": 3, "items": [{"title": "a"}]}),
            )
            .unwrap(),
            private: false,
            sender: Some(Sender::Contact(5)),
            source_id: None,
            attachments: vec![],
        }
    }

    /// Reading a payload straight from its JSON text gives what reading
    /// its parsed value gives, for a plain variant and a flattened one.
    #[test]
    fn a_payload_read_from_its_text_is_the_event_it_stores() {
        let contact = Event::ContactCreated {
            contact_id: 7,
            account_id: 1,
            fields: ContactFields {
                name: "Ann".into(),
                email: Some("ann@example.com".into()),
                custom_attributes: serde_json::from_value(serde_json::json!({"tier": "gold"}))
                    .unwrap(),
                ..ContactFields::default()
            },
        };
        for event in [a_message(), contact] {
            let stored = event.payload();
            let text = serde_json::to_string(&stored).unwrap();
            let read = Event::from_json(event.event_type(), 1, &text).unwrap();
            assert_eq!(read, event);
            let in_place = Event::from_stored_ref(event.event_type(), 1, &stored).unwrap();
            assert_eq!(read, in_place);
        }
    }

    /// A key written with an escape is not borrowed from the text; it is
    /// still the field it names, and an escaped `type` is still passed over.
    #[test]
    fn escaped_keys_in_a_payloads_text_are_read_as_the_fields_they_name() {
        let text = r#"{"\u0074ype": "AccountCreated", "account\u005fid": 3}"#;
        let read = Event::from_json("AccountDeleted", 1, text).unwrap();
        assert_eq!(read, Event::AccountDeleted { account_id: 3 });
    }

    #[test]
    fn a_payloads_text_is_refused_as_the_parsed_payload_is() {
        let missing = Event::from_json("AccountDeleted", 1, "{}");
        assert!(
            matches!(missing, Err(DecodeError::Payload { source, .. }) if source.to_string().contains("account_id"))
        );
        for not_an_event in ["[1]", "3", r#"{"account_id": 3} {}"#, r#"{"account_id": 3"#] {
            let refused = Event::from_json("AccountDeleted", 1, not_an_event);
            assert!(
                matches!(refused, Err(DecodeError::Payload { .. })),
                "{not_an_event}: {refused:?}"
            );
        }
        let unknown = Event::from_json("Nope", 1, "{}").unwrap_err();
        assert!(matches!(unknown, DecodeError::UnknownType(t) if t == "Nope"));
        let future = Event::from_json("AccountDeleted", 9, r#"{"account_id": 1}"#).unwrap_err();
        assert!(matches!(
            future,
            DecodeError::FutureVersion { version: 9, .. }
        ));
    }

    /// The conversation an event names is its payload's `conversation_id`.
    #[test]
    fn an_events_conversation_is_its_payloads_conversation_id() {
        let events = [
            a_message(),
            Event::MessageDeleted {
                message_id: 9,
                account_id: 1,
                conversation_id: 4,
            },
            Event::ConversationLabelsChanged {
                conversation_id: 4,
                account_id: 1,
                labels: vec!["vip".into()],
                added: vec![],
                removed: vec![],
                actor: Actor::user(2),
            },
            Event::AccountDeleted { account_id: 3 },
        ];
        for event in events {
            let field = event.payload()["conversation_id"].as_i64();
            assert_eq!(event.conversation_id(), field, "{event:?}");
        }
    }

    #[test]
    fn a_type_field_in_the_payload_gives_way_to_the_stored_type() {
        let mut stored = Event::AccountDeleted { account_id: 3 }.payload();
        stored["type"] = serde_json::json!("AccountCreated");
        let read = Event::from_stored_ref("AccountDeleted", 1, &stored).unwrap();
        assert_eq!(read, Event::AccountDeleted { account_id: 3 });
    }

    #[test]
    fn a_payload_missing_a_field_or_not_an_object_is_refused() {
        let missing = Event::from_stored_ref("AccountDeleted", 1, &serde_json::json!({}));
        assert!(
            matches!(missing, Err(DecodeError::Payload { source, .. }) if source.to_string().contains("account_id"))
        );
        let not_an_object = Event::from_stored_ref("AccountDeleted", 1, &serde_json::json!([1]));
        assert!(matches!(not_an_object, Err(DecodeError::Payload { .. })));
    }

    #[test]
    fn an_unknown_type_is_reported_as_such() {
        let err = Event::from_stored("Nope", 1, serde_json::json!({})).unwrap_err();
        assert!(matches!(err, DecodeError::UnknownType(t) if t == "Nope"));
    }

    #[test]
    fn a_version_from_the_future_is_refused() {
        let err = Event::from_stored("AccountDeleted", 9, serde_json::json!({"account_id": 1}))
            .unwrap_err();
        assert!(matches!(err, DecodeError::FutureVersion { version: 9, .. }));
    }

    #[test]
    fn stream_ids_print_as_kind_and_id() {
        assert_eq!(StreamId::conversation(42).to_string(), "conversation:42");
    }
}
