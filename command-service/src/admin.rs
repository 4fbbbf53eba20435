//! Operator commands, shared by the `chatwoot-admin` CLI and the tests.

use chrono::Utc;
use domain::platform_app::{PlatformApp, PlatformAppCommand};
use domain::StreamId;
use infra::settings::Secret;
use infra::stored::Metadata;
use infra::tokens::{self, OwnerType};

use crate::error::ApiError;
use crate::event_store::{CommandContext, EventStore};
use crate::write_model;

/// Registers a platform app; returns its id and its access token (shown once).
pub async fn create_platform_app(
    store: &EventStore,
    secret: &Secret,
    name: &str,
) -> Result<(i64, String), ApiError> {
    let ctx = CommandContext {
        metadata: Metadata {
            actor_type: "system".into(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
        now: Utc::now(),
        idempotency: None,
    };
    let committed = store
        .execute(&ctx, async |uow| {
            let app_id = write_model::next_id(uow.conn().await?, "platform_app_ids").await?;
            let token = tokens::derive(secret, OwnerType::PlatformApp, app_id);
            let token_hash = tokens::hash(&token);
            let mut app = uow
                .load::<PlatformApp>(StreamId::platform_app(app_id))
                .await?;
            let command = PlatformAppCommand::Create {
                app_id,
                name: name.to_owned(),
                access_token_hash: token_hash.clone(),
            };
            uow.decide(&mut app, &command).await?;
            write_model::insert_token(uow.conn().await?, &token_hash, "platform_app", app_id)
                .await?;
            Ok((app_id, token))
        })
        .await?;
    Ok(committed.value)
}
