//! Integration apps and hooks JSON (behaviour notes §2.8).
//!
//! The apps come from the catalogue in `domain::integration`; each lists the
//! account's hooks of it. `enabled` is true for every listed app, as Chatwoot
//! has it for every app but Slack (not offered here). Hook settings may hold
//! credentials: only administrators see them (today's Chatwoot).

use domain::integration::{App, APPS};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::repo::hooks::{self, HookRow};

/// The hook shape (`AV/models/_hook.json.jbuilder`); `settings` for administrators.
pub fn hook_shape(h: &HookRow, with_settings: bool) -> Value {
    let inbox = match (h.inbox_id, &h.inbox_name) {
        (Some(id), Some(name)) => json!({"id": id, "name": name}),
        _ => Value::Null,
    };
    let mut v = json!({
        "id": h.id,
        "app_id": h.app_id,
        "status": h.status,
        "inbox": inbox,
        "account_id": h.account_id,
        "hook_type": h.hook_type,
    });
    if with_settings {
        v["settings"] = Value::Object(h.settings.0.clone());
    }
    v
}

/// The app shape with the account's hooks of it.
pub fn app_shape(app: &App, hooks: &[HookRow], with_settings: bool) -> Value {
    let form: Vec<Value> = app
        .schema
        .settings
        .iter()
        .map(|s| {
            json!({
                "label": s.key,
                "name": s.key,
                "type": if s.kind == domain::integration::SettingType::Object { "textarea" } else { "text" },
                "validation": if s.required { "required" } else { "" },
            })
        })
        .collect();
    let visible: Vec<&str> = app
        .schema
        .settings
        .iter()
        .filter(|s| s.kind == domain::integration::SettingType::String)
        .map(|s| s.key)
        .collect();
    let hooks: Vec<Value> = hooks
        .iter()
        .filter(|h| h.app_id == app.id)
        .map(|h| hook_shape(h, with_settings))
        .collect();
    json!({
        "id": app.id,
        "name": app.name,
        "description": app.description,
        "logo": app.logo,
        "i18n_key": app.i18n_key,
        "action": app.action,
        "button": Value::Null,
        "hook_type": app.hook_type.as_str(),
        "allow_multiple_hooks": app.allow_multiple_hooks,
        "settings_json_schema": app.schema.json_schema(),
        "settings_form_schema": form,
        "visible_properties": visible,
        "enabled": true,
        "hooks": hooks,
    })
}

/// `{"payload": [apps]}` for the account.
pub async fn apps(
    pool: &PgPool,
    account_id: i64,
    with_settings: bool,
) -> Result<Value, sqlx::Error> {
    let rows = hooks::hooks(pool, account_id).await?;
    let payload: Vec<Value> = APPS
        .iter()
        .map(|a| app_shape(a, &rows, with_settings))
        .collect();
    Ok(json!({ "payload": payload }))
}

/// One app of the catalogue with the account's hooks of it (`None`: no such app).
pub async fn app(
    pool: &PgPool,
    account_id: i64,
    app_id: &str,
    with_settings: bool,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(app) = domain::integration::app(app_id) else {
        return Ok(None);
    };
    let rows = hooks::hooks(pool, account_id).await?;
    Ok(Some(app_shape(app, &rows, with_settings)))
}

/// One hook of the account (the write answers render it; they are made by
/// administrators, so settings are shown).
pub async fn hook(
    pool: &PgPool,
    account_id: i64,
    hook_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(hooks::hook(pool, account_id, hook_id)
        .await?
        .map(|h| hook_shape(&h, true)))
}
