//! The command service's one error type.
//!
//! Policy: every variant says its HTTP status, and its body has Chatwoot's
//! shape for that situation (`{"error": ...}`, `{"message": ..., "attributes": [...]}`,
//! or devise's `{"errors": [...]}`). Domain refusals arrive as
//! [`domain::DomainError`] and map here, in one place. A named database
//! constraint that a client can trip (a unique e-mail, a taken source id)
//! becomes a 422 in [`on_constraint`]; anything else from the database is a 500
//! whose body says nothing about internals while the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 without credentials (devise's body).
    #[error("not signed in")]
    NotSignedIn,
    /// 401 with a message (`Invalid Access Token`, `You are not authorized ...`).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 404 `Resource could not be found`.
    #[error("not found")]
    NotFound,
    /// 422 `{"message", "attributes"}` (a model validation).
    #[error("invalid: {message}")]
    Invalid {
        /// Full messages.
        message: String,
        /// Failed attributes.
        attributes: Vec<String>,
    },
    /// 422 `{"error"}` (a business rule).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 400 `{"error"}`: the request itself is malformed (bad JSON, wrong types).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 413 `{"error"}`: an uploaded file (or the body) is too large.
    #[error("too large: {0}")]
    TooLarge(String),
    /// 409: the command kept losing races on the same stream.
    #[error("conflict")]
    Conflict,
    /// 500 from the database.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// 500 from anything else.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

impl From<domain::DomainError> for ApiError {
    fn from(e: domain::DomainError) -> Self {
        match e {
            domain::DomainError::Invalid {
                message,
                attributes,
            } => ApiError::Invalid {
                message,
                attributes,
            },
            domain::DomainError::Rejected(m) => ApiError::Unprocessable(m),
            domain::DomainError::NotFound => ApiError::NotFound,
        }
    }
}

impl ApiError {
    /// A 422 for one attribute.
    pub fn invalid(attribute: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            message: message.into(),
            attributes: vec![attribute.to_owned()],
        }
    }
}

/// Turns a violation of a named constraint a client can trip into a 422;
/// other database errors stay 500s.
pub fn on_constraint(e: sqlx::Error) -> ApiError {
    let constraint = match &e {
        sqlx::Error::Database(db) => db.constraint().map(str::to_owned),
        _ => None,
    };
    match constraint.as_deref() {
        Some("users_email_key") => ApiError::invalid("email", "Email has already been taken"),
        Some("contacts_account_email_key") => {
            ApiError::invalid("email", "Email has already been taken")
        }
        Some("contacts_account_phone_key") => {
            ApiError::invalid("phone_number", "Phone number has already been taken")
        }
        Some("contacts_account_identifier_key") => {
            ApiError::invalid("identifier", "Identifier has already been taken")
        }
        Some("contact_inboxes_inbox_source_key") => {
            ApiError::invalid("source_id", "Source has already been taken")
        }
        _ => ApiError::Database(e),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotSignedIn | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::Database(e) if infra::db::is_unavailable(e) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::NotSignedIn => {
                json!({"errors": ["You need to sign in or sign up before continuing."]})
            }
            ApiError::Unauthorized(m) => json!({"error": m}),
            ApiError::NotFound => json!({"error": "Resource could not be found"}),
            ApiError::Invalid {
                message,
                attributes,
            } => json!({"message": message, "attributes": attributes}),
            ApiError::Unprocessable(m) | ApiError::BadRequest(m) | ApiError::TooLarge(m) => {
                json!({"error": m})
            }
            ApiError::Conflict => {
                json!({"error": "The resource was changed by concurrent requests; retry the request"})
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
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                json!({"error": "Internal server error"})
            }
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}
