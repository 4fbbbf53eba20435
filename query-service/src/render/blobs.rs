//! Attachments in message JSON and avatars in inbox JSON, with their
//! signed blob URLs.
//!
//! A blob URL is `{FRONTEND_URL}/rails/active_storage/blobs/{signature}/{key}/{file name}`
//! (the key is `attachments/<account>/<uuid>` or `avatars/<account>/<uuid>`),
//! the signature an HMAC of the key under a key derived from `TOKEN_SECRET`
//! ([`infra::blobs::sign`]). Like Chatwoot's signed Active Storage URLs it
//! works without an access token, so clients can put it in `<img src>`; it
//! cannot be guessed or altered, and it stops working once the blob is no
//! longer referenced (message deleted, avatar replaced).

use std::collections::HashMap;

use infra::settings::{Secret, Settings};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::MessageView;
use crate::repo::blobs::{self, AttachmentRow};

/// The path blob URLs start with.
pub const BLOB_PATH: &str = "/rails/active_storage/blobs";

/// Makes signed blob URLs.
#[derive(Debug, Clone)]
pub struct BlobUrls {
    base: String,
    secret: Secret,
}

impl BlobUrls {
    /// URLs under `FRONTEND_URL`, signed with a key derived from `TOKEN_SECRET`.
    pub fn from_settings(settings: &Settings) -> Self {
        BlobUrls {
            base: settings.frontend_url.trim_end_matches('/').to_owned(),
            secret: settings.token_secret.clone(),
        }
    }

    /// The secret signatures are made with.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The signed URL of a blob.
    pub fn url(&self, key: &str, file_name: &str) -> String {
        format!(
            "{}{BLOB_PATH}/{}/{key}/{}",
            self.base,
            infra::blobs::sign(&self.secret, key),
            encode_segment(file_name)
        )
    }
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn encode_segment(s: &str) -> String {
    let s = if s.is_empty() { "file" } else { s };
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The extension of a file name, without the dot (`null` when none).
fn extension(file_name: &str) -> Option<String> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// One attachment (today's Chatwoot's `push_event_data`).
pub fn attachment_shape(a: &AttachmentRow, urls: &BlobUrls) -> Value {
    let data_url = urls.url(&a.blob_key, &a.file_name);
    let thumb_url = if a.file_type == "image" {
        data_url.clone()
    } else {
        String::new()
    };
    json!({
        "id": a.id,
        "message_id": a.message_id,
        "file_type": a.file_type,
        "account_id": a.account_id,
        "extension": extension(&a.file_name),
        "data_url": data_url,
        "thumb_url": thumb_url,
        "file_size": a.byte_size,
        "content_type": a.content_type,
        "file_name": a.file_name,
    })
}

/// Adds `attachments` to each message that has some (Chatwoot leaves the
/// key out when there are none).
pub(crate) async fn with_attachments(
    pool: &PgPool,
    urls: &BlobUrls,
    messages: &mut [MessageView<'_>],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let mut by_message: HashMap<i64, Vec<Value>> = HashMap::new();
    for a in blobs::attachments_of(pool, &ids).await? {
        by_message
            .entry(a.message_id)
            .or_default()
            .push(attachment_shape(&a, urls));
    }
    for m in messages.iter_mut() {
        m.attachments = by_message.remove(&m.id);
    }
    Ok(())
}

/// Sets `avatar_url` of each inbox JSON that has an avatar.
pub async fn with_avatars(
    pool: &PgPool,
    urls: &BlobUrls,
    inboxes: &mut [Value],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = inboxes
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_i64))
        .collect();
    let avatars: HashMap<i64, String> = blobs::inbox_avatars(pool, &ids)
        .await?
        .into_iter()
        .map(|(id, key, name)| (id, urls.url(&key, &name)))
        .collect();
    for i in inboxes.iter_mut() {
        let Some(id) = i.get("id").and_then(Value::as_i64) else {
            continue;
        };
        if let (Some(url), Value::Object(map)) = (avatars.get(&id), i) {
            map.insert("avatar_url".into(), json!(url));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_encoded_and_extensions_found() {
        assert_eq!(encode_segment("a b/é.png"), "a%20b%2F%C3%A9.png");
        assert_eq!(encode_segment(""), "file");
        assert_eq!(extension("photo.PNG").as_deref(), Some("png"));
        assert_eq!(extension("noext"), None);
        assert_eq!(extension(".hidden"), None);
    }
}
