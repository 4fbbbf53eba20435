//! Uploads: multipart bodies, putting their files in the blob store, and
//! deleting bytes no event references any more.
//!
//! Bytes and events are kept consistent with one table,
//! `write_model.blob_garbage` (key, due time), swept by [`sweep_forever`]:
//!
//! * [`store`] records the keys of new uploads, due in an hour, in a
//!   transaction of its own, and only then puts the bytes. The command that
//!   references them calls [`keep`] inside its unit of work, removing those
//!   rows in the transaction that appends its events. A failed command, or a
//!   process that dies between upload and commit, leaves the rows: the
//!   sweeper deletes the orphans later.
//! * A command whose events drop blobs (a message deleted, an avatar
//!   replaced or removed) calls [`drop_later`] inside its unit of work, so the
//!   rows are committed with the event, then [`delete_now`] after the commit.
//!   If the process dies in between, the sweeper deletes them.
//!
//! So a committed event never references missing bytes, and bytes are never
//! deleted before the event that drops them is committed.

use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::http::header::HeaderMap;
use bytes::Bytes;
use domain::attachment::{BlobRef, FileType};
use futures::StreamExt;
use infra::blobs::BlobStore;
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};

use crate::body::Body;
use crate::error::ApiError;

/// How long an upload may wait for its command before it counts as orphaned.
const ORPHAN_AFTER: &str = "1 hour";
/// How often the sweeper looks for due garbage.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A file of a multipart body.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The form field (`attachments[]`, `avatar`).
    pub field: String,
    /// The client's file name.
    pub file_name: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// Whether the request body is multipart.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
}

/// Puts a text field into the body, Rails-style: `channel[type]` nests,
/// `labels[]` appends. `content_attributes` (and other JSON-looking values
/// of keys that are objects in JSON bodies) is parsed from its JSON string.
fn insert_field(map: &mut Map<String, Value>, name: &str, value: String) {
    let (head, rest) = match name.find('[') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    if rest.is_empty() {
        let value = match head {
            "content_attributes" | "additional_attributes" | "custom_attributes" => {
                match serde_json::from_str::<Value>(&value) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => Value::String(value),
                }
            }
            _ => Value::String(value),
        };
        map.insert(head.to_owned(), value);
        return;
    }
    if rest == "[]" {
        let entry = map
            .entry(head.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(value));
        }
        return;
    }
    // `head[key]...`: one level deeper.
    let Some(close) = rest.find(']') else {
        map.insert(name.to_owned(), Value::String(value));
        return;
    };
    let key = &rest[1..close];
    let tail = &rest[close + 1..];
    let entry = map
        .entry(head.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = entry {
        insert_field(inner, &format!("{key}{tail}"), value);
    }
}

/// Reads a multipart body: its text fields as a [`Body`], its files in
/// order. A file over `max_file_bytes` is a 413; more than `max_files`
/// files in one field is a 422 (`what` names them in the error).
pub async fn read_multipart(
    headers: &HeaderMap,
    body: Bytes,
    max_file_bytes: usize,
) -> Result<(Body, Vec<Upload>), ApiError> {
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(body) });
    let mut multipart = Multipart::new(headers, stream);
    let mut fields = Map::new();
    let mut uploads = Vec::new();
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| ApiError::BadRequest(format!("Invalid multipart body: {e}")))?;
        let (name, file_name) = match field.content_disposition() {
            Some(cd) => (
                cd.get_name().unwrap_or_default().to_owned(),
                cd.get_filename().map(str::to_owned),
            ),
            None => (String::new(), None),
        };
        let mut data = bytes::BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("Invalid multipart body: {e}")))?;
            if file_name.is_some() && data.len() + chunk.len() > max_file_bytes {
                return Err(ApiError::TooLarge(format!(
                    "The file {:?} is larger than {max_file_bytes} bytes",
                    file_name.unwrap_or_default()
                )));
            }
            data.extend_from_slice(&chunk);
        }
        match file_name {
            Some(file_name) => uploads.push(Upload {
                field: name,
                file_name,
                bytes: data.freeze(),
            }),
            None => {
                let text = String::from_utf8(data.to_vec()).map_err(|_| {
                    ApiError::BadRequest(format!("The field {name:?} is not UTF-8 text"))
                })?;
                insert_field(&mut fields, &name, text);
            }
        }
    }
    Ok((Body(fields), uploads))
}

/// The uploads of one field (`attachments[]` also answers to `attachments`).
pub fn files_of(uploads: &[Upload], names: &[&str]) -> Vec<Upload> {
    uploads
        .iter()
        .filter(|u| names.contains(&u.field.as_str()))
        .cloned()
        .collect()
}

