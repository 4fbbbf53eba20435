//! Who is calling, and may they read this.
//!
//! Tokens arrive in `api_access_token` (or, from one published SDK, as
//! `Authorization: Bearer <token>` when that header is absent) and are looked
//! up in `read_model.access_tokens` by their SHA-256 only. The order of checks
//! is Chatwoot's: authenticate → refuse bots → find the account (404) → check
//! membership (401). Platform routes accept platform-app tokens only.

use actix_web::HttpRequest;
use domain::account::Role;
use infra::tokens::{self, OwnerType};
use sqlx::PgPool;

use crate::cache::Generation;
use crate::error::ApiError;
use crate::repo::{self, InboxScope};
use crate::AppState;

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A user.
    User(i64),
    /// An agent bot.
    AgentBot(i64),
    /// A platform app.
    PlatformApp(i64),
}

/// A user admitted to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: i64,
    /// The account.
    pub account_id: i64,
    /// Their role in it.
    pub role: Role,
    /// The read-model generations at admission; `None` when the account's
    /// read model carries none (nothing is cached then).
    pub generation: Option<Generation>,
}

impl Caller {
    /// The inboxes the caller sees: all for administrators, member inboxes for agents.
    pub fn scope(&self) -> InboxScope {
        match self.role {
            Role::Administrator => InboxScope::All,
            Role::Agent => InboxScope::MemberOf(self.user_id),
        }
    }
}

/// The token a request carries, if any.
pub fn token(req: &HttpRequest) -> Option<String> {
    let headers = req.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    header("api_access_token")
        .or_else(|| header("api-access-token"))
        .or_else(|| {
            header("authorization")
                .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_owned()))
                .filter(|t| !t.is_empty())
        })
}

async fn resolve(pool: &PgPool, token: &str) -> Result<Option<Principal>, ApiError> {
    let owner = repo::auth::token_owner(pool, &tokens::hash(token)).await?;
    Ok(owner.and_then(|(kind, id)| match OwnerType::parse(&kind)? {
        OwnerType::User => Some(Principal::User(id)),
        OwnerType::AgentBot => Some(Principal::AgentBot(id)),
        OwnerType::PlatformApp => Some(Principal::PlatformApp(id)),
    }))
}

/// The calling platform app, or 401 `Invalid access_token`.
pub async fn platform_app(req: &HttpRequest, pool: &PgPool) -> Result<i64, ApiError> {
    let Some(token) = token(req) else {
        return Err(ApiError::INVALID_PLATFORM_TOKEN);
    };
    match resolve(pool, &token).await? {
        Some(Principal::PlatformApp(id)) => Ok(id),
        _ => Err(ApiError::INVALID_PLATFORM_TOKEN),
    }
}

/// 401 `Non permissible resource` unless the app was granted the object.
pub async fn require_grant(
    pool: &PgPool,
    app_id: i64,
    kind: &str,
    target_id: i64,
) -> Result<(), ApiError> {
    if repo::auth::is_granted(pool, app_id, kind, target_id).await? {
        Ok(())
    } else {
        Err(ApiError::NOT_PERMISSIBLE)
    }
}

/// The calling user on `/api/v1`: no token → devise's 401, an unknown or
/// platform-app token → `Invalid Access Token`, a bot → bots refused.
pub async fn user(req: &HttpRequest, pool: &PgPool) -> Result<i64, ApiError> {
    let Some(token) = token(req) else {
        return Err(ApiError::NotSignedIn);
    };
    match resolve(pool, &token).await? {
        Some(Principal::User(id)) => Ok(id),
        Some(Principal::AgentBot(_)) => Err(ApiError::BOTS_REFUSED),
        Some(Principal::PlatformApp(_)) | None => Err(ApiError::INVALID_TOKEN),
    }
}

/// Admits a user to the account named by a path segment, or refuses with
/// Chatwoot's status and message. The caller is authenticated before the
/// segment is even parsed, so a junk account id is a 404 only for a valid token.
pub async fn account_caller(
    req: &HttpRequest,
    state: &AppState,
    account_segment: &str,
) -> Result<Caller, ApiError> {
    let Some(token) = token(req) else {
        return Err(ApiError::NotSignedIn);
    };
    // One round trip for every GET: the token's owner with the account's
    // existence and the owner's role in it. A segment that is no id asks
    // for no account; it is refused below, after the token.
    let parsed = crate::routes::id(account_segment);
    let found = repo::auth::admission(
        &state.pool,
        &state.admissions,
        &tokens::hash(&token),
        parsed.as_ref().ok().copied(),
    )
    .await?;
    let Some(found) = found else {
        return Err(ApiError::INVALID_TOKEN);
    };
    match OwnerType::parse(&found.owner_type) {
        Some(OwnerType::User) => {}
        Some(OwnerType::AgentBot) => return Err(ApiError::BOTS_REFUSED),
        Some(OwnerType::PlatformApp) | None => return Err(ApiError::INVALID_TOKEN),
    }
    let account_id = parsed?;
    if !found.account_exists {
        return Err(ApiError::NotFound);
    }
    let user_id = found.owner_id;
    let Some(role) = found.role else {
        return Err(ApiError::NOT_A_MEMBER);
    };
    // An unreadable role grants the least: agent.
    let role = Role::parse(&role).unwrap_or(Role::Agent);
    Ok(Caller {
        user_id,
        account_id,
        role,
        generation: Generation::from_columns(found.account_generation, found.global_generation),
    })
}
