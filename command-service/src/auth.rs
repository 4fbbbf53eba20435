//! Who is calling, and may they.
//!
//! The order of checks is Chatwoot's: authenticate the token → refuse bots on
//! endpoints bots may not call → find the account (404) → check membership
//! (401). Tokens arrive in `api_access_token` (or, from one published SDK, as
//! `Authorization: Bearer`) and are looked up by their SHA-256 only.

use actix_web::HttpRequest;
use domain::account::Role;
use domain::Actor;
use infra::tokens::{self, OwnerType};
use sqlx::PgPool;

use crate::admissions::Admitted;
use crate::error::ApiError;
use crate::write_model;
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

impl Principal {
    /// The actor recorded in events.
    pub fn actor(self) -> Actor {
        match self {
            Principal::User(id) => Actor::user(id),
            Principal::AgentBot(id) => Actor::agent_bot(id),
            Principal::PlatformApp(id) => Actor::platform_app(id),
        }
    }

    /// A stable key for per-principal state (idempotency keys).
    pub fn key(self) -> String {
        match self {
            Principal::User(id) => format!("user:{id}"),
            Principal::AgentBot(id) => format!("agent_bot:{id}"),
            Principal::PlatformApp(id) => format!("platform_app:{id}"),
        }
    }
}

/// A caller admitted to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountCaller {
    /// Who.
    pub principal: Principal,
    /// The account.
    pub account_id: i64,
    /// Their role, for users.
    pub role: Option<Role>,
}

impl AccountCaller {
    /// Refuses anyone but an administrator, with Chatwoot's policy message.
    pub fn require_administrator(&self) -> Result<(), ApiError> {
        if self.role == Some(Role::Administrator) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "You are not authorized to do this action",
            ))
        }
    }
}

/// The token a request carries, if any.
pub fn token(req: &HttpRequest) -> Option<String> {
    let headers = req.headers();
    headers
        .get("api_access_token")
        .or_else(|| headers.get("api-access-token"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|v| v.trim().to_owned())
        })
        .filter(|v| !v.is_empty())
}

async fn resolve(pool: &PgPool, token: &str) -> Result<Option<Principal>, ApiError> {
    let found = write_model::token_owner(pool, &tokens::hash(token)).await?;
    Ok(
        found.and_then(|(owner_type, id)| match OwnerType::parse(&owner_type)? {
            OwnerType::User => Some(Principal::User(id)),
            OwnerType::AgentBot => Some(Principal::AgentBot(id)),
            OwnerType::PlatformApp => Some(Principal::PlatformApp(id)),
        }),
    )
}

/// A platform app's id, or 401 `Invalid access_token`.
pub async fn platform_app(req: &HttpRequest, pool: &PgPool) -> Result<i64, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("Invalid access_token");
    let Some(token) = token(req) else {
        return Err(INVALID);
    };
    match resolve(pool, &token).await? {
        Some(Principal::PlatformApp(id)) => Ok(id),
        _ => Err(INVALID),
    }
}

/// Checks that a platform app was granted an object: 401 `Non permissible resource` if not.
pub async fn require_grant(
    pool: &PgPool,
    app_id: i64,
    kind: &str,
    id: i64,
) -> Result<(), ApiError> {
    if write_model::is_granted(pool, app_id, kind, id).await? {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("Non permissible resource"))
    }
}

/// Whether bots may call the endpoint being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bots {
    /// Bots get 401.
    Refused,
    /// Bots may call it (conversation create, toggle status, message create).
    Allowed,
}

