//! Chatwoot's JSON shapes, each rendered by exactly one function.
//!
//! The shape functions (`*_shape`) are pure: rows in, JSON out. The shapes
//! a dashboard reads most (conversation, message, contact, assignee) are
//! typed views borrowing from their rows, serialized straight into the
//! response; building, serializing and dropping a `serde_json::Value` tree
//! for each was about a third of the query service's time on a list page
//! that was not cached. The others still return `serde_json::Value`. The
//! public async functions load what a shape needs from the read models and
//! render it; they are what the command service calls to answer a
//! write with the very body a GET would give, once the read model has caught
//! up. They return `Ok(None)` when the row is absent.
//!
//! Timestamps follow Chatwoot: Unix seconds (integers) in conversation and
//! contact JSON, ISO-8601 strings in raw records (platform account, account
//! user, a user's memberships).

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::inbox::Channel;
use domain::message::MessageType;
use infra::settings::Secret;
use infra::tokens::{self, OwnerType};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::repo::accounts::{self, AccountRow, AccountUserRow, MembershipRow, UserRow};
use crate::repo::contacts::{self, ContactInboxRow, ContactRow};
use crate::repo::conversations::{self, ConversationRow};
use crate::repo::inboxes::{self, InboxRow};
use crate::repo::messages::{self, LastMessage, MessageRow};

pub mod blobs;
mod teams;
pub use blobs::BlobUrls;
pub(crate) use teams::AgentView;
pub use teams::{agent, inbox_members, team, team_members, team_shape};
// ---- agent bots and sso ----
mod agent_bots;
pub use agent_bots::{
    account_agent_bot, agent_bot_shape, inbox_agent_bot, platform_agent_bot, BotView,
};
// ---- integrations ----
mod integrations;
pub use integrations::{app, app_shape, apps, hook, hook_shape};
// ---- audit ----
mod history;
pub(crate) use history::conversation_as_of;
pub(crate) use history::history_event_shape;
// ---- webhooks ----
mod webhooks;
pub use webhooks::{delivery_shape, webhook, webhook_shape};

/// `GET /platform/api/v1/accounts/{id}`: the platform account.
pub async fn platform_account(
    pool: &PgPool,
    account_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(accounts::account(pool, account_id)
        .await?
        .as_ref()
        .map(account_shape))
}

/// `GET /platform/api/v1/users/{id}`: the user, with their access token.
pub async fn platform_user(
    pool: &PgPool,
    secret: &Secret,
    user_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(user) = accounts::user(pool, user_id).await? else {
        return Ok(None);
    };
    let memberships = accounts::memberships(pool, user_id).await?;
    Ok(Some(user_shape(&user, &memberships, secret)))
}

/// `GET /api/v1/profile`: the user shape plus the inviter of their current membership.
pub async fn profile(
    pool: &PgPool,
    secret: &Secret,
    user_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(user) = accounts::user(pool, user_id).await? else {
        return Ok(None);
    };
    let memberships = accounts::memberships(pool, user_id).await?;
    Ok(Some(profile_shape(&user, &memberships, secret)))
}

/// The raw AccountUser record of a membership.
pub async fn account_user(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(accounts::account_user(pool, account_id, user_id)
        .await?
        .as_ref()
        .map(account_user_shape))
}

/// Every membership of an account as raw AccountUser records, oldest first.
pub(crate) async fn account_users(
    pool: &PgPool,
    account_id: i64,
) -> Result<Vec<Value>, sqlx::Error> {
    Ok(accounts::account_users(pool, account_id)
        .await?
        .iter()
        .map(account_user_shape)
        .collect())
}

/// An inbox of the account.
pub async fn inbox(
    pool: &PgPool,
    urls: &BlobUrls,
    account_id: i64,
    inbox_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(row) = inboxes::inbox(pool, account_id, inbox_id).await? else {
        return Ok(None);
    };
    let mut shapes = [inbox_shape(&row)];
    blobs::with_avatars(pool, urls, &mut shapes).await?;
    let [shape] = shapes;
    Ok(Some(shape))
}

/// A contact of the account with its `contact_inboxes` (not wrapped in `payload`).
pub async fn contact(
    pool: &PgPool,
    account_id: i64,
    contact_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(row) = contacts::contact(pool, account_id, contact_id).await? else {
        return Ok(None);
    };
    Ok(contacts_with_inboxes(pool, vec![row]).await?.pop())
}

