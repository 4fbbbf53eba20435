//! The write side's synchronous lookups: small functions over the
//! `write_model` schema, each one statement. Updates take the command's
//! connection so they commit with its events.

pub mod hooks;
pub mod teams;
// ---- agent bots and sso ----
pub mod agent_bots;
// ---- webhooks ----
pub mod webhooks;

use domain::account::Role;
use sqlx::{PgConnection, PgPool};

/// Draws the next value of one of the id sequences (`write_model.<name>`).
pub async fn next_id(conn: &mut PgConnection, sequence: &'static str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("select nextval('write_model.{sequence}')"))
        .fetch_one(conn)
        .await
}

/// The owner of a token hash.
pub async fn token_owner(
    pool: &PgPool,
    token_hash: &str,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select owner_type, owner_id from write_model.access_tokens where token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// Records a token hash for an owner.
pub async fn insert_token(
    conn: &mut PgConnection,
    token_hash: &str,
    owner_type: &str,
    owner_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into write_model.access_tokens (token_hash, owner_type, owner_id) values ($1, $2, $3)")
        .bind(token_hash)
        .bind(owner_type)
        .bind(owner_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes an owner's token.
pub async fn delete_token(
    conn: &mut PgConnection,
    owner_type: &str,
    owner_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from write_model.access_tokens where owner_type = $1 and owner_id = $2")
        .bind(owner_type)
        .bind(owner_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether an app holds a grant.
pub async fn is_granted(
    pool: &PgPool,
    app_id: i64,
    kind: &str,
    id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.platform_grants where app_id = $1 and target_kind = $2 and target_id = $3)",
    )
    .bind(app_id)
    .bind(kind)
    .bind(id)
    .fetch_one(pool)
    .await
}

/// Records a grant.
pub async fn insert_grant(
    conn: &mut PgConnection,
    app_id: i64,
    kind: &str,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.platform_grants (app_id, target_kind, target_id) values ($1, $2, $3) on conflict do nothing",
    )
    .bind(app_id)
    .bind(kind)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Whether a live account exists.
pub async fn account_exists(pool: &PgPool, account_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.accounts where id = $1 and not deleted)",
    )
    .bind(account_id)
    .fetch_one(pool)
    .await
}

/// Records a new account and creates its conversation display-id sequence.
pub async fn insert_account(conn: &mut PgConnection, account_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("insert into write_model.accounts (id) values ($1)")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    // The id is an integer we drew ourselves, so formatting it into DDL is safe.
    sqlx::query(&format!(
        "create sequence write_model.conv_dpid_seq_{account_id}"
    ))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Marks an account deleted and forgets its memberships.
pub async fn delete_account(conn: &mut PgConnection, account_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update write_model.accounts set deleted = true where id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    agent_bots::delete_account_bots(&mut *conn, account_id).await?;
    sqlx::query("delete from write_model.account_users where account_id = $1")
        .bind(account_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The next display id of an account's conversations.
pub async fn next_display_id(conn: &mut PgConnection, account_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "select nextval('write_model.conv_dpid_seq_{account_id}')"
    ))
    .fetch_one(conn)
    .await
}

/// A user's role in an account.
pub async fn member_role(
    pool: &PgPool,
    account_id: i64,
    user_id: i64,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> = sqlx::query_scalar(
        "select role from write_model.account_users where account_id = $1 and user_id = $2",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(role.and_then(|r| Role::parse(&r).ok()))
}

/// Records or changes a membership.
pub async fn upsert_member(
    conn: &mut PgConnection,
    account_id: i64,
    user_id: i64,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.account_users (account_id, user_id, role) values ($1, $2, $3) \
         on conflict (account_id, user_id) do update set role = excluded.role",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets a membership.
pub async fn delete_member(
    conn: &mut PgConnection,
    account_id: i64,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from write_model.account_users where account_id = $1 and user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The accounts a user is a member of.
pub async fn accounts_of_user(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select account_id from write_model.account_users where user_id = $1 order by account_id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Whether a live user exists.
pub async fn user_exists(conn: &mut PgConnection, user_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.users where id = $1 and not deleted)",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
}

/// The live user holding an e-mail.
pub async fn user_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select id from write_model.users where email = $1 and not deleted")
        .bind(email)
        .fetch_optional(conn)
        .await
}

/// Records a user, or their new e-mail.
pub async fn upsert_user(
    conn: &mut PgConnection,
    user_id: i64,
    email: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.users (id, email) values ($1, $2) \
         on conflict (id) do update set email = excluded.email",
    )
    .bind(user_id)
    .bind(email)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Marks a user deleted and forgets their memberships and token.
pub async fn delete_user(conn: &mut PgConnection, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update write_model.users set deleted = true where id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from write_model.account_users where user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    agent_bots::delete_user_sso_tokens(&mut *conn, user_id).await?;
    delete_token(conn, "user", user_id).await
}

/// An inbox of an account: `(channel type)`.
pub async fn inbox_in_account(
    conn: &mut PgConnection,
    account_id: i64,
    inbox_id: i64,
) -> Result<Option<(String, bool)>, sqlx::Error> {
    sqlx::query_as("select channel_type, has_agent_bot from write_model.inboxes where id = $1 and account_id = $2")
        .bind(inbox_id)
        .bind(account_id)
        .fetch_optional(conn)
        .await
}

/// Inbox → channel type, remembered once found: an inbox's channel is fixed
/// when it is created and its row in `write_model.inboxes` is never
/// removed, so a known pair never goes stale. Unknown inboxes are asked for
/// every time, so one created by another process is found at once. A
/// message takes its inbox's channel from here, so a message on a busy
/// conversation does not ask Postgres for it again.
#[derive(Clone)]
pub struct InboxChannels {
    known: moka::sync::Cache<(i64, i64), String>,
}

impl InboxChannels {
    /// Remembers up to `capacity` inboxes.
    pub fn new(capacity: u64) -> Self {
        InboxChannels {
            known: moka::sync::Cache::new(capacity),
        }
    }

    /// The channel type of inbox `inbox_id` of the account, if there is
    /// one, asked for on `conn` (the caller's unit of work) when unknown.
    pub async fn get(
        &self,
        conn: &mut PgConnection,
        account_id: i64,
        inbox_id: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        let key = (account_id, inbox_id);
        if let Some(channel) = self.known.get(&key) {
            return Ok(Some(channel));
        }
        let found = inbox_in_account(conn, account_id, inbox_id)
            .await?
            .map(|(channel, _)| channel);
        if let Some(channel) = &found {
            self.known.insert(key, channel.clone());
        }
        Ok(found)
    }
}

/// Records an inbox.
pub async fn insert_inbox(
    conn: &mut PgConnection,
    inbox_id: i64,
    account_id: i64,
    channel_type: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.inboxes (id, account_id, channel_type) values ($1, $2, $3)",
    )
    .bind(inbox_id)
    .bind(account_id)
    .bind(channel_type)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Whether a contact belongs to an account.
pub async fn contact_in_account(
    conn: &mut PgConnection,
    account_id: i64,
    contact_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.contacts where id = $1 and account_id = $2)",
    )
    .bind(contact_id)
    .bind(account_id)
    .fetch_one(conn)
    .await
}

/// Which of e-mail, phone and identifier another contact of the account holds.
pub async fn contact_taken(
    conn: &mut PgConnection,
    account_id: i64,
    except_contact: Option<i64>,
    email: Option<&str>,
    phone: Option<&str>,
    identifier: Option<&str>,
) -> Result<domain::contact::Taken, sqlx::Error> {
    let (email, phone_number, identifier): (bool, bool, bool) = sqlx::query_as(
        "select \
           coalesce(bool_or(email = lower($3)), false), \
           coalesce(bool_or(phone_number = $4), false), \
           coalesce(bool_or(identifier = $5), false) \
         from write_model.contacts \
         where account_id = $1 and id <> coalesce($2, -1) \
           and (email = lower($3) or phone_number = $4 or identifier = $5)",
    )
    .bind(account_id)
    .bind(except_contact)
    .bind(email.map(str::trim))
    .bind(phone.map(str::trim))
    .bind(identifier.map(str::trim))
    .fetch_one(conn)
    .await?;
    Ok(domain::contact::Taken {
        email,
        phone_number,
        identifier,
    })
}

/// Records a contact's unique fields (the unique indexes catch races).
pub async fn upsert_contact(
    conn: &mut PgConnection,
    contact_id: i64,
    account_id: i64,
    fields: &domain::contact::ContactFields,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.contacts (id, account_id, email, phone_number, identifier) values ($1, $2, $3, $4, $5) \
         on conflict (id) do update set email = excluded.email, phone_number = excluded.phone_number, identifier = excluded.identifier",
    )
    .bind(contact_id)
    .bind(account_id)
    .bind(&fields.email)
    .bind(&fields.phone_number)
    .bind(&fields.identifier)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Whether an inbox already has a contact inbox with this source id.
pub async fn source_taken(
    conn: &mut PgConnection,
    inbox_id: i64,
    source_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from write_model.contact_inboxes where inbox_id = $1 and source_id = $2)")
        .bind(inbox_id)
        .bind(source_id.trim())
        .fetch_one(conn)
        .await
}

/// Records a contact inbox.
pub async fn insert_contact_inbox(
    conn: &mut PgConnection,
    id: i64,
    account_id: i64,
    contact_id: i64,
    inbox_id: i64,
    source_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.contact_inboxes (id, account_id, contact_id, inbox_id, source_id) values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(account_id)
    .bind(contact_id)
    .bind(inbox_id)
    .bind(source_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A contact inbox found by its source id within an account (optionally one
/// inbox): `(id, contact id, inbox id)`. Never across accounts.
pub async fn contact_inbox_by_source(
    conn: &mut PgConnection,
    account_id: i64,
    inbox_id: Option<i64>,
    source_id: &str,
) -> Result<Option<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select id, contact_id, inbox_id from write_model.contact_inboxes \
         where account_id = $1 and source_id = $2 and ($3::bigint is null or inbox_id = $3) order by id limit 1",
    )
    .bind(account_id)
    .bind(source_id)
    .bind(inbox_id)
    .fetch_optional(conn)
    .await
}

/// The contact inbox of a contact in an inbox (the oldest one), if any:
/// `(id, source id)`.
pub async fn contact_inbox_of(
    conn: &mut PgConnection,
    contact_id: i64,
    inbox_id: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "select id, source_id from write_model.contact_inboxes where contact_id = $1 and inbox_id = $2 order by id limit 1",
    )
    .bind(contact_id)
    .bind(inbox_id)
    .fetch_optional(conn)
    .await
}

/// Records a conversation's display id.
pub async fn insert_conversation(
    conn: &mut PgConnection,
    id: i64,
    account_id: i64,
    display_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.conversations (id, account_id, display_id) values ($1, $2, $3)",
    )
    .bind(id)
    .bind(account_id)
    .bind(display_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A conversation's place: its global id and its inbox, both fixed when it
/// is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationRef {
    /// The global id (the stream's), not the display id.
    pub id: i64,
    /// The inbox it came in through.
    pub inbox_id: i64,
}

/// Display id → [`ConversationRef`], remembered once found: the global id
/// and the inbox are fixed when the conversation is created (its row gets
/// its inbox in the creating transaction) and no id is ever reused, so a
/// known conversation never goes stale. (A deleted account's conversations
/// are never asked for: its requests are refused before.) Unknown ones are
/// asked for every time, so a conversation created by another process is
/// found at once.
#[derive(Clone)]
pub struct ConversationIds {
    known: moka::sync::Cache<(i64, i64), ConversationRef>,
}

impl ConversationIds {
    /// Remembers up to `capacity` conversations.
    pub fn new(capacity: u64) -> Self {
        ConversationIds {
            known: moka::sync::Cache::new(capacity),
        }
    }

    /// The conversation of `display_id` in the account, if there is one.
    pub async fn get(
        &self,
        pool: &PgPool,
        account_id: i64,
        display_id: i64,
    ) -> Result<Option<ConversationRef>, sqlx::Error> {
        let key = (account_id, display_id);
        if let Some(found) = self.known.get(&key) {
            return Ok(Some(found));
        }
        let found: Option<(i64, i64)> = sqlx::query_as(
            "select id, inbox_id from write_model.conversations \
             where account_id = $1 and display_id = $2 and inbox_id is not null",
        )
        .bind(account_id)
        .bind(display_id)
        .fetch_optional(pool)
        .await?;
        let found = found.map(|(id, inbox_id)| ConversationRef { id, inbox_id });
        if let Some(found) = found {
            self.known.insert(key, found);
        }
        Ok(found)
    }
}
