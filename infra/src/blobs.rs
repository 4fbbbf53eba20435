//! The blob store: where attachment and avatar bytes live (never in the
//! event log, whose events only carry a blob's key, size, content type,
//! file name and checksum).
//!
//! One abstraction, two back ends, both from the `object_store` crate: a
//! local directory (`BLOB_STORE=local`, the default; `BLOB_DIR`) or an
//! S3-compatible bucket (`BLOB_STORE=s3`; `S3_ENDPOINT`, `S3_BUCKET`,
//! `S3_REGION`, `S3_ACCESS_KEY_ID`, `S3_SECRET_ACCESS_KEY`).
//!
//! Blob URLs are capability URLs, as Chatwoot's signed Active Storage URLs
//! are: [`sign`] gives an HMAC of the key under a key derived from
//! `TOKEN_SECRET`, and [`verify`] checks it in constant time, so a URL works
//! without an access token (clients put it in `<img src>`) but cannot be
//! guessed or altered.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::settings::{BlobBackend, Secret, Settings};

/// Put, get and delete bytes by key.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// What it is, for logs and errors.
    describe: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

/// A blob store failure.
#[derive(Debug, thiserror::Error)]
#[error("blob store: {0}")]
pub struct BlobError(#[from] object_store::Error);

impl BlobStore {
    /// The store the settings select.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.blob_backend {
            BlobBackend::Local(dir) => Self::local(dir.clone()),
            BlobBackend::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key.expose());
                if let Some(endpoint) = endpoint {
                    // MinIO and most S3-compatible servers want path-style
                    // requests and may speak plain HTTP.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let store = builder.build().context("configuring the S3 blob store")?;
                Ok(BlobStore {
                    inner: Arc::new(store),
                    describe: format!("BlobStore(s3 bucket {bucket})"),
                })
            }
        }
    }

    /// A store in a local directory, created if missing.
    pub fn local(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating BLOB_DIR {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("opening BLOB_DIR {}", dir.display()))?
            .with_automatic_cleanup(true);
        Ok(BlobStore {
            inner: Arc::new(store),
            describe: format!("BlobStore(local {})", dir.display()),
        })
    }

    /// Stores `bytes` under `key` (replacing what was there).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.inner
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// The bytes under `key`, or `None` when there are none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, BlobError> {
        match self.inner.get(&Path::from(key)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the bytes under `key`; removing what is not there is fine
    /// (deletes are retried and must be idempotent).
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A new, unguessable blob key under a prefix such as `attachments/12`.
pub fn new_key(prefix: &str) -> String {
    format!("{prefix}/{}", uuid::Uuid::new_v4().simple())
}

/// The SHA-256 of the bytes, hex (the checksum events carry).
pub fn checksum(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn mac(secret: &Secret, key: &str) -> Hmac<Sha256> {
    // A key of its own, derived from TOKEN_SECRET, so a blob signature is
    // never an access token's hash and the other way round.
    let derived = Sha256::digest(format!("blob-url-signing:{}", secret.expose()));
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&derived).expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    mac
}

/// The signature of a blob key (hex, 32 characters).
pub fn sign(secret: &Secret, key: &str) -> String {
    let tag = mac(secret, key).finalize().into_bytes();
    hex::encode(&tag[..16])
}

/// Whether `signature` is the signature of `key` (constant time).
pub fn verify(secret: &Secret, key: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    if given.len() != 16 {
        return false;
    }
    mac(secret, key).verify_truncated_left(&given).is_ok()
}

/// What a blob's bytes are, judged from their content (magic bytes), never
/// from the name or the content type a client claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// The MIME type found, `application/octet-stream` when unknown.
    pub mime: String,
    /// Chatwoot's `file_type`: `image`, `audio`, `video` or `file`.
    pub file_type: &'static str,
}

/// Sniffs the bytes; SVG (text, so without magic bytes) counts as an image
/// when it starts like one, as Chatwoot lists svg among image types.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if let Some(kind) = infer::get(bytes) {
        let mime = kind.mime_type().to_owned();
        let file_type = match kind.matcher_type() {
            infer::MatcherType::Image => "image",
            infer::MatcherType::Audio => "audio",
            infer::MatcherType::Video => "video",
            _ => "file",
        };
        return Sniffed { mime, file_type };
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start();
    if head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")) {
        return Sniffed {
            mime: "image/svg+xml".into(),
            file_type: "image",
        };
    }
    Sniffed {
        mime: "application/octet-stream".into(),
        file_type: "file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52,
    ];

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("blobs-unit-{}", uuid::Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn the_local_store_puts_gets_and_deletes_and_creates_its_directory() {
        let root = dir().join("nested");
        let store = BlobStore::local(root.clone()).unwrap();
        assert!(root.is_dir());
        let key = new_key("attachments/1");
        assert_eq!(store.get(&key).await.unwrap(), None);
        store.put(&key, Bytes::from_static(b"hello")).await.unwrap();
        assert!(root.join(&key).is_file());
        assert_eq!(
            store.get(&key).await.unwrap(),
            Some(Bytes::from_static(b"hello"))
        );
        store.delete(&key).await.unwrap();
        assert!(!root.join(&key).exists());
        assert_eq!(store.get(&key).await.unwrap(), None);
        // Deleting again is fine.
        store.delete(&key).await.unwrap();
        std::fs::remove_dir_all(root.parent().unwrap()).ok();
    }

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let secret = Secret::new("s");
        let sig = sign(&secret, "attachments/1/abc");
        assert_eq!(sig.len(), 32);
        assert!(verify(&secret, "attachments/1/abc", &sig));
        assert!(!verify(&secret, "attachments/2/abc", &sig));
        assert!(!verify(&Secret::new("t"), "attachments/1/abc", &sig));
        let mut bad = sig.clone();
        bad.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert!(!verify(&secret, "attachments/1/abc", &bad));
        assert!(!verify(&secret, "attachments/1/abc", "zz"));
        assert!(!verify(&secret, "attachments/1/abc", ""));
    }

    #[test]
    fn file_types_come_from_the_content() {
        assert_eq!(sniff(PNG).file_type, "image");
        assert_eq!(sniff(PNG).mime, "image/png");
        assert_eq!(sniff(b"just text").file_type, "file");
        assert_eq!(sniff(b"just text").mime, "application/octet-stream");
        assert_eq!(sniff(b"  <svg xmlns=''></svg>").file_type, "image");
        assert_eq!(sniff(b"ID3\x03\x00\x00\x00\x00\x00\x00").file_type, "audio");
    }
}
