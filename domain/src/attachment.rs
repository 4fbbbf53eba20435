//! Attachments of messages and avatars of inboxes: references to bytes kept
//! in the blob store. Events carry these references (key, size, content
//! type, file name, checksum), never the bytes.

use serde::{Deserialize, Serialize};

/// Most attachments one message may have (Chatwoot's limit).
pub const MAX_ATTACHMENTS: usize = 15;

/// Bytes in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The store's key (unguessable, e.g. `attachments/12/<uuid>`).
    pub key: String,
    /// Size in bytes.
    pub byte_size: i64,
    /// The MIME type found in the content (not the one a client claimed).
    pub content_type: String,
    /// The file name the client gave (`file` when none).
    pub file_name: String,
    /// SHA-256 of the bytes, hex.
    pub checksum: String,
}

/// Chatwoot's `file_type` of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// An image.
    Image,
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// Anything else.
    File,
}

impl FileType {
    /// The name Chatwoot renders.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::File => "file",
        }
    }

    /// From the name; anything unknown is a plain file.
    pub fn from_name(name: &str) -> Self {
        match name {
            "image" => Self::Image,
            "audio" => Self::Audio,
            "video" => Self::Video,
            _ => Self::File,
        }
    }
}

/// One attachment of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Global attachment id.
    pub id: i64,
    /// Image, audio, video or file (from the content).
    pub file_type: FileType,
    /// The bytes.
    pub blob: BlobRef,
}
