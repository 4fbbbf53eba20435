//! Attachment and inbox avatar references (the bytes are in the blob store).

use sqlx::PgPool;

/// One attachment of a message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub account_id: i64,
    pub message_id: i64,
    pub file_type: String,
    pub blob_key: String,
    pub content_type: String,
    pub file_name: String,
    pub byte_size: i64,
}

/// The attachments of these messages, in message and sending order.
pub async fn attachments_of(
    pool: &PgPool,
    message_ids: &[i64],
) -> Result<Vec<AttachmentRow>, sqlx::Error> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "select id, account_id, message_id, file_type, blob_key, content_type, file_name, \
           byte_size \
         from read_model.attachments where {} \
         order by message_id, position",
        super::any_id("message_id", 1, message_ids)
    ))
    .bind(message_ids)
    .fetch_all(pool)
    .await
}

/// Avatar blob keys and file names of these inboxes.
pub async fn inbox_avatars(
    pool: &PgPool,
    inbox_ids: &[i64],
) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    if inbox_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "select inbox_id, blob_key, file_name from read_model.inbox_avatars where {}",
        super::any_id("inbox_id", 1, inbox_ids)
    ))
    .bind(inbox_ids)
    .fetch_all(pool)
    .await
}

/// A live blob (referenced by an attachment or an avatar): its content type
/// and file name. A blob of a deleted message or a replaced avatar is not.
pub async fn live_blob(
    pool: &PgPool,
    blob_key: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select content_type, file_name from read_model.attachments where blob_key = $1 \
         union all \
         select content_type, file_name from read_model.inbox_avatars where blob_key = $1 \
         limit 1",
    )
    .bind(blob_key)
    .fetch_optional(pool)
    .await
}
