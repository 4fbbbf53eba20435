//! Serving blob bytes: `GET /rails/active_storage/blobs/{signature}/{kind}/{account}/{id}/{file name}`.
//!
//! No access token: the signature is the capability (see
//! [`crate::render::blobs`]). A bad signature, a blob no longer referenced
//! by the read model (deleted message, replaced avatar) or missing bytes are
//! all the same JSON 404, so nothing tells a prober which part was wrong.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::get;
use crate::error::ApiError;
use crate::render::blobs::BLOB_PATH;
use crate::{repo, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get(
        &format!("{BLOB_PATH}/{{signature}}/{{kind}}/{{account}}/{{id}}/{{file_name}}"),
        blob,
    ));
}

/// Types a browser could run as a page; served as downloads instead.
fn active_content(content_type: &str) -> bool {
    content_type.contains("html")
        || content_type.contains("javascript")
        || content_type.contains("xml") && !content_type.starts_with("image/svg")
}

#[tracing::instrument(skip_all, fields(kind = %path.1, account = %path.2))]
async fn blob(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (signature, kind, account, id, _file_name) = path.into_inner();
    if !matches!(kind.as_str(), "attachments" | "avatars") {
        return Err(ApiError::NotFound);
    }
    let key = format!("{kind}/{account}/{id}");
    if !infra::blobs::verify(state.blob_urls.secret(), &key, &signature) {
        return Err(ApiError::NotFound);
    }
    let (content_type, file_name) = repo::blobs::live_blob(&state.pool, &key)
        .await?
        .ok_or(ApiError::NotFound)?;
    let bytes = match state.blobs.get(&key).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(ApiError::NotFound),
        Err(e) => {
            tracing::error!(error = %e, "reading a blob failed");
            return Ok(
                HttpResponse::InternalServerError().json(json!({"error": "Internal server error"}))
            );
        }
    };
    let inline = ["image/", "audio/", "video/"]
        .iter()
        .any(|p| content_type.starts_with(p))
        && !active_content(&content_type);
    let quoted = file_name.replace(['"', '\\', '\r', '\n'], "_");
    let disposition = format!(
        "{}; filename=\"{quoted}\"",
        if inline { "inline" } else { "attachment" }
    );
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // An SVG opened directly may not run scripts or load anything.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        ))
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(bytes))
}