/// A stored upload: its reference and what its content says it is.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The reference events carry.
    pub blob: BlobRef,
    /// Image, audio, video or file, from the content.
    pub file_type: FileType,
}

/// Records the uploads as pending garbage, then puts them in the store under
/// new keys below `prefix` (`attachments/<account>`). See the module docs.
pub async fn store(
    pool: &PgPool,
    blobs: &BlobStore,
    prefix: &str,
    uploads: &[Upload],
) -> Result<Vec<Stored>, ApiError> {
    let stored: Vec<Stored> = uploads
        .iter()
        .map(|u| {
            let sniffed = infra::blobs::sniff(&u.bytes);
            let file_name = u.file_name.trim();
            Stored {
                blob: BlobRef {
                    key: infra::blobs::new_key(prefix),
                    byte_size: i64::try_from(u.bytes.len()).unwrap_or(i64::MAX),
                    content_type: sniffed.mime,
                    file_name: if file_name.is_empty() {
                        "file".into()
                    } else {
                        file_name.chars().take(255).collect()
                    },
                    checksum: infra::blobs::checksum(&u.bytes),
                },
                file_type: FileType::from_name(sniffed.file_type),
            }
        })
        .collect();
    if stored.is_empty() {
        return Ok(stored);
    }
    let keys: Vec<&str> = stored.iter().map(|s| s.blob.key.as_str()).collect();
    sqlx::query(&format!(
        "insert into write_model.blob_garbage (blob_key, due_at) \
         select k, now() + interval '{ORPHAN_AFTER}' from unnest($1::text[]) k \
         on conflict (blob_key) do nothing"
    ))
    .bind(&keys)
    .execute(pool)
    .await?;
    for (s, u) in stored.iter().zip(uploads) {
        blobs
            .put(&s.blob.key, u.bytes.clone())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    Ok(stored)
}

/// Inside the command's unit of work: these uploads are referenced now.
pub async fn keep(conn: &mut PgConnection, keys: &[String]) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query("delete from write_model.blob_garbage where blob_key = any($1)")
        .bind(keys)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inside the command's unit of work: these blobs are dropped by its events
/// and due for deletion as soon as they are committed.
pub async fn drop_later(conn: &mut PgConnection, keys: &[String]) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into write_model.blob_garbage (blob_key, due_at) \
         select k, now() from unnest($1::text[]) k \
         on conflict (blob_key) do update set due_at = excluded.due_at",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes blobs and their garbage rows; failures are left to the sweeper.
pub async fn delete_now(pool: &PgPool, blobs: &BlobStore, keys: &[String]) {
    for key in keys {
        match blobs.delete(key).await {
            Ok(()) => {
                if let Err(e) =
                    sqlx::query("delete from write_model.blob_garbage where blob_key = $1")
                        .bind(key)
                        .execute(pool)
                        .await
                {
                    tracing::warn!(error = %e, "forgetting a deleted blob failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, key, "deleting a blob failed; the sweeper retries")
            }
        }
    }
}

/// Deletes due garbage once; returns how many blobs went.
pub async fn sweep(pool: &PgPool, blobs: &BlobStore) -> Result<usize, sqlx::Error> {
    let due: Vec<String> = sqlx::query_scalar(
        "select blob_key from write_model.blob_garbage where due_at <= now() \
         order by due_at limit 500",
    )
    .fetch_all(pool)
    .await?;
    delete_now(pool, blobs, &due).await;
    Ok(due.len())
}

/// Sweeps due garbage every minute, forever.
pub async fn sweep_forever(pool: PgPool, blobs: BlobStore) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        match sweep(&pool, &blobs).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "dropped blobs swept"),
            Err(e) => tracing::warn!(error = %e, "sweeping dropped blobs failed"),
        }
    }
}

/// Best effort after a failed command: its uploads go now rather than in an
/// hour (the sweeper would get them anyway).
pub async fn discard(pool: &PgPool, blobs: &BlobStore, stored: &[Stored]) {
    let keys: Vec<String> = stored.iter().map(|s| s.blob.key.clone()).collect();
    delete_now(pool, blobs, &keys).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_nest_the_rails_way() {
        let mut m = Map::new();
        insert_field(&mut m, "content", "hi".into());
        insert_field(&mut m, "channel[type]", "api".into());
        insert_field(&mut m, "channel[webhook_url]", "http://x".into());
        insert_field(&mut m, "labels[]", "a".into());
        insert_field(&mut m, "labels[]", "b".into());
        insert_field(&mut m, "content_attributes", r#"{"in_reply_to": 4}"#.into());
        assert_eq!(
            Value::Object(m),
            serde_json::json!({
                "content": "hi",
                "channel": {"type": "api", "webhook_url": "http://x"},
                "labels": ["a", "b"],
                "content_attributes": {"in_reply_to": 4},
            })
        );
    }
}