/// Admits a caller to an account, or refuses with Chatwoot's status and message.
///
/// One round trip: the token's owner together with what the checks need
/// (the account's existence, a user's role, whether a bot is connected to
/// one of the account's inboxes); every write pays this, so it is one query.
/// No round trip at all when the caller was admitted lately and nothing
/// that decides it has changed since ([`crate::admissions`]); Chatwoot's
/// checks run on what was kept all the same.
pub async fn account_caller(
    req: &HttpRequest,
    state: &AppState,
    account_id: i64,
    bots: Bots,
) -> Result<AccountCaller, ApiError> {
    let Some(token) = token(req) else {
        return Err(ApiError::NotSignedIn);
    };
    let hash = tokens::hash(&token);
    if let Some(admitted) = state.admitted.get(&hash, account_id) {
        let found = Found {
            account_exists: true,
            admitted,
        };
        return admit(&found, account_id, bots);
    }
    let ticket = state.admitted.ticket();
    let Some(found) = admission(state, &hash, account_id).await? else {
        return Err(ApiError::Unauthorized("Invalid Access Token"));
    };
    let caller = admit(&found, account_id, bots);
    if let (Some(ticket), Ok(_)) = (ticket, &caller) {
        state
            .admitted
            .put(ticket, &hash, account_id, found.admitted);
    }
    caller
}

/// What the admission statement found for a known token.
struct Found {
    /// Whether the account exists (and is not deleted).
    account_exists: bool,
    admitted: Admitted,
}

/// What the admission statement finds for a token; `None` for an unknown one.
async fn admission(
    state: &AppState,
    hash: &str,
    account_id: i64,
) -> Result<Option<Found>, ApiError> {
    // On a kept connection: no second round trip when it is given back.
    let found: Option<(String, i64, bool, Option<String>, bool)> = state
        .admission_connections
        .fetch_optional(&state.pool, || {
            sqlx::query_as(
                "select t.owner_type, t.owner_id, \
                   exists(select 1 from write_model.accounts a where a.id = $2 and not a.deleted), \
                   (select m.role from write_model.account_users m \
                     where t.owner_type = 'user' and m.account_id = $2 and m.user_id = t.owner_id), \
                   t.owner_type = 'agent_bot' and exists(select 1 from write_model.inboxes i \
                     where i.account_id = $2 and i.agent_bot_id = t.owner_id) \
                 from write_model.access_tokens t where t.token_hash = $1",
            )
            .bind(hash)
            .bind(account_id)
        })
        .await?;
    Ok(found.map(
        |(owner_type, owner_id, account_exists, role, bot_connected)| Found {
            account_exists,
            admitted: Admitted {
                owner_type,
                owner_id,
                role,
                bot_connected,
            },
        },
    ))
}

/// Chatwoot's checks, in its order, on what an admission found.
fn admit(found: &Found, account_id: i64, bots: Bots) -> Result<AccountCaller, ApiError> {
    let Admitted {
        owner_type,
        owner_id,
        role,
        bot_connected,
    } = &found.admitted;
    let principal = match OwnerType::parse(owner_type) {
        Some(OwnerType::User) => Principal::User(*owner_id),
        Some(OwnerType::AgentBot) => Principal::AgentBot(*owner_id),
        _ => return Err(ApiError::Unauthorized("Invalid Access Token")),
    };
    if matches!(principal, Principal::AgentBot(_)) && bots == Bots::Refused {
        return Err(ApiError::Unauthorized(
            "Access to this endpoint is not authorized for bots",
        ));
    }
    if !found.account_exists {
        return Err(ApiError::NotFound);
    }
    match principal {
        Principal::User(_) => match role.as_deref().and_then(|r| Role::parse(r).ok()) {
            Some(role) => Ok(AccountCaller {
                principal,
                account_id,
                role: Some(role),
            }),
            None => Err(ApiError::Unauthorized(
                "You are not authorized to access this account",
            )),
        },
        // ---- agent bots and sso ----
        // An agent bot acts in an account only while it is connected to one
        // of the account's inboxes (set_agent_bot).
        Principal::AgentBot(_) if *bot_connected => Ok(AccountCaller {
            principal,
            account_id,
            role: None,
        }),
        _ => Err(ApiError::Unauthorized(
            "Bot is not authorized to access this account",
        )),
    }
}