/// A contact inbox: `{source_id, inbox}`.
pub async fn contact_inbox(
    pool: &PgPool,
    contact_inbox_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(contacts::contact_inbox(pool, contact_inbox_id)
        .await?
        .map(|ci| contact_inbox_shape(&ci.source_id, &ci.inbox)))
}

/// A conversation of the account, by display id.
pub async fn conversation(
    pool: &PgPool,
    account_id: i64,
    display_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(row) = conversations::by_display_id(pool, account_id, display_id).await? else {
        return Ok(None);
    };
    tree(single_conversation(pool, row).await?).map(Some)
}

/// One conversation with everything its JSON shows (a conversation's GET,
/// the command service's answers, the conversation as it was).
pub(crate) async fn single_conversation(
    pool: &PgPool,
    row: ConversationRow,
) -> Result<SingleConversation, sqlx::Error> {
    Ok(SingleConversation(
        conversation_list(pool, vec![row]).await?,
    ))
}

/// Contacts with their contact inboxes, in the given order (one query for all
/// their contact inboxes).
pub(crate) async fn contacts_with_inboxes(
    pool: &PgPool,
    rows: Vec<ContactRow>,
) -> Result<Vec<Value>, sqlx::Error> {
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let mut by_contact: HashMap<i64, Vec<ContactInboxRow>> = HashMap::new();
    for ci in contacts::contact_inboxes(pool, &ids).await? {
        by_contact.entry(ci.contact_id).or_default().push(ci);
    }
    rows.iter()
        .map(|c| {
            let inboxes = by_contact.get(&c.id).map(Vec::as_slice).unwrap_or_default();
            tree(contact_shape(c, Some(inboxes)))
        })
        .collect()
}

/// Conversations, in the given order, with everything their JSON shows
/// (one query for all their senders, one for their last messages and
/// unread counts, one for their teams).
pub(crate) async fn conversation_list(
    pool: &PgPool,
    rows: Vec<ConversationRow>,
) -> Result<Conversations, sqlx::Error> {
    let mut ids: Vec<i64> = rows.iter().map(|c| c.contact_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(account_id) = rows.first().map(|c| c.account_id) else {
        return Ok(Conversations::default());
    };
    let display_ids: Vec<i64> = rows.iter().map(|c| c.display_id).collect();
    let mut team_ids: Vec<i64> = rows.iter().filter_map(|c| c.team_id).collect();
    team_ids.sort_unstable();
    team_ids.dedup();
    // Independent reads, each on a connection of its own: the page waits
    // for the slowest instead of their sum.
    let teams = async {
        if team_ids.is_empty() {
            Ok(vec![])
        } else {
            crate::repo::teams::teams_by_ids(pool, &team_ids).await
        }
    };
    let (senders, lasts, teams) = futures::try_join!(
        contacts::by_ids(pool, &ids),
        messages::last_of(pool, account_id, &display_ids),
        teams,
    )?;
    let (mut last, mut before_activity, mut unread) =
        (HashMap::new(), HashMap::new(), HashMap::new());
    for LastMessage {
        message,
        before_activity: before,
        unread_count,
    } in lasts
    {
        if before {
            before_activity.insert(message.display_id, message);
        } else {
            unread.insert(message.display_id, unread_count);
            last.insert(message.display_id, message);
        }
    }
    Ok(Conversations {
        rows,
        senders: senders.into_iter().map(|c| (c.id, c)).collect(),
        last,
        before_activity,
        unread,
        teams: teams.iter().map(|t| (t.id, team_shape(t, false))).collect(),
    })
}

/// Conversations loaded with what their JSON shows ([`conversation_list`]);
/// they serialize as a JSON array of [`conversation_shape`]s, written
/// straight from the rows.
#[derive(Default)]
pub(crate) struct Conversations {
    rows: Vec<ConversationRow>,
    senders: HashMap<i64, ContactRow>,
    /// Each conversation's last message.
    last: HashMap<i64, MessageRow>,
    /// The last message that is not an activity, where the last is one.
    before_activity: HashMap<i64, MessageRow>,
    /// Unread counts of the conversations that have messages.
    unread: HashMap<i64, i64>,
    teams: HashMap<i64, Value>,
}

impl Conversations {
    fn shape<'a>(&'a self, c: &'a ConversationRow) -> ConversationView<'a> {
        conversation_shape(
            c,
            self.senders.get(&c.contact_id),
            self.last.get(&c.display_id),
            self.last_non_activity(c.display_id),
            self.unread.get(&c.display_id).copied().unwrap_or(0),
            c.team_id.and_then(|id| self.teams.get(&id)),
        )
    }

    fn last_non_activity(&self, display_id: i64) -> Option<&MessageRow> {
        self.before_activity.get(&display_id).or_else(|| {
            self.last
                .get(&display_id)
                .filter(|m| m.message_type != MessageType::Activity.as_int())
        })
    }
}

impl Serialize for Conversations {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.rows.iter().map(|c| self.shape(c)))
    }
}

