//! Platform API writes: accounts, users and account users, for platform apps.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::account::{Account, AccountChanges, AccountCommand, Role};
use domain::platform_app::{Permissible, PlatformApp, PlatformAppCommand};
use domain::user::{User, UserChanges, UserCommand};
use domain::StreamId;
use infra::tokens::{self, OwnerType};
use serde_json::json;

use super::id;
use crate::auth::{self, Principal};
use crate::body::Body;
use crate::error::{on_constraint, ApiError};
use crate::event_store::UnitOfWork;
use crate::write_model;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/platform/api/v1")
            .route("/accounts", web::post().to(create_account))
            .route("/accounts/{id}", web::patch().to(update_account))
            .route("/accounts/{id}", web::put().to(update_account))
            .route("/accounts/{id}", web::delete().to(delete_account))
            .route(
                "/accounts/{id}/account_users",
                web::post().to(upsert_account_user),
            )
            .route(
                "/accounts/{id}/account_users",
                web::delete().to(delete_account_user),
            )
            .route("/users", web::post().to(create_user))
            .route("/users/{id}", web::patch().to(update_user))
            .route("/users/{id}", web::put().to(update_user))
            .route("/users/{id}", web::delete().to(delete_user)),
    );
}

fn account_changes(b: &Body) -> Result<AccountChanges, ApiError> {
    Ok(AccountChanges {
        name: b.string("name")?,
        locale: b.string("locale")?,
        domain: b.nullable_string("domain")?,
        support_email: b.nullable_string("support_email")?,
        custom_attributes: b.object("custom_attributes")?,
    })
}

pub(super) async fn grant(
    uow: &mut UnitOfWork,
    app_id: i64,
    target: Permissible,
) -> Result<(), ApiError> {
    let mut app = uow
        .load::<PlatformApp>(StreamId::platform_app(app_id))
        .await?;
    uow.decide(&mut app, &PlatformAppCommand::Grant(target))
        .await?;
    let (kind, target_id) = match target {
        Permissible::Account(id) => ("account", id),
        Permissible::User(id) => ("user", id),
        Permissible::AgentBot(id) => ("agent_bot", id),
    };
    write_model::insert_grant(uow.conn().await?, app_id, kind, target_id).await?;
    Ok(())
}

/// The account id from the path, after checking the app may manage it.
async fn granted_account(state: &AppState, app_id: i64, segment: &str) -> Result<i64, ApiError> {
    let account_id = id(segment)?;
    if !write_model::account_exists(&state.pool, account_id).await? {
        return Err(ApiError::NotFound);
    }
    auth::require_grant(&state.pool, app_id, "account", account_id).await?;
    Ok(account_id)
}

async fn create_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let b = Body::parse(&body)?.unwrap_key("account");
    let changes = account_changes(&b)?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let account_id = write_model::next_id(uow.conn().await?, "account_ids").await?;
            let mut account = uow.new_stream::<Account>(StreamId::account(account_id));
            uow.decide(
                &mut account,
                &AccountCommand::Create {
                    account_id,
                    changes: changes.clone(),
                },
            )
            .await?;
            grant(uow, app_id, Permissible::Account(account_id)).await?;
            write_model::insert_account(uow.conn().await?, account_id).await?;
            Ok(account.state)
        })
        .await?;
    let account = committed.value;
    let account_id = account.id.unwrap_or_default();
    let fallback = json!({"id": account_id, "name": account.name, "locale": account.locale});
    state
        .respond(
            &req,
            &committed.written,
            query_service::render::platform_account(&state.pool, account_id),
            fallback,
        )
        .await
}

async fn update_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let account_id = granted_account(&state, app_id, &path).await?;
    let changes = account_changes(&Body::parse(&body)?.unwrap_key("account"))?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut account = uow.load::<Account>(StreamId::account(account_id)).await?;
            uow.decide(&mut account, &AccountCommand::Update(changes.clone()))
                .await?;
            Ok(account.state)
        })
        .await?;
    let fallback =
        json!({"id": account_id, "name": committed.value.name, "locale": committed.value.locale});
    state
        .respond(
            &req,
            &committed.written,
            query_service::render::platform_account(&state.pool, account_id),
            fallback,
        )
        .await
}

async fn delete_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let account_id = granted_account(&state, app_id, &path).await?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut account = uow.load::<Account>(StreamId::account(account_id)).await?;
            uow.decide(&mut account, &AccountCommand::Delete).await?;
            write_model::delete_account(uow.conn().await?, account_id).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}

async fn upsert_account_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let account_id = granted_account(&state, app_id, &path).await?;
    let b = Body::parse(&body)?.unwrap_key("account_user");
    let user_id = b
        .id("user_id")?
        .ok_or_else(|| ApiError::invalid("user", "User must exist"))?;
    let role = b.string("role")?.map(|r| Role::parse(&r)).transpose()?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut account = uow.load::<Account>(StreamId::account(account_id)).await?;
            if !write_model::user_exists(uow.conn().await?, user_id).await? {
                return Err(ApiError::invalid("user", "User must exist"));
            }
            let new_id = write_model::next_id(uow.conn().await?, "account_user_ids").await?;
            let command = AccountCommand::UpsertMember {
                new_account_user_id: new_id,
                user_id,
                role,
                inviter_id: None,
            };
            uow.decide(&mut account, &command).await?;
            let membership = account.state.members.get(&user_id).copied();
            if let Some(m) = membership {
                write_model::upsert_member(uow.conn().await?, account_id, user_id, m.role).await?;
            }
            Ok(membership)
        })
        .await?;
    let fallback = match committed.value {
        Some(m) => {
            json!({"id": m.account_user_id, "account_id": account_id, "user_id": user_id, "role": m.role.as_str()})
        }
        None => json!({}),
    };
    state
        .respond(
            &req,
            &committed.written,
            query_service::render::account_user(&state.pool, account_id, user_id),
            fallback,
        )
        .await
}

