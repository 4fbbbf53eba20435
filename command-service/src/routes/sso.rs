//! SSO login links: `GET /platform/api/v1/users/{id}/login` issues a
//! single-use token valid for [`SSO_TOKEN_TTL`] and answers the dashboard's
//! login URL carrying it; `POST /auth/sign_in` with `email` and
//! `sso_auth_token` redeems it (today's Chatwoot) and answers the user's
//! profile, access token included. Only the token's SHA-256 is stored
//! (`write_model.sso_tokens`). Issuing writes, so the front door sends this
//! one GET to the command service (deploy/nginx.conf.template).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use infra::tokens;
use serde_json::json;

use super::id;
use crate::auth::{self, Principal};
use crate::body::Body;
use crate::error::ApiError;
use crate::write_model::agent_bots as wm;
use crate::AppState;

/// How long an SSO token may be redeemed (Chatwoot: 5 minutes).
pub const SSO_TOKEN_TTL: Duration = Duration::minutes(5);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/platform/api/v1/users/{id}/login")
            .route(web::get().to(login_link))
            .default_service(web::to(infra::http::not_found)),
    )
    .service(
        web::resource("/auth/sign_in")
            .route(web::post().to(sign_in))
            .default_service(web::to(infra::http::not_found)),
    );
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

async fn login_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let user_id = id(&path)?;
    let mut conn = state.pool.acquire().await?;
    let Some(email) = wm::user_email(&mut conn, user_id).await? else {
        return Err(ApiError::NotFound);
    };
    auth::require_grant(&state.pool, app_id, "user", user_id).await?;
    let token = tokens::random_hex(32);
    let now = state.context(&req, Principal::PlatformApp(app_id)).now;
    wm::insert_sso_token(
        &mut conn,
        &tokens::hash(&token),
        user_id,
        now + SSO_TOKEN_TTL,
    )
    .await?;
    let url = format!(
        "{}/app/login?email={}&sso_auth_token={token}",
        state.settings.frontend_url.trim_end_matches('/'),
        query_escape(&email),
    );
    Ok(HttpResponse::Ok().json(json!({ "url": url })))
}

/// devise_token_auth's answer to bad credentials.
fn bad_credentials() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({
        "success": false,
        "errors": ["Invalid login credentials. Please try again."],
    }))
}

async fn sign_in(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let b = Body::parse(&body)?;
    let email = b.string("email")?.unwrap_or_default().trim().to_lowercase();
    let token = b.string("sso_auth_token")?.unwrap_or_default();
    if email.is_empty() || token.trim().is_empty() {
        // Passwords are not served (docs/compatibility.md).
        return Ok(bad_credentials());
    }
    let Some(user_id) =
        wm::redeem_sso_token(&state.pool, &tokens::hash(token.trim()), &email, Utc::now()).await?
    else {
        return Ok(bad_credentials());
    };
    let profile =
        query_service::render::profile(&state.pool, &state.settings.token_secret, user_id).await?;
    let data = profile.unwrap_or_else(|| {
        json!({
            "id": user_id,
            "email": email,
            "access_token": tokens::derive(
                &state.settings.token_secret,
                tokens::OwnerType::User,
                user_id
            ),
        })
    });
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(super::query_escape("a+b@x.io"), "a%2Bb%40x.io");
        assert_eq!(super::query_escape("plain-1_2.3~"), "plain-1_2.3~");
    }
}
