//! Folding events into the read model.
//!
//! The code runs inside a transaction the caller opened, after `SET LOCAL
//! search_path TO <schema>`, so the same code fills the live `read_model` and
//! a rebuild's `read_model_next`. For each event of a [`Batch`] in that
//! transaction:
//!
//! 1. the event is skipped if its stream is already at or past its version
//!    (a redelivery: change nothing);
//! 2. `change` changes the read-model tables for the event;
//! 3. at the batch's close, its history row, its stream's new version and
//!    `projection_state` are written; after the commit, `NOTIFY
//!    read_model_applied, '<stream id> <version>'` is sent per stream, which
//!    wakes the command service's read-your-writes waiters.
//!
//! Because the read model and the guard change in one transaction, an event
//! is applied exactly once however often it is delivered. The list counters
//! in `conversation_counts` are moved from the rows as stored (not from the
//! event's `from`), so they always equal a count of `conversations`.

use chrono::{DateTime, Utc};
use domain::account::Role;
use domain::contact::ContactFields;
use domain::conversation::ConversationStatus;
use domain::event::DecodeError;
use domain::inbox::{Channel, InboxSettings};
use domain::platform_app::Permissible;
use domain::{Attributes, Event};
use infra::envelope::Envelope;
use infra::tokens::OwnerType;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::batch::{Batch, Deferred};
use crate::creations::NewConversation;
use crate::messages::NewMessageRow;

/// The channel the projection notifies on after a commit (the command service listens).
pub const APPLIED_CHANNEL: &str = "read_model_applied";

/// What [`apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The read model now reflects the event.
    Applied,
    /// The stream was already at or past this version; nothing changed.
    Duplicate,
}

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The payload is not an event this code can read (poison).
    #[error("cannot decode the event: {0}")]
    Decode(#[from] DecodeError),
    /// The event decodes but cannot be stored (poison), e.g. a time out of range.
    #[error("the event cannot be stored: {0}")]
    Invalid(String),
    /// Another transaction applied the same stream at the same time; retry.
    #[error("stream {0} was applied concurrently")]
    Conflict(String),
    /// Postgres refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A replay inserted a row that was already there. A rebuild applies
    /// each event of the log once, into a schema only it writes, and
    /// inserts its rows without `on conflict`, so this is a bug, never
    /// poison: transient, it fails the rebuild once its retries are spent.
    #[error("a replay wrote a row twice: {0}")]
    Replayed(sqlx::Error),
}

impl ApplyError {
    /// Whether trying again later may succeed (connection loss, serialization
    /// failure, a missing table during an operator's change), as opposed to
    /// an event that will never apply (bad payload, data or constraint
    /// errors) and must be parked. A code or schema bug counts as transient:
    /// the worker stalls loudly instead of parking every event.
    pub fn is_transient(&self) -> bool {
        match self {
            ApplyError::Decode(_) | ApplyError::Invalid(_) => false,
            ApplyError::Conflict(_) | ApplyError::Replayed(_) => true,
            ApplyError::Db(sqlx::Error::Database(e)) => {
                let class = e.code().map(|c| c.chars().take(2).collect::<String>());
                // 22: data exception, 23: integrity constraint violation.
                !matches!(class.as_deref(), Some("22") | Some("23"))
            }
            ApplyError::Db(_) => true,
        }
    }
}

/// What an insert failed with. In a replay (no `on conflict`), a unique
/// violation is [`ApplyError::Replayed`]; anything else, and everything
/// outside a replay, is [`ApplyError::Db`].
pub fn insert_error(e: sqlx::Error, replay: bool) -> ApplyError {
    match &e {
        sqlx::Error::Database(db) if replay && db.code().as_deref() == Some("23505") => {
            ApplyError::Replayed(e)
        }
        _ => ApplyError::Db(e),
    }
}

/// Applies one envelope to the read model of the current `search_path` in
/// a [`Batch`] of its own: checks its stream's version, changes the read
/// model, records history, the stream's version and `projection_state`, and
/// notifies. Consumers with more than one event use a [`Batch`] directly.
///
/// Call it in an open transaction after `SET LOCAL search_path TO <schema>`;
/// on an error the caller rolls back (or back to a savepoint) before going on.
pub async fn apply(conn: &mut PgConnection, env: &Envelope) -> Result<Applied, ApplyError> {
    let mut batch = Batch::open(conn, [env.streamid.as_str()]).await?;
    let applied = batch.apply(conn, env).await?;
    // In the caller's transaction: delivered when it commits.
    batch.close(conn, None).await?.send(&mut *conn).await?;
    Ok(applied)
}