/// One conversation's JSON object ([`single_conversation`]).
pub(crate) struct SingleConversation(Conversations);

impl Serialize for SingleConversation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let all = &self.0;
        all.rows.first().map(|c| all.shape(c)).serialize(serializer)
    }
}

/// A view as a `serde_json::Value`, for callers that add to the body (the
/// command service's answers) or nest it in one. A view has string keys
/// only, so this cannot fail in practice; should it, the request fails
/// like a row that cannot be decoded.
fn tree(view: impl Serialize) -> Result<Value, sqlx::Error> {
    serde_json::to_value(view).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// Whether a message's attachments are looked for when it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachments {
    /// It may have some: one statement more.
    LookUp,
    /// It is known to have none (a message just created without files).
    NoneKnown,
}

/// A message of the account, by id (the body of message create and delete).
pub async fn message(
    pool: &PgPool,
    urls: &BlobUrls,
    account_id: i64,
    message_id: i64,
    attachments: Attachments,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(row) = messages::by_id(pool, account_id, message_id).await? else {
        return Ok(None);
    };
    let mut shapes = [message_shape(&row)];
    if attachments == Attachments::LookUp {
        blobs::with_attachments(pool, urls, &mut shapes).await?;
    }
    let [shape] = shapes;
    tree(shape).map(Some)
}

/// A message's sender: a user, a contact's push data or a bot.
#[derive(Serialize)]
#[serde(untagged)]
enum SenderView<'a> {
    User {
        id: i64,
        name: &'a str,
        available_name: &'a str,
        avatar_url: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
        availability_status: &'static str,
        thumbnail: &'static str,
    },
    Contact {
        id: i64,
        name: Option<&'a str>,
        email: Option<&'a str>,
        phone_number: Option<&'a str>,
        identifier: Option<&'a str>,
        #[serde(serialize_with = "object_or_empty")]
        additional_attributes: Option<&'a Value>,
        thumbnail: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Bot {
        id: i64,
        name: Option<&'a str>,
        avatar_url: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

/// A JSON object, `{}` when absent.
fn object_or_empty<S: Serializer>(
    value: &Option<&Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => v.serialize(serializer),
        None => serializer.serialize_map(Some(0))?.end(),
    }
}

/// The message's sender, if it has one of a known type.
fn sender_shape(m: &MessageRow) -> Option<SenderView<'_>> {
    let id = m.sender_id?;
    match m.sender_type.as_deref()? {
        "user" => {
            let name = m.user_name.as_deref().unwrap_or_default();
            Some(SenderView::User {
                id,
                name,
                available_name: available_name(name, m.user_display_name.as_deref()),
                avatar_url: "",
                kind: "user",
                availability_status: "offline",
                thumbnail: "",
            })
        }
        "contact" => Some(SenderView::Contact {
            id,
            name: m.contact_name.as_deref(),
            email: m.contact_email.as_deref(),
            phone_number: m.contact_phone_number.as_deref(),
            identifier: m.contact_identifier.as_deref(),
            additional_attributes: m.contact_additional_attributes.as_ref(),
            thumbnail: "",
            kind: "contact",
        }),
        "agent_bot" => Some(SenderView::Bot {
            id,
            name: None,
            avatar_url: "",
            kind: "agent_bot",
        }),
        _ => None,
    }
}

/// A message (push format); see [`message_shape`].
#[derive(Serialize)]
pub(crate) struct MessageView<'a> {
    id: i64,
    content: Option<&'a str>,
    account_id: i64,
    inbox_id: i64,
    conversation_id: i64,
    message_type: i16,
    content_type: &'a str,
    content_attributes: &'a Value,
    created_at: i64,
    updated_at: String,
    private: bool,
    status: &'static str,
    source_id: Option<&'a str>,
    sender_type: Option<&'static str>,
    sender_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<SenderView<'a>>,
    /// Filled in by [`blobs::with_attachments`]; Chatwoot leaves the key
    /// out when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<Vec<Value>>,
}

