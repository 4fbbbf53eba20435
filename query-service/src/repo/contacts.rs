//! Contacts and their contact inboxes.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::inboxes::{InboxRow, INBOX_COLUMNS};

/// A row of `read_model.contacts`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub identifier: Option<String>,
    pub additional_attributes: Value,
    pub custom_attributes: Value,
    pub conversations_count: i64,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A contact inbox with its inbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactInboxRow {
    pub contact_id: i64,
    pub source_id: String,
    #[sqlx(flatten)]
    pub inbox: InboxRow,
}

/// What a contact list may be sorted by (Chatwoot's `sort` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Email,
    PhoneNumber,
    LastActivityAt,
}

/// Which contacts to list.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    /// Substring to find in name, e-mail, phone number or identifier.
    pub search: Option<String>,
    /// Sort key and whether descending; `None` keeps creation order.
    pub sort: Option<(SortKey, bool)>,
}

const CONTACT_COLUMNS: &str = "c.id, c.name, c.email, c.phone_number, c.identifier, \
     c.additional_attributes, c.custom_attributes, c.conversations_count, \
     c.last_activity_at, c.created_at";

/// Adds the filters of a list: the account, "resolved" contacts only (those
/// with an e-mail, phone number or identifier), and the search.
fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, account_id: i64, query: &ContactQuery) {
    qb.push(" where c.account_id = ")
        .push_bind(account_id)
        .push(
            " and (coalesce(c.email, '') <> '' or coalesce(c.phone_number, '') <> '' \
              or coalesce(c.identifier, '') <> '')",
        );
    if let Some(search) = &query.search {
        let pattern = format!("%{}%", escape_like(search));
        qb.push(" and (c.name ilike ")
            .push_bind(pattern.clone())
            .push(" or c.email ilike ")
            .push_bind(pattern.clone())
            .push(" or c.phone_number ilike ")
            .push_bind(pattern.clone())
            .push(" or c.identifier ilike ")
            .push_bind(pattern)
            .push(")");
    }
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern.
pub(crate) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn order_by(sort: Option<(SortKey, bool)>) -> &'static str {
    match sort {
        None => " order by c.id",
        Some((SortKey::Name, false)) => " order by lower(c.name), c.id",
        Some((SortKey::Name, true)) => " order by lower(c.name) desc, c.id",
        Some((SortKey::Email, false)) => " order by c.email nulls last, c.id",
        Some((SortKey::Email, true)) => " order by c.email desc nulls last, c.id",
        Some((SortKey::PhoneNumber, false)) => " order by c.phone_number nulls last, c.id",
        Some((SortKey::PhoneNumber, true)) => " order by c.phone_number desc nulls last, c.id",
        Some((SortKey::LastActivityAt, false)) => " order by c.last_activity_at nulls last, c.id",
        Some((SortKey::LastActivityAt, true)) => {
            " order by c.last_activity_at desc nulls last, c.id"
        }
    }
}

/// One page of the account's listed contacts.
#[tracing::instrument(skip_all, fields(account_id = account_id, limit = limit, offset = offset))]
pub async fn list(
    pool: &PgPool,
    account_id: i64,
    query: &ContactQuery,
    limit: i64,
    offset: i64,
) -> Result<Vec<ContactRow>, sqlx::Error> {
    let mut qb = QueryBuilder::new(format!(
        "select {CONTACT_COLUMNS} from read_model.contacts c"
    ));
    push_filters(&mut qb, account_id, query);
    qb.push(order_by(query.sort))
        .push(" limit ")
        .push_bind(limit)
        .push(" offset ")
        .push_bind(offset);
    qb.build_query_as().fetch_all(pool).await
}

/// How many contacts the list would show over all pages.
#[tracing::instrument(skip_all, fields(account_id = account_id))]
pub async fn count(
    pool: &PgPool,
    account_id: i64,
    query: &ContactQuery,
) -> Result<i64, sqlx::Error> {
    let mut qb = QueryBuilder::new("select count(*) from read_model.contacts c");
    push_filters(&mut qb, account_id, query);
    qb.build_query_scalar().fetch_one(pool).await
}

/// One contact of the account.
#[tracing::instrument(skip_all, fields(account_id = account_id, contact_id = contact_id))]
pub async fn contact(
    pool: &PgPool,
    account_id: i64,
    contact_id: i64,
) -> Result<Option<ContactRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {CONTACT_COLUMNS} from read_model.contacts c where c.account_id = $1 and c.id = $2"
    ))
    .bind(account_id)
    .bind(contact_id)
    .fetch_optional(pool)
    .await
}

/// Contacts by id (the senders of a page of conversations).
#[tracing::instrument(skip_all, fields(n = ids.len()))]
pub async fn by_ids(pool: &PgPool, ids: &[i64]) -> Result<Vec<ContactRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {CONTACT_COLUMNS} from read_model.contacts c where {}",
        super::any_id("c.id", 1, ids)
    ))
    .bind(ids)
    .fetch_all(pool)
    .await
}

const CONTACT_INBOX_SELECT: &str = "select ci.contact_id, ci.source_id, ";

/// The contact inboxes of some contacts, oldest first.
#[tracing::instrument(skip_all, fields(n = contact_ids.len()))]
pub async fn contact_inboxes(
    pool: &PgPool,
    contact_ids: &[i64],
) -> Result<Vec<ContactInboxRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{CONTACT_INBOX_SELECT}{INBOX_COLUMNS} from read_model.contact_inboxes ci \
         join read_model.inboxes i on i.id = ci.inbox_id \
         where {} order by ci.id",
        super::any_id("ci.contact_id", 1, contact_ids)
    ))
    .bind(contact_ids)
    .fetch_all(pool)
    .await
}

/// One contact inbox, by its global id.
#[tracing::instrument(skip_all, fields(contact_inbox_id = contact_inbox_id))]
pub async fn contact_inbox(
    pool: &PgPool,
    contact_inbox_id: i64,
) -> Result<Option<ContactInboxRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{CONTACT_INBOX_SELECT}{INBOX_COLUMNS} from read_model.contact_inboxes ci \
         join read_model.inboxes i on i.id = ci.inbox_id where ci.id = $1"
    ))
    .bind(contact_inbox_id)
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_match_themselves() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(escape_like("Test@Test.com"), "Test@Test.com");
    }
}