/// What an event changes in the read-model tables (its bookkeeping is the
/// [`Batch`]'s): the per-type change and the activity messages it derives.
/// Creations of contacts and conversations, messages (posted and derived),
/// conversations' changes, counter moves and the report facts of all of
/// them are only gathered into `deferred`; an event that reads or writes
/// what they do first writes them, so it never sees the read model
/// without them.
pub(crate) async fn change(
    conn: &mut PgConnection,
    event: &Event,
    env: &Envelope,
    deferred: &mut Deferred,
) -> Result<(), ApplyError> {
    if !deferred.commutes_with(event) {
        deferred.write(conn).await?;
    }
    write(conn, event, env, deferred).await?;
    crate::activity::derive(event, env, &mut deferred.activities);
    Ok(())
}

/// The read-model change of one event (creations, messages, conversation
/// changes and counter moves: into `deferred`).
async fn write(
    conn: &mut PgConnection,
    event: &Event,
    env: &Envelope,
    deferred: &mut Deferred,
) -> Result<(), ApplyError> {
    let at = env.time;
    match event {
        Event::AccountCreated {
            account_id,
            name,
            locale,
            domain,
            support_email,
            custom_attributes,
        } => {
            upsert_account(
                conn,
                *account_id,
                name,
                locale,
                domain,
                support_email,
                custom_attributes,
                at,
            )
            .await
        }
        Event::AccountUpdated {
            account_id,
            name,
            locale,
            domain,
            support_email,
            custom_attributes,
        } => {
            update_account(
                conn,
                *account_id,
                name,
                locale,
                domain,
                support_email,
                custom_attributes,
                at,
            )
            .await
        }
        Event::AccountDeleted { account_id } => delete_account(conn, *account_id).await,
        Event::AccountUserAdded {
            account_id,
            account_user_id,
            user_id,
            role,
            inviter_id,
        } => {
            add_account_user(
                conn,
                *account_id,
                *account_user_id,
                *user_id,
                *role,
                *inviter_id,
                at,
            )
            .await
        }
        Event::AccountUserRoleChanged {
            account_user_id,
            to,
            ..
        } => change_role(conn, *account_user_id, *to, at).await,
        Event::AccountUserRemoved {
            account_id,
            account_user_id,
            user_id,
        } => remove_account_user(conn, *account_id, *account_user_id, *user_id).await,
        Event::UserCreated {
            user_id,
            name,
            display_name,
            email,
            custom_attributes,
            access_token_hash,
        } => {
            upsert_user(
                conn,
                *user_id,
                name,
                display_name,
                email,
                custom_attributes,
                at,
            )
            .await?;
            put_token(conn, access_token_hash, OwnerType::User, *user_id).await
        }
        Event::UserUpdated {
            user_id,
            name,
            display_name,
            email,
            custom_attributes,
        } => {
            update_user(
                conn,
                *user_id,
                name,
                display_name,
                email,
                custom_attributes,
                at,
            )
            .await
        }
        Event::UserDeleted { user_id } => delete_user(conn, *user_id).await,
        Event::PlatformAppCreated {
            app_id,
            access_token_hash,
            ..
        } => put_token(conn, access_token_hash, OwnerType::PlatformApp, *app_id).await,
        Event::PermissibleGranted { app_id, target } => grant(conn, *app_id, *target).await,
        Event::InboxCreated {
            inbox_id,
            account_id,
            channel_id,
            channel,
            settings,
        } => {
            upsert_inbox(
                conn,
                *inbox_id,
                *account_id,
                *channel_id,
                channel,
                settings,
                at,
            )
            .await
        }
        Event::InboxUpdated {
            inbox_id,
            channel,
            settings,
            ..
        } => update_inbox(conn, *inbox_id, channel, settings, at).await,
        Event::ContactCreated {
            contact_id,
            account_id,
            fields,
        } => {
            deferred
                .creations
                .contact(*contact_id, *account_id, fields, at);
            Ok(())
        }
        Event::ContactUpdated {
            contact_id, fields, ..
        } => update_contact(conn, *contact_id, fields, at).await,
        Event::ContactInboxCreated {
            contact_id,
            account_id,
            contact_inbox_id,
            inbox_id,
            source_id,
        } => {
            deferred.creations.contact_inbox(
                *contact_inbox_id,
                *account_id,
                *contact_id,
                *inbox_id,
                source_id,
                at,
            );
            Ok(())
        }
        Event::ConversationCreated {
            conversation_id,
            account_id,
            display_id,
            inbox_id,
            contact_id,
            contact_inbox_id,
            status,
            assignee_id,
            team_id,
            snoozed_until,
            additional_attributes,
            custom_attributes,
        } => {
            let row = NewConversation {
                id: *conversation_id,
                account_id: *account_id,
                display_id: *display_id,
                inbox_id: *inbox_id,
                contact_id: *contact_id,
                contact_inbox_id: *contact_inbox_id,
                status: *status,
                assignee_id: *assignee_id,
                team_id: *team_id,
                snoozed_until: timestamp(*snoozed_until)?,
                additional_attributes,
                custom_attributes,
            };
            deferred.creations.conversation(&row, at);
            Ok(())
        }
        Event::ConversationStatusChanged {
            conversation_id,
            from,
            to,
            snoozed_until,
            ..
        } => {
            let snoozed_until = timestamp(*snoozed_until)?;
            let patches = &mut deferred.patches;
            patches.status(*conversation_id, *to, snoozed_until, at);
            if *to == ConversationStatus::Resolved && *from != ConversationStatus::Resolved {
                patches.resolved(*conversation_id, env.streamversion, at);
            }
            Ok(())
        }
        // ---- messages and labels ----
        Event::MessageCreated {
            message_id,
            account_id,
            conversation_id,
            inbox_id,
            message_type,
            content,
            content_type,
            content_attributes,
            private,
            sender,
            source_id,
            attachments,
        } => {
            crate::blobs::add_attachments(conn, *account_id, *message_id, attachments, at).await?;
            let row = NewMessageRow {
                id: *message_id,
                account_id: *account_id,
                conversation_id: *conversation_id,
                inbox_id: *inbox_id,
                message_type: *message_type,
                content: content.as_deref(),
                content_type: content_type.as_str(),
                content_attributes,
                private: *private,
                sender: *sender,
                source_id: source_id.as_deref(),
            };
            deferred.messages.push(&row, at);
            Ok(())
        }
        Event::MessageDeleted { message_id, .. } => {
            crate::blobs::delete_attachments(conn, *message_id).await?;
            crate::messages::soft_delete(conn, *message_id, at).await
        }
        Event::ConversationLabelsChanged {
            conversation_id,
            labels,
            ..
        } => {
            deferred.patches.labels(*conversation_id, labels, at);
            Ok(())
        }
        // ---- teams, members, assignments ----
        Event::TeamCreated {
            team_id,
            account_id,
            name,
            description,
            allow_auto_assign,
        }
        | Event::TeamUpdated {
            team_id,
            account_id,
            name,
            description,
            allow_auto_assign,
        } => {
            let team = TeamRow {
                id: *team_id,
                account_id: *account_id,
                name,
                description: description.as_deref(),
                allow_auto_assign: *allow_auto_assign,
            };
            upsert_team(conn, &team, at).await
        }
        Event::TeamDeleted { team_id, .. } => delete_team(conn, *team_id).await,
        Event::TeamMembersAdded {
            team_id,
            account_id,
            user_ids,
        } => add_members(conn, Members::Team, *team_id, *account_id, user_ids).await,
        Event::TeamMembersRemoved {
            team_id, user_ids, ..
        } => remove_members(conn, Members::Team, *team_id, user_ids).await,
        Event::InboxMembersAdded {
            inbox_id,
            account_id,
            user_ids,
        } => add_members(conn, Members::Inbox, *inbox_id, *account_id, user_ids).await,
        Event::InboxMembersRemoved {
            inbox_id, user_ids, ..
        } => remove_members(conn, Members::Inbox, *inbox_id, user_ids).await,
        Event::ConversationAssigneeChanged {
            conversation_id,
            to,
            ..
        } => {
            deferred.patches.assignee(*conversation_id, *to, at);
            Ok(())
        }
        Event::ConversationTeamChanged {
            conversation_id,
            to,
            ..
        } => {
            deferred.patches.team(*conversation_id, *to, at);
            Ok(())
        }
        // ---- agent bots and sso ----
        Event::AgentBotCreated {
            agent_bot_id,
            account_id,
            name,
            description,
            outgoing_url,
            bot_type,
            bot_config,
            access_token_hash,
        } => {
            let bot = crate::agent_bots::BotRow {
                id: *agent_bot_id,
                account_id: *account_id,
                name,
                description: description.as_deref(),
                outgoing_url: outgoing_url.as_deref(),
                bot_type: *bot_type,
                bot_config,
            };
            crate::agent_bots::upsert(conn, &bot, at).await?;
            put_token(conn, access_token_hash, OwnerType::AgentBot, *agent_bot_id).await
        }
        Event::AgentBotUpdated {
            agent_bot_id,
            account_id,
            name,
            description,
            outgoing_url,
            bot_type,
            bot_config,
        } => {
            let bot = crate::agent_bots::BotRow {
                id: *agent_bot_id,
                account_id: *account_id,
                name,
                description: description.as_deref(),
                outgoing_url: outgoing_url.as_deref(),
                bot_type: *bot_type,
                bot_config,
            };
            crate::agent_bots::upsert(conn, &bot, at).await
        }
        Event::AgentBotDeleted { agent_bot_id, .. } => {
            crate::agent_bots::delete(conn, *agent_bot_id).await
        }
        Event::InboxAgentBotSet {
            inbox_id,
            account_id,
            agent_bot_id,
        } => {
            crate::agent_bots::set_inbox_bot(conn, *inbox_id, *account_id, *agent_bot_id, at).await
        }
        // ---- integrations ----
        Event::HookCreated { .. } | Event::HookUpdated { .. } | Event::HookDeleted { .. } => {
            crate::hooks::apply(conn, event, at).await
        }
        // ---- attachments and avatars ----
        Event::InboxAvatarChanged {
            inbox_id,
            account_id,
            avatar,
        } => {
            crate::blobs::set_inbox_avatar(conn, *inbox_id, *account_id, avatar.as_ref(), at).await
        }
        // ---- webhooks ----
        Event::WebhookCreated { .. }
        | Event::WebhookUpdated { .. }
        | Event::WebhookDeleted { .. } => crate::webhooks::apply(conn, event, at).await,
    }
}