/// The message (push format): integer `message_type` and `created_at`,
/// `conversation_id` is the display id.
pub(crate) fn message_shape(m: &MessageRow) -> MessageView<'_> {
    MessageView {
        id: m.id,
        content: m.content.as_deref(),
        account_id: m.account_id,
        inbox_id: m.inbox_id,
        conversation_id: m.display_id,
        message_type: m.message_type,
        content_type: &m.content_type,
        content_attributes: &m.content_attributes,
        created_at: unix(m.created_at),
        updated_at: iso(m.updated_at),
        private: m.private,
        status: "sent",
        source_id: m.source_id.as_deref(),
        sender_type: sender_type_name(m),
        sender_id: m.sender_id,
        sender: sender_shape(m),
        attachments: None,
    }
}

/// Chatwoot's polymorphic `sender_type` class name.
fn sender_type_name(m: &MessageRow) -> Option<&'static str> {
    match m.sender_type.as_deref()? {
        "user" => Some("User"),
        "contact" => Some("Contact"),
        "agent_bot" => Some("AgentBot"),
        _ => None,
    }
}

/// The contact push data used in message lists' `meta.contact`.
pub(crate) fn contact_push_shape(c: &ContactRow) -> ContactView<'_> {
    ContactView {
        kind: Some("contact"),
        ..contact_shape(c, None)
    }
}

/// An ISO-8601 time for `meta.agent_last_seen_at`.
pub(crate) fn iso_time(at: DateTime<Utc>) -> String {
    iso(at)
}

fn unix(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The platform account (today's Chatwoot view, plus `created_at`).
fn account_shape(a: &AccountRow) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "locale": a.locale,
        "domain": a.domain,
        "support_email": a.support_email,
        "custom_attributes": a.custom_attributes,
        "status": "active",
        "features": {},
        "limits": {},
        "created_at": iso(a.created_at),
    })
}

/// The raw AccountUser record.
fn account_user_shape(au: &AccountUserRow) -> Value {
    json!({
        "id": au.id,
        "account_id": au.account_id,
        "user_id": au.user_id,
        "role": au.role,
        "inviter_id": au.inviter_id,
        "created_at": iso(au.created_at),
        "updated_at": iso(au.updated_at),
        "active_at": au.active_at.map(iso),
    })
}

fn available_name<'a>(name: &'a str, display_name: Option<&'a str>) -> &'a str {
    display_name
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(name)
}

/// The membership a user is "in" right now: the most recently active one,
/// else the newest.
fn current_membership(memberships: &[MembershipRow]) -> Option<&MembershipRow> {
    memberships
        .iter()
        .max_by_key(|m| (m.active_at, m.account_user_id))
}

/// The user (platform users, profile), with their access token derived again.
fn user_shape(u: &UserRow, memberships: &[MembershipRow], secret: &Secret) -> Value {
    let current = current_membership(memberships);
    let accounts: Vec<Value> = memberships
        .iter()
        .map(|m| {
            json!({
                "id": m.account_id,
                "name": m.account_name,
                "active_at": m.active_at.map(iso),
                "role": m.role,
            })
        })
        .collect();
    json!({
        "id": u.id,
        "uid": u.email,
        "provider": "email",
        "name": u.name,
        "display_name": u.display_name,
        "available_name": available_name(&u.name, u.display_name.as_deref()),
        "email": u.email,
        "avatar_url": "",
        "confirmed": true,
        "availability_status": "offline",
        "pubsub_token": null,
        "ui_settings": {},
        "custom_attributes": u.custom_attributes,
        "access_token": tokens::derive(secret, OwnerType::User, u.id),
        "account_id": current.map(|m| m.account_id),
        "role": current.map(|m| m.role.as_str()),
        "accounts": accounts,
    })
}

/// The profile: the user shape plus `inviter_id` of the current membership.
fn profile_shape(u: &UserRow, memberships: &[MembershipRow], secret: &Secret) -> Value {
    let mut body = user_shape(u, memberships, secret);
    if let Value::Object(map) = &mut body {
        let inviter = current_membership(memberships).and_then(|m| m.inviter_id);
        map.insert("inviter_id".into(), json!(inviter));
    }
    body
}