async fn delete_account_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let account_id = granted_account(&state, app_id, &path).await?;
    let b = Body::parse(&body)?.unwrap_key("account_user");
    let user_id = b
        .id("user_id")?
        .ok_or_else(|| ApiError::Unprocessable("user_id is required".into()))?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut account = uow.load::<Account>(StreamId::account(account_id)).await?;
            uow.decide(&mut account, &AccountCommand::RemoveMember { user_id })
                .await?;
            write_model::delete_member(uow.conn().await?, account_id, user_id).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}

fn user_changes(b: &Body) -> Result<UserChanges, ApiError> {
    Ok(UserChanges {
        name: b.string("name")?,
        display_name: b.nullable_string("display_name")?,
        email: b.string("email")?,
        password: b.string("password")?,
        custom_attributes: b.object("custom_attributes")?,
    })
}

async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let changes = user_changes(&Body::parse(&body)?.unwrap_key("user"))?;
    let email = changes
        .email
        .clone()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let secret = state.settings.token_secret.clone();
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            // An existing e-mail returns that user unchanged, granted to the app (Chatwoot).
            if let Some(existing) = write_model::user_by_email(uow.conn().await?, &email).await? {
                grant(uow, app_id, Permissible::User(existing)).await?;
                // The answer shows the user as it is: wait for its stream too.
                let seen = uow.load::<User>(StreamId::user(existing)).await?;
                return Ok((existing, email.clone(), Some((seen.stream, seen.version))));
            }
            let user_id = write_model::next_id(uow.conn().await?, "user_ids").await?;
            let token_hash = tokens::hash(&tokens::derive(&secret, OwnerType::User, user_id));
            let mut user = uow.new_stream::<User>(StreamId::user(user_id));
            let command = UserCommand::Create {
                user_id,
                changes: changes.clone(),
                access_token_hash: token_hash.clone(),
                email_taken: false,
            };
            uow.decide(&mut user, &command).await?;
            write_model::upsert_user(uow.conn().await?, user_id, &user.state.email)
                .await
                .map_err(on_constraint)?;
            write_model::insert_token(uow.conn().await?, &token_hash, "user", user_id).await?;
            grant(uow, app_id, Permissible::User(user_id)).await?;
            Ok((user_id, user.state.email, None))
        })
        .await?;
    let (user_id, email, existing) = committed.value;
    let mut written = committed.written.clone();
    if let Some((stream, version)) = existing {
        written.push((stream.to_string(), version));
    }
    let fallback = json!({
        "id": user_id,
        "email": email,
        "access_token": tokens::derive(&state.settings.token_secret, OwnerType::User, user_id),
    });
    let render =
        query_service::render::platform_user(&state.pool, &state.settings.token_secret, user_id);
    state.respond(&req, &written, render, fallback).await
}

async fn granted_user(state: &AppState, app_id: i64, segment: &str) -> Result<i64, ApiError> {
    let user_id = id(segment)?;
    let mut conn = state.pool.acquire().await?;
    if !write_model::user_exists(&mut conn, user_id).await? {
        return Err(ApiError::NotFound);
    }
    auth::require_grant(&state.pool, app_id, "user", user_id).await?;
    Ok(user_id)
}

async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let user_id = granted_user(&state, app_id, &path).await?;
    let changes = user_changes(&Body::parse(&body)?.unwrap_key("user"))?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut user = uow.load::<User>(StreamId::user(user_id)).await?;
            let email_taken = match &changes.email {
                Some(e) => write_model::user_by_email(uow.conn().await?, &e.trim().to_lowercase())
                    .await?
                    .is_some_and(|other| other != user_id),
                None => false,
            };
            uow.decide(
                &mut user,
                &UserCommand::Update {
                    changes: changes.clone(),
                    email_taken,
                },
            )
            .await?;
            write_model::upsert_user(uow.conn().await?, user_id, &user.state.email)
                .await
                .map_err(on_constraint)?;
            Ok(user.state.email)
        })
        .await?;
    let fallback = json!({"id": user_id, "email": committed.value});
    let render =
        query_service::render::platform_user(&state.pool, &state.settings.token_secret, user_id);
    state
        .respond(&req, &committed.written, render, fallback)
        .await
}

async fn delete_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app_id = auth::platform_app(&req, &state.pool).await?;
    let user_id = granted_user(&state, app_id, &path).await?;
    let ctx = state.context(&req, Principal::PlatformApp(app_id));
    let committed = state
        .store
        .execute(&ctx, async |uow| {
            let mut user = uow.load::<User>(StreamId::user(user_id)).await?;
            let accounts = write_model::accounts_of_user(uow.conn().await?, user_id).await?;
            // Load every stream before the first write (see event_store).
            let mut memberships = Vec::with_capacity(accounts.len());
            for account_id in accounts {
                memberships.push(uow.load::<Account>(StreamId::account(account_id)).await?);
            }
            uow.decide(&mut user, &UserCommand::Delete).await?;
            for account in &mut memberships {
                uow.decide(account, &AccountCommand::RemoveMember { user_id })
                    .await?;
            }
            write_model::delete_user(uow.conn().await?, user_id).await?;
            Ok(())
        })
        .await?;
    Ok(state.respond_empty(&req, &committed.written).await)
}
