//! Chatwoot's JSON shapes, each rendered by exactly one function.
//!
//! The shape functions (`*_shape`) are pure: rows in, `serde_json::Value`
//! out. The public async functions load what a shape needs from the read
//! models and render it; they are what the command service calls to answer a
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
use infra::settings::Secret;
use infra::tokens::{self, OwnerType};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use crate::repo::accounts::{self, AccountRow, AccountUserRow, MembershipRow, UserRow};
use crate::repo::contacts::{self, ContactInboxRow, ContactRow};
use crate::repo::conversations::{self, ConversationRow};
use crate::repo::inboxes::{self, InboxRow};
use crate::repo::messages::{self, MessageRow};

pub mod blobs;
mod teams;
pub use blobs::BlobUrls;
pub use teams::{agent, agent_shape, inbox_members, team, team_members, team_shape};
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
    Ok(conversation_list(pool, vec![row]).await?.pop())
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
    Ok(rows
        .iter()
        .map(|c| {
            let inboxes = by_contact.get(&c.id).map(Vec::as_slice).unwrap_or_default();
            contact_shape(c, Some(inboxes))
        })
        .collect())
}

/// Conversations, in the given order (one query for all their senders).
pub(crate) async fn conversation_list(
    pool: &PgPool,
    rows: Vec<ConversationRow>,
) -> Result<Vec<Value>, sqlx::Error> {
    let mut ids: Vec<i64> = rows.iter().map(|c| c.contact_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(account_id) = rows.first().map(|c| c.account_id) else {
        return Ok(vec![]);
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
    let (senders, last, last_real, unread, teams) = futures::try_join!(
        contacts::by_ids(pool, &ids),
        messages::last_of(pool, account_id, &display_ids, false),
        messages::last_of(pool, account_id, &display_ids, true),
        messages::unread_counts(pool, account_id, &display_ids),
        teams,
    )?;
    let senders: HashMap<i64, ContactRow> = senders.into_iter().map(|c| (c.id, c)).collect();
    let last = by_display_id(last);
    let last_real = by_display_id(last_real);
    let unread: HashMap<i64, i64> = unread.into_iter().collect();
    let teams: HashMap<i64, Value> = teams.iter().map(|t| (t.id, team_shape(t, false))).collect();
    Ok(rows
        .iter()
        .map(|c| {
            let mut shape = conversation_shape(c, senders.get(&c.contact_id));
            if let Some(team) = c.team_id.and_then(|id| teams.get(&id)) {
                shape["meta"]["team"] = team.clone();
            }
            if let Value::Object(map) = &mut shape {
                let last = last.get(&c.display_id);
                map.insert(
                    "messages".into(),
                    Value::Array(last.map(message_shape).into_iter().collect()),
                );
                map.insert(
                    "last_non_activity_message".into(),
                    last_real
                        .get(&c.display_id)
                        .map_or(Value::Null, message_shape),
                );
                map.insert(
                    "unread_count".into(),
                    json!(unread.get(&c.display_id).copied().unwrap_or(0)),
                );
            }
            shape
        })
        .collect())
}

fn by_display_id(rows: Vec<MessageRow>) -> HashMap<i64, MessageRow> {
    rows.into_iter().map(|m| (m.display_id, m)).collect()
}

/// A message of the account, by id (the body of message create and delete).
pub async fn message(
    pool: &PgPool,
    urls: &BlobUrls,
    account_id: i64,
    message_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(row) = messages::by_id(pool, account_id, message_id).await? else {
        return Ok(None);
    };
    let mut shapes = [message_shape(&row)];
    blobs::with_attachments(pool, urls, &mut shapes).await?;
    let [shape] = shapes;
    Ok(Some(shape))
}

/// A message's sender: a user, a contact's push data or a bot.
fn sender_shape(m: &MessageRow) -> Option<Value> {
    let id = m.sender_id?;
    match m.sender_type.as_deref()? {
        "user" => {
            let name = m.user_name.clone().unwrap_or_default();
            Some(json!({
                "id": id,
                "name": name,
                "available_name": available_name(&name, m.user_display_name.as_deref()),
                "avatar_url": "",
                "type": "user",
                "availability_status": "offline",
                "thumbnail": "",
            }))
        }
        "contact" => Some(json!({
            "id": id,
            "name": m.contact_name,
            "email": m.contact_email,
            "phone_number": m.contact_phone_number,
            "identifier": m.contact_identifier,
            "additional_attributes": m.contact_additional_attributes.clone().unwrap_or(json!({})),
            "thumbnail": "",
            "type": "contact",
        })),
        "agent_bot" => Some(json!({"id": id, "name": null, "avatar_url": "", "type": "agent_bot"})),
        _ => None,
    }
}

/// The message (push format): integer `message_type` and `created_at`,
/// `conversation_id` is the display id.
pub(crate) fn message_shape(m: &MessageRow) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), json!(m.id));
    map.insert("content".into(), json!(m.content));
    map.insert("account_id".into(), json!(m.account_id));
    map.insert("inbox_id".into(), json!(m.inbox_id));
    map.insert("conversation_id".into(), json!(m.display_id));
    map.insert("message_type".into(), json!(m.message_type));
    map.insert("content_type".into(), json!(m.content_type));
    map.insert("content_attributes".into(), m.content_attributes.clone());
    map.insert("created_at".into(), json!(unix(m.created_at)));
    map.insert("updated_at".into(), json!(iso(m.updated_at)));
    map.insert("private".into(), json!(m.private));
    map.insert("status".into(), json!("sent"));
    map.insert("source_id".into(), json!(m.source_id));
    map.insert("sender_type".into(), json!(sender_type_name(m)));
    map.insert("sender_id".into(), json!(m.sender_id));
    if let Some(sender) = sender_shape(m) {
        map.insert("sender".into(), sender);
    }
    Value::Object(map)
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
pub(crate) fn contact_push_shape(c: &ContactRow) -> Value {
    let mut shape = contact_shape(c, None);
    if let Value::Object(map) = &mut shape {
        map.insert("type".into(), json!("contact"));
    }
    shape
}