/// Where the widget script loads the SDK from: the dashboard's base URL.
fn frontend_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        infra::Settings::from_env(0)
            .map(|s| s.frontend_url.trim_end_matches('/').to_owned())
            .unwrap_or_default()
    })
}

fn widget_script(website_token: &str) -> String {
    let base = frontend_url();
    format!(
        "\n<script>\n  (function(d,t) {{\n    var BASE_URL=\"{base}\";\n    \
         var g=d.createElement(t),s=d.getElementsByTagName(t)[0];\n    \
         g.src=BASE_URL+\"/packs/js/sdk.js\";\n    g.defer = true;\n    g.async = true;\n    \
         s.parentNode.insertBefore(g,s);\n    g.onload=function(){{\n      \
         window.chatwootSDK.run({{\n        websiteToken: '{website_token}',\n        \
         baseUrl: BASE_URL\n      }})\n    }}\n  }})(document,\"script\");\n</script>\n"
    )
}

/// The inbox. Channel fields that do not apply to the channel type are null,
/// as Chatwoot's `channel.try(...)` gives them; web widgets add their HMAC
/// token and pre-chat form, API channels their webhook URL.
pub(crate) fn inbox_shape(i: &InboxRow) -> Value {
    let s = &i.settings.0;
    let mut body = json!({
        "id": i.id,
        "channel_id": i.channel_id,
        "name": i.name,
        "channel_type": i.channel_type,
        "greeting_enabled": s.greeting_enabled,
        "greeting_message": s.greeting_message,
        "working_hours_enabled": s.working_hours_enabled,
        "out_of_office_message": s.out_of_office_message,
        "working_hours": s.working_hours,
        "timezone": s.timezone,
        "enable_auto_assignment": s.enable_auto_assignment,
        "avatar_url": "",
        "page_id": null,
        "forward_to_email": null,
        "phone_number": null,
        "widget_color": null,
        "website_url": null,
        "welcome_title": null,
        "welcome_tagline": null,
        "web_widget_script": null,
        "website_token": null,
        "selected_feature_flags": null,
        "reply_time": null,
    });
    let extra = match &i.channel.0 {
        Channel::WebWidget {
            website_url,
            widget_color,
            welcome_title,
            welcome_tagline,
            reply_time,
            website_token,
            hmac_token,
        } => json!({
            "widget_color": widget_color,
            "website_url": website_url,
            "welcome_title": welcome_title,
            "welcome_tagline": welcome_tagline,
            "web_widget_script": widget_script(website_token),
            "website_token": website_token,
            "selected_feature_flags": ["attachments", "emoji_picker", "end_conversation"],
            "reply_time": reply_time,
            "hmac_token": hmac_token,
            "pre_chat_form_enabled": false,
            "pre_chat_form_options": {},
        }),
        Channel::Api {
            webhook_url,
            hmac_token,
        } => json!({ "webhook_url": webhook_url, "hmac_token": hmac_token }),
    };
    if let (Value::Object(base), Value::Object(extra)) = (&mut body, extra) {
        base.extend(extra);
    }
    body
}

/// A contact inbox (and a contactable inbox): `{source_id, inbox}`.
pub(crate) fn contact_inbox_shape(source_id: &str, inbox: &InboxRow) -> Value {
    json!({ "source_id": source_id, "inbox": inbox_shape(inbox) })
}

/// A contact; see [`contact_shape`].
#[derive(Serialize)]
pub(crate) struct ContactView<'a> {
    id: i64,
    name: &'a str,
    email: Option<&'a str>,
    phone_number: Option<&'a str>,
    identifier: Option<&'a str>,
    thumbnail: &'static str,
    availability_status: &'static str,
    blocked: bool,
    additional_attributes: &'a Value,
    custom_attributes: &'a Value,
    conversations_count: i64,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_activity_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_inboxes: Option<Vec<Value>>,
    /// `contact` in push data ([`contact_push_shape`]), else left out.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

/// The contact; `contact_inboxes` are added when given (the /contacts
/// endpoints) and left out where the contact is a conversation's sender.
fn contact_shape<'a>(
    c: &'a ContactRow,
    contact_inboxes: Option<&[ContactInboxRow]>,
) -> ContactView<'a> {
    ContactView {
        id: c.id,
        name: &c.name,
        email: c.email.as_deref(),
        phone_number: c.phone_number.as_deref(),
        identifier: c.identifier.as_deref(),
        thumbnail: "",
        availability_status: "offline",
        blocked: false,
        additional_attributes: &c.additional_attributes,
        custom_attributes: &c.custom_attributes,
        conversations_count: c.conversations_count,
        created_at: unix(c.created_at),
        last_activity_at: c.last_activity_at.map(unix),
        contact_inboxes: contact_inboxes.map(|cis| {
            cis.iter()
                .map(|ci| contact_inbox_shape(&ci.source_id, &ci.inbox))
                .collect()
        }),
        kind: None,
    }
}