fn timestamp(unix_seconds: Option<i64>) -> Result<Option<DateTime<Utc>>, ApplyError> {
    unix_seconds
        .map(|s| {
            DateTime::from_timestamp(s, 0)
                .ok_or_else(|| ApplyError::Invalid(format!("snoozed_until {s} is out of range")))
        })
        .transpose()
}

fn attributes(map: &Attributes) -> Json<&Attributes> {
    Json(map)
}

// ---- accounts and members ------------------------------------------------

#[expect(
    clippy::too_many_arguments,
    reason = "one parameter per column of the row"
)]
async fn upsert_account(
    conn: &mut PgConnection,
    id: i64,
    name: &str,
    locale: &str,
    domain: &Option<String>,
    support_email: &Option<String>,
    custom_attributes: &Attributes,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into accounts (id, name, locale, domain, support_email, custom_attributes, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $7) \
         on conflict (id) do update set name = excluded.name, locale = excluded.locale, \
           domain = excluded.domain, support_email = excluded.support_email, \
           custom_attributes = excluded.custom_attributes, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(name)
    .bind(locale)
    .bind(domain)
    .bind(support_email)
    .bind(attributes(custom_attributes))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one parameter per column of the row"
)]
async fn update_account(
    conn: &mut PgConnection,
    id: i64,
    name: &str,
    locale: &str,
    domain: &Option<String>,
    support_email: &Option<String>,
    custom_attributes: &Attributes,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "update accounts set name = $2, locale = $3, domain = $4, support_email = $5, \
           custom_attributes = $6, updated_at = $7 \
         where id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(locale)
    .bind(domain)
    .bind(support_email)
    .bind(attributes(custom_attributes))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account and everything of it leaves every table. `stream_versions`
/// keeps its rows, so a late redelivery cannot bring anything back.
async fn delete_account(conn: &mut PgConnection, account_id: i64) -> Result<(), ApplyError> {
    // ---- agent bots and sso ----
    for statement in crate::agent_bots::DELETE_ACCOUNT {
        sqlx::query(statement)
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
    }
    for statement in [
        "delete from accounts where id = $1",
        "delete from account_generations where account_id = $1",
        "delete from account_users where account_id = $1",
        "delete from inboxes where account_id = $1",
        "delete from inbox_members where account_id = $1",
        "delete from contacts where account_id = $1",
        "delete from contact_inboxes where account_id = $1",
        "delete from conversations where account_id = $1",
        "delete from conversation_counts where account_id = $1",
        "delete from messages where account_id = $1",
        "delete from teams where account_id = $1",
        "delete from team_members where account_id = $1",
        // ---- integrations ----
        "delete from hooks where account_id = $1",
        "delete from attachments where account_id = $1",
        "delete from inbox_avatars where account_id = $1",
        "delete from platform_app_permissibles where target_kind = 'account' and target_id = $1",
        // ---- audit ----
        "delete from history where account_id = $1",
        // ---- webhooks ----
        "delete from webhooks where account_id = $1",
    ] {
        sqlx::query(statement)
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
    }
    // ---- reports ----
    for statement in crate::reports::DELETE_ACCOUNT {
        sqlx::query(statement)
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn add_account_user(
    conn: &mut PgConnection,
    account_id: i64,
    account_user_id: i64,
    user_id: i64,
    role: Role,
    inviter_id: Option<i64>,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into account_users (id, account_id, user_id, role, inviter_id, created_at, updated_at, active_at) \
         values ($1, $2, $3, $4, $5, $6, $6, $6) \
         on conflict (id) do update set role = excluded.role, inviter_id = excluded.inviter_id, \
           updated_at = excluded.updated_at",
    )
    .bind(account_user_id)
    .bind(account_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(inviter_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn change_role(
    conn: &mut PgConnection,
    account_user_id: i64,
    role: Role,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query("update account_users set role = $2, updated_at = $3 where id = $1")
        .bind(account_user_id)
        .bind(role.as_str())
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

async fn remove_account_user(
    conn: &mut PgConnection,
    account_id: i64,
    account_user_id: i64,
    user_id: i64,
) -> Result<(), ApplyError> {
    sqlx::query("delete from account_users where id = $1")
        .bind(account_user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from inbox_members where account_id = $1 and user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from team_members where account_id = $1 and user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---- users, tokens, platform apps -----------------------------------------

async fn upsert_user(
    conn: &mut PgConnection,
    id: i64,
    name: &str,
    display_name: &Option<String>,
    email: &str,
    custom_attributes: &Attributes,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into users (id, name, display_name, email, custom_attributes, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $6) \
         on conflict (id) do update set name = excluded.name, display_name = excluded.display_name, \
           email = excluded.email, custom_attributes = excluded.custom_attributes, \
           updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(name)
    .bind(display_name)
    .bind(email)
    .bind(attributes(custom_attributes))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_user(
    conn: &mut PgConnection,
    id: i64,
    name: &str,
    display_name: &Option<String>,
    email: &str,
    custom_attributes: &Attributes,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "update users set name = $2, display_name = $3, email = $4, custom_attributes = $5, \
           updated_at = $6 \
         where id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(display_name)
    .bind(email)
    .bind(attributes(custom_attributes))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn delete_user(conn: &mut PgConnection, user_id: i64) -> Result<(), ApplyError> {
    for statement in [
        "delete from users where id = $1",
        "delete from account_users where user_id = $1",
        "delete from inbox_members where user_id = $1",
        "delete from team_members where user_id = $1",
        "delete from access_tokens where owner_type = 'user' and owner_id = $1",
        "delete from platform_app_permissibles where target_kind = 'user' and target_id = $1",
    ] {
        sqlx::query(statement)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn put_token(
    conn: &mut PgConnection,
    token_hash: &str,
    owner: OwnerType,
    owner_id: i64,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into access_tokens (token_hash, owner_type, owner_id) values ($1, $2, $3) \
         on conflict (token_hash) do update set owner_type = excluded.owner_type, \
           owner_id = excluded.owner_id",
    )
    .bind(token_hash)
    .bind(owner.as_str())
    .bind(owner_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The `target_kind` stored for a permissible.
pub fn target_kind(target: Permissible) -> (&'static str, i64) {
    match target {
        Permissible::Account(id) => ("account", id),
        Permissible::User(id) => ("user", id),
        Permissible::AgentBot(id) => ("agent_bot", id),
    }
}

async fn grant(
    conn: &mut PgConnection,
    app_id: i64,
    target: Permissible,
) -> Result<(), ApplyError> {
    let (kind, id) = target_kind(target);
    sqlx::query(
        "insert into platform_app_permissibles (app_id, target_kind, target_id) values ($1, $2, $3) \
         on conflict do nothing",
    )
    .bind(app_id)
    .bind(kind)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- inboxes ----------------------------------------------------------------

fn json_of<T: serde::Serialize>(value: &T) -> Result<Value, ApplyError> {
    serde_json::to_value(value).map_err(|e| ApplyError::Invalid(e.to_string()))
}

async fn upsert_inbox(
    conn: &mut PgConnection,
    id: i64,
    account_id: i64,
    channel_id: i64,
    channel: &Channel,
    settings: &InboxSettings,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into inboxes (id, account_id, channel_id, channel_type, name, channel, settings, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         on conflict (id) do update set channel_id = excluded.channel_id, \
           channel_type = excluded.channel_type, name = excluded.name, channel = excluded.channel, \
           settings = excluded.settings, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(account_id)
    .bind(channel_id)
    .bind(channel.channel_type())
    .bind(&settings.name)
    .bind(json_of(channel)?)
    .bind(json_of(settings)?)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_inbox(
    conn: &mut PgConnection,
    id: i64,
    channel: &Channel,
    settings: &InboxSettings,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "update inboxes set channel_type = $2, name = $3, channel = $4, settings = $5, updated_at = $6 \
         where id = $1",
    )
    .bind(id)
    .bind(channel.channel_type())
    .bind(&settings.name)
    .bind(json_of(channel)?)
    .bind(json_of(settings)?)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- contacts -----------------------------------------------------------------

async fn update_contact(
    conn: &mut PgConnection,
    id: i64,
    fields: &ContactFields,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "update contacts set name = $2, email = $3, phone_number = $4, identifier = $5, \
           additional_attributes = $6, custom_attributes = $7, updated_at = $8 \
         where id = $1",
    )
    .bind(id)
    .bind(&fields.name)
    .bind(&fields.email)
    .bind(&fields.phone_number)
    .bind(&fields.identifier)
    .bind(attributes(&fields.additional_attributes))
    .bind(attributes(&fields.custom_attributes))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- conversations and their counters -------------------------------------------

// ---- teams, members, assignments -------------------------------------------

struct TeamRow<'a> {
    id: i64,
    account_id: i64,
    name: &'a str,
    description: Option<&'a str>,
    allow_auto_assign: bool,
}

async fn upsert_team(
    conn: &mut PgConnection,
    t: &TeamRow<'_>,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    sqlx::query(
        "insert into teams (id, account_id, name, description, allow_auto_assign, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $6) \
         on conflict (id) do update set name = excluded.name, description = excluded.description, \
           allow_auto_assign = excluded.allow_auto_assign, updated_at = excluded.updated_at",
    )
    .bind(t.id)
    .bind(t.account_id)
    .bind(t.name)
    .bind(t.description)
    .bind(t.allow_auto_assign)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The team and its memberships go; its conversations drop it by their own
/// `ConversationTeamChanged` events, so nothing here touches another stream's rows.
async fn delete_team(conn: &mut PgConnection, team_id: i64) -> Result<(), ApplyError> {
    for statement in [
        "delete from teams where id = $1",
        "delete from team_members where team_id = $1",
    ] {
        sqlx::query(statement)
            .bind(team_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Which membership table.
#[derive(Clone, Copy)]
enum Members {
    Team,
    Inbox,
}

impl Members {
    fn insert(self) -> &'static str {
        match self {
            Members::Team => {
                "insert into team_members (team_id, user_id, account_id) \
                 select $1, u, $2 from unnest($3::bigint[]) u on conflict do nothing"
            }
            Members::Inbox => {
                "insert into inbox_members (inbox_id, user_id, account_id) \
                 select $1, u, $2 from unnest($3::bigint[]) u on conflict do nothing"
            }
        }
    }

    fn delete(self) -> &'static str {
        match self {
            Members::Team => "delete from team_members where team_id = $1 and user_id = any($2)",
            Members::Inbox => "delete from inbox_members where inbox_id = $1 and user_id = any($2)",
        }
    }
}

async fn add_members(
    conn: &mut PgConnection,
    table: Members,
    id: i64,
    account_id: i64,
    user_ids: &[i64],
) -> Result<(), ApplyError> {
    sqlx::query(table.insert())
        .bind(id)
        .bind(account_id)
        .bind(user_ids)
        .execute(conn)
        .await?;
    Ok(())
}

async fn remove_members(
    conn: &mut PgConnection,
    table: Members,
    id: i64,
    user_ids: &[i64],
) -> Result<(), ApplyError> {
    sqlx::query(table.delete())
        .bind(id)
        .bind(user_ids)
        .execute(conn)
        .await?;
    Ok(())
}
