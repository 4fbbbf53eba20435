//! Attachments of messages and avatars of inboxes in the read model: blob
//! references only (the bytes are in the blob store). Every write here is an
//! idempotent upsert or delete keyed by the event's own ids.

use chrono::{DateTime, Utc};
use domain::attachment::{Attachment, BlobRef};
use sqlx::PgConnection;

use crate::apply::ApplyError;

/// A message's attachments, in the order they were sent.
pub async fn add_attachments(
    conn: &mut PgConnection,
    account_id: i64,
    message_id: i64,
    attachments: &[Attachment],
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    for (position, a) in attachments.iter().enumerate() {
        sqlx::query(
            "insert into attachments (id, account_id, message_id, position, file_type, blob_key, \
               content_type, file_name, byte_size, checksum, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             on conflict (id) do nothing",
        )
        .bind(a.id)
        .bind(account_id)
        .bind(message_id)
        .bind(i32::try_from(position).unwrap_or(i32::MAX))
        .bind(a.file_type.as_str())
        .bind(&a.blob.key)
        .bind(&a.blob.content_type)
        .bind(&a.blob.file_name)
        .bind(a.blob.byte_size)
        .bind(&a.blob.checksum)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A deleted message's attachments are gone (Chatwoot destroys them).
pub async fn delete_attachments(
    conn: &mut PgConnection,
    message_id: i64,
) -> Result<(), ApplyError> {
    sqlx::query("delete from attachments where message_id = $1")
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An inbox's avatar set, replaced or (with `None`) removed.
pub async fn set_inbox_avatar(
    conn: &mut PgConnection,
    inbox_id: i64,
    account_id: i64,
    avatar: Option<&BlobRef>,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    let Some(b) = avatar else {
        sqlx::query("delete from inbox_avatars where inbox_id = $1")
            .bind(inbox_id)
            .execute(conn)
            .await?;
        return Ok(());
    };
    sqlx::query(
        "insert into inbox_avatars (inbox_id, account_id, blob_key, content_type, file_name, \
           byte_size, checksum, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) \
         on conflict (inbox_id) do update set blob_key = excluded.blob_key, \
           content_type = excluded.content_type, file_name = excluded.file_name, \
           byte_size = excluded.byte_size, checksum = excluded.checksum, \
           updated_at = excluded.updated_at",
    )
    .bind(inbox_id)
    .bind(account_id)
    .bind(&b.key)
    .bind(&b.content_type)
    .bind(&b.file_name)
    .bind(b.byte_size)
    .bind(&b.checksum)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