/// The agent shape of an assignee who is a member of the conversation's
/// account (a list's `meta.assignee`, a thread's too).
pub(crate) fn assignee_shape(c: &ConversationRow) -> Option<AgentView<'_>> {
    Some(AgentView::new(
        c.assignee_user_id?,
        c.account_id,
        c.assignee_name.as_deref().unwrap_or_default(),
        c.assignee_display_name.as_deref(),
        c.assignee_email.as_deref(),
        c.assignee_role.as_deref(),
    ))
}

/// A conversation's `meta`.
#[derive(Serialize)]
struct ConversationMeta<'a> {
    sender: Option<ContactView<'a>>,
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<AgentView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<&'a Value>,
}

/// A conversation; see [`conversation_shape`].
#[derive(Serialize)]
struct ConversationView<'a> {
    meta: ConversationMeta<'a>,
    id: i64,
    messages: Vec<MessageView<'a>>,
    account_id: i64,
    inbox_id: i64,
    status: &'a str,
    muted: bool,
    can_reply: bool,
    timestamp: i64,
    contact_last_seen_at: i64,
    agent_last_seen_at: i64,
    unread_count: i64,
    additional_attributes: &'a Value,
    custom_attributes: &'a Value,
    labels: &'a [String],
    snoozed_until: Option<i64>,
    created_at: i64,
    last_activity_at: i64,
    priority: Option<()>,
    last_non_activity_message: Option<MessageView<'a>>,
}

/// The conversation (`id` is the display id), with its sender, its last
/// message (`messages`, none or one), its last message that is not an
/// activity, its unread count and its team.
fn conversation_shape<'a>(
    c: &'a ConversationRow,
    sender: Option<&'a ContactRow>,
    last: Option<&'a MessageRow>,
    last_real: Option<&'a MessageRow>,
    unread_count: i64,
    team: Option<&'a Value>,
) -> ConversationView<'a> {
    ConversationView {
        meta: ConversationMeta {
            sender: sender.map(|s| contact_shape(s, None)),
            channel: c.channel_type.as_deref(),
            assignee: assignee_shape(c),
            team,
        },
        id: c.display_id,
        messages: last.map(message_shape).into_iter().collect(),
        account_id: c.account_id,
        inbox_id: c.inbox_id,
        status: &c.status,
        muted: false,
        can_reply: true,
        timestamp: unix(c.last_activity_at),
        contact_last_seen_at: c.contact_last_seen_at.map_or(0, unix),
        agent_last_seen_at: c.agent_last_seen_at.map_or(0, unix),
        unread_count,
        additional_attributes: &c.additional_attributes,
        custom_attributes: &c.custom_attributes,
        labels: &c.labels,
        snoozed_until: c.snoozed_until.map(unix),
        created_at: unix(c.created_at),
        last_activity_at: unix(c.last_activity_at),
        priority: None,
        last_non_activity_message: last_real.map(message_shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn membership(id: i64, account_id: i64, active_at: Option<i64>) -> MembershipRow {
        MembershipRow {
            account_user_id: id,
            account_id,
            account_name: format!("A{account_id}"),
            role: "agent".into(),
            inviter_id: None,
            active_at: active_at.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
        }
    }

    #[test]
    fn the_current_membership_is_the_most_recently_active_else_the_newest() {
        let never = [membership(1, 10, None), membership(2, 20, None)];
        assert_eq!(current_membership(&never).unwrap().account_id, 20);
        let active = [membership(1, 10, Some(100)), membership(2, 20, None)];
        assert_eq!(current_membership(&active).unwrap().account_id, 10);
        assert!(current_membership(&[]).is_none());
    }

    #[test]
    fn raw_records_use_iso_timestamps_with_milliseconds() {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(iso(at), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn available_name_prefers_a_display_name() {
        assert_eq!(available_name("Ada", Some("A.")), "A.");
        assert_eq!(available_name("Ada", Some(" ")), "Ada");
        assert_eq!(available_name("Ada", None), "Ada");
    }
}
