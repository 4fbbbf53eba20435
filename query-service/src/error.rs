//! The query service's one error type.
//!
//! Policy: every variant says its HTTP status, and its body has the shape
//! Chatwoot gives in that situation: devise's `{"errors": [...]}` when no
//! credentials came at all, `{"error": ...}` otherwise. Handlers and the
//! authentication helpers return [`ApiError`]; repositories return
//! `sqlx::Error`, which converts into [`ApiError::Database`]. A 5xx body never
//! says anything about internals: the cause goes to the log, the client gets a
//! fixed sentence. Bad input (junk ids, unknown parameters' values, malformed
//! query strings) is always a 4xx, never a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 with devise's body: no credentials were sent.
    #[error("not signed in")]
    NotSignedIn,
    /// 401 `{"error": <message>}`: bad token, bot refused, not a member, no grant.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 404 `Resource could not be found`.
    #[error("not found")]
    NotFound,
    /// 400 `{"error": <message>}`: the request itself is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 422 `{"error": <message>}`: a parameter has a value the API refuses.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 500: the database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// 500: a body could not be written as JSON.
    #[error("rendering: {0}")]
    Render(#[from] serde_json::Error),
}

impl ApiError {
    /// 401 for a token that resolves to nothing usable on `/api/v1`.
    pub const INVALID_TOKEN: ApiError = ApiError::Unauthorized("Invalid Access Token");
    /// 401 for anything but a platform-app token on `/platform/api/v1`.
    pub const INVALID_PLATFORM_TOKEN: ApiError = ApiError::Unauthorized("Invalid access_token");
    /// 401 for a platform app that was not granted the object.
    pub const NOT_PERMISSIBLE: ApiError = ApiError::Unauthorized("Non permissible resource");
    /// 401 for an agent-bot token on an endpoint bots may not call.
    pub const BOTS_REFUSED: ApiError =
        ApiError::Unauthorized("Access to this endpoint is not authorized for bots");
    /// 401 for a user who is not a member of the account.
    pub const NOT_A_MEMBER: ApiError =
        ApiError::Unauthorized("You are not authorized to access this account");
    /// 401 for a policy denial (a conversation in an inbox the agent is not in).
    pub const NOT_ALLOWED: ApiError =
        ApiError::Unauthorized("You are not authorized to do this action");
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotSignedIn | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Database(e) if infra::db::is_unavailable(e) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Database(_) | ApiError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::NotSignedIn => {
                json!({"errors": ["You need to sign in or sign up before continuing."]})
            }
            ApiError::Unauthorized(message) => json!({ "error": message }),
            ApiError::NotFound => json!({"error": "Resource could not be found"}),
            ApiError::BadRequest(message) | ApiError::Unprocessable(message) => {
                json!({ "error": message })
            }
            ApiError::Database(e) if infra::db::is_unavailable(e) => {
                tracing::warn!(error = %e, "the database is unavailable");
                return HttpResponse::build(self.status_code())
                    .insert_header((actix_web::http::header::RETRY_AFTER, "1"))
                    .json(json!({"error": infra::db::UNAVAILABLE}));
            }
            ApiError::Database(e) => {
                tracing::error!(error = %e, "database error");
                json!({"error": "Internal server error"})
            }
            ApiError::Render(e) => {
                tracing::error!(error = %e, "cannot render the body");
                json!({"error": "Internal server error"})
            }
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(e: &ApiError) -> serde_json::Value {
        let bytes = e.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_database_failure_is_a_500_that_says_nothing_about_the_cause() {
        let e = ApiError::Database(sqlx::Error::Protocol("secret detail".into()));
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(&e), json!({"error": "Internal server error"}));
    }

    #[test]
    fn a_body_that_cannot_be_rendered_is_a_500_that_says_nothing_about_the_cause() {
        let cause = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = ApiError::from(cause);
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(&e), json!({"error": "Internal server error"}));
    }

    #[test]
    fn no_credentials_get_devises_plural_errors_body() {
        assert_eq!(
            body(&ApiError::NotSignedIn),
            json!({"errors": ["You need to sign in or sign up before continuing."]})
        );
    }
}
