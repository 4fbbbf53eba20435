//! Errors a decision can end in.
//!
//! Policy: the domain returns one typed enum, [`DomainError`]; each variant
//! says what kind of refusal it is, and the services map kinds to HTTP statuses
//! in one place (422 for [`DomainError::Invalid`] and [`DomainError::Rejected`],
//! 404 for [`DomainError::NotFound`]). Messages are Chatwoot's wording where
//! Chatwoot has one, because clients show them to people.

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A model validation failed (Chatwoot: 422 `{"message": ..., "attributes": [...]}`).
    #[error("{message}")]
    Invalid {
        /// Full messages joined by `", "`, e.g. `"Email has already been taken"`.
        message: String,
        /// The attributes that failed, e.g. `["email"]`.
        attributes: Vec<String>,
    },
    /// A business rule refused the command (Chatwoot: 422 `{"error": ...}`).
    #[error("{0}")]
    Rejected(String),
    /// The target of the command does not exist (or no longer exists).
    #[error("Resource could not be found")]
    NotFound,
}

impl DomainError {
    /// A validation failure on one attribute.
    pub fn invalid(attribute: &str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            message: message.into(),
            attributes: vec![attribute.to_owned()],
        }
    }
}