/// The assignee of a conversation in a message list's `meta`.
pub(crate) fn conversation_assignee(c: &ConversationRow) -> Option<Value> {
    assignee_shape(c)
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

fn available_name(name: &str, display_name: Option<&str>) -> String {
    display_name
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(name)
        .to_owned()
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

/// The contact; `contact_inboxes` are added when given (the /contacts
/// endpoints) and left out where the contact is a conversation's sender.
fn contact_shape(c: &ContactRow, contact_inboxes: Option<&[ContactInboxRow]>) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), json!(c.id));
    map.insert("name".into(), json!(c.name));
    map.insert("email".into(), json!(c.email));
    map.insert("phone_number".into(), json!(c.phone_number));
    map.insert("identifier".into(), json!(c.identifier));
    map.insert("thumbnail".into(), json!(""));
    map.insert("availability_status".into(), json!("offline"));
    map.insert("blocked".into(), json!(false));
    map.insert(
        "additional_attributes".into(),
        c.additional_attributes.clone(),
    );
    map.insert("custom_attributes".into(), c.custom_attributes.clone());
    map.insert("conversations_count".into(), json!(c.conversations_count));
    map.insert("created_at".into(), json!(unix(c.created_at)));
    if let Some(at) = c.last_activity_at {
        map.insert("last_activity_at".into(), json!(unix(at)));
    }
    if let Some(cis) = contact_inboxes {
        let list: Vec<Value> = cis
            .iter()
            .map(|ci| contact_inbox_shape(&ci.source_id, &ci.inbox))
            .collect();
        map.insert("contact_inboxes".into(), Value::Array(list));
    }
    Value::Object(map)
}

/// The agent shape of an assignee who is a member of the conversation's account.
fn assignee_shape(c: &ConversationRow) -> Option<Value> {
    let id = c.assignee_user_id?;
    let name = c.assignee_name.clone().unwrap_or_default();
    Some(json!({
        "id": id,
        "account_id": c.account_id,
        "name": name,
        "available_name": available_name(&name, c.assignee_display_name.as_deref()),
        "email": c.assignee_email,
        "role": c.assignee_role,
        "confirmed": true,
        "availability_status": "offline",
        "thumbnail": "",
    }))
}

/// The conversation (`id` is the display id). `messages`,
/// `last_non_activity_message` and `unread_count` are filled in by
/// [`conversation_list`].
fn conversation_shape(c: &ConversationRow, sender: Option<&ContactRow>) -> Value {
    let mut meta = Map::new();
    meta.insert(
        "sender".into(),
        sender.map_or(Value::Null, |s| contact_shape(s, None)),
    );
    meta.insert("channel".into(), json!(c.channel_type));
    if let Some(assignee) = assignee_shape(c) {
        meta.insert("assignee".into(), assignee);
    }
    json!({
        "meta": meta,
        "id": c.display_id,
        "messages": [],
        "account_id": c.account_id,
        "inbox_id": c.inbox_id,
        "status": c.status,
        "muted": false,
        "can_reply": true,
        "timestamp": unix(c.last_activity_at),
        "contact_last_seen_at": c.contact_last_seen_at.map_or(0, unix),
        "agent_last_seen_at": c.agent_last_seen_at.map_or(0, unix),
        "unread_count": 0,
        "additional_attributes": c.additional_attributes,
        "custom_attributes": c.custom_attributes,
        "labels": c.labels,
        "snoozed_until": c.snoozed_until.map(unix),
        "created_at": unix(c.created_at),
        "last_activity_at": unix(c.last_activity_at),
        "priority": null,
    })
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
