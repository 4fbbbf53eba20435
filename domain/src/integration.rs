//! Integration apps and their hooks.
//!
//! The apps are a fixed catalogue ([`APPS`]), written here as data: what each
//! app is called, whether its hooks belong to the account or to one inbox,
//! whether an account may have more than one, and the settings a hook must
//! carry ([`SettingsSchema`]). A hook is an aggregate of its own (stream
//! `hook:<id>`): created for an app, then its `status` and `settings` may
//! change, then it is deleted. Whether the account already has a hook of a
//! single-hook app, and whether the inbox is the account's, are looked up by
//! the caller and passed in.

use serde_json::Value;

use crate::{Aggregate, Attributes, DomainError, Event};

/// The JSON type a setting must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// A JSON string.
    String,
    /// A JSON object.
    Object,
    /// A JSON boolean.
    Boolean,
}

impl SettingType {
    /// The JSON-schema name of the type.
    pub fn name(self) -> &'static str {
        match self {
            SettingType::String => "string",
            SettingType::Object => "object",
            SettingType::Boolean => "boolean",
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match self {
            SettingType::String => value.is_string(),
            SettingType::Object => value.is_object(),
            SettingType::Boolean => value.is_boolean(),
        }
    }
}

/// One setting of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The key in `settings`.
    pub key: &'static str,
    /// Its JSON type.
    pub kind: SettingType,
    /// Whether a hook must carry it.
    pub required: bool,
}

/// What a hook's `settings` must look like: an object with these keys and
/// no others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsSchema {
    /// The known keys.
    pub settings: &'static [Setting],
}

impl SettingsSchema {
    /// The problems of `settings`, one phrase each; empty when it fits.
    pub fn problems(&self, settings: &Attributes) -> Vec<String> {
        let mut problems = Vec::new();
        for s in self.settings {
            match settings.get(s.key) {
                None | Some(Value::Null) if s.required => {
                    problems.push(format!("{} is required", s.key));
                }
                None | Some(Value::Null) => {}
                Some(v) if !s.kind.accepts(v) => {
                    let article = if s.kind == SettingType::Object {
                        "an"
                    } else {
                        "a"
                    };
                    problems.push(format!("{} must be {article} {}", s.key, s.kind.name()));
                }
                Some(Value::String(v)) if s.required && v.trim().is_empty() => {
                    problems.push(format!("{} must not be blank", s.key));
                }
                Some(_) => {}
            }
        }
        for key in settings.keys() {
            if !self.settings.iter().any(|s| s.key == key) {
                problems.push(format!("{key} is not a setting of this app"));
            }
        }
        problems
    }

    /// The schema as JSON Schema (for the apps list's `settings_json_schema`).
    pub fn json_schema(&self) -> Value {
        let properties: serde_json::Map<String, Value> = self
            .settings
            .iter()
            .map(|s| (s.key.to_owned(), serde_json::json!({"type": s.kind.name()})))
            .collect();
        let required: Vec<&str> = self
            .settings
            .iter()
            .filter(|s| s.required)
            .map(|s| s.key)
            .collect();
        serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }
}

/// Whether an app's hooks belong to the account or to one of its inboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookType {
    /// One per account (or several), no inbox.
    Account,
    /// Attached to an inbox, which the hook must name.
    Inbox,
}

impl HookType {
    /// `"account"` or `"inbox"`, as Chatwoot writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::Account => "account",
            HookType::Inbox => "inbox",
        }
    }
}

/// An app of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App {
    /// Its id (`"webhook"`, `"dialogflow"`, ...).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// One sentence on what it does.
    pub description: &'static str,
    /// Logo file name.
    pub logo: &'static str,
    /// Translation key of the dashboard.
    pub i18n_key: &'static str,
    /// Where the dashboard goes to set it up.
    pub action: &'static str,
    /// Account or inbox hooks.
    pub hook_type: HookType,
    /// Whether an account may have more than one hook of it.
    pub allow_multiple_hooks: bool,
    /// What a hook's settings must be.
    pub schema: SettingsSchema,
}

/// The apps, in the order they are listed.
pub const APPS: [App; 3] = [
    App {
        id: "webhook",
        name: "Webhooks",
        description:
            "Send a JSON payload to a URL of yours whenever something happens in the account.",
        logo: "cable.svg",
        i18n_key: "webhooks",
        action: "/webhook",
        hook_type: HookType::Account,
        allow_multiple_hooks: true,
        schema: SettingsSchema {
            settings: &[Setting {
                key: "url",
                kind: SettingType::String,
                required: true,
            }],
        },
    },
    App {
        id: "dialogflow",
        name: "Dialogflow",
        description:
            "Let a Dialogflow agent answer the conversations of an inbox before a person steps in.",
        logo: "dialogflow.svg",
        i18n_key: "dialogflow",
        action: "/dialogflow",
        hook_type: HookType::Inbox,
        allow_multiple_hooks: true,
        schema: SettingsSchema {
            settings: &[
                Setting {
                    key: "project_id",
                    kind: SettingType::String,
                    required: true,
                },
                Setting {
                    key: "credentials",
                    kind: SettingType::Object,
                    required: true,
                },
            ],
        },
    },
    App {
        id: "fullcontact",
        name: "FullContact",
        description: "Fill in contact profiles from FullContact when a contact is created.",
        logo: "fullcontact.png",
        i18n_key: "fullcontact",
        action: "/fullcontact",
        hook_type: HookType::Account,
        allow_multiple_hooks: false,
        schema: SettingsSchema {
            settings: &[Setting {
                key: "api_key",
                kind: SettingType::String,
                required: true,
            }],
        },
    },
];

/// The app with this id.
pub fn app(id: &str) -> Option<&'static App> {
    APPS.iter().find(|a| a.id == id)
}

/// 422 unless the settings fit the app's schema; the message lists each problem.
pub fn validate_settings(app: &App, settings: &Attributes) -> Result<(), DomainError> {
    let problems = app.schema.problems(settings);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "settings",
            format!("Settings : Invalid settings data ({})", problems.join("; ")),
        ))
    }
}

/// A hook as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hook {
    /// `(hook id, account id)` once created.
    pub ids: Option<(i64, i64)>,
    /// The app.
    pub app_id: String,
    /// The inbox, for inbox hooks.
    pub inbox_id: Option<i64>,
    /// Enabled.
    pub status: bool,
    /// Settings (fit the app's schema).
    pub settings: Attributes,
    /// Deleted: nothing more may happen to it.
    pub deleted: bool,
}

impl Hook {
    /// `(hook id, account id)` of a live hook.
    pub fn live_ids(&self) -> Option<(i64, i64)> {
        self.ids.filter(|_| !self.deleted)
    }
}

/// What may be asked of a hook.
#[derive(Debug, Clone, PartialEq)]
pub enum HookCommand {
    /// Create a hook for an app.
    Create {
        /// New hook id.
        hook_id: i64,
        /// Owning account.
        account_id: i64,
        /// The app's id as sent.
        app_id: String,
        /// The inbox sent, checked by the caller to be the account's.
        inbox_id: Option<i64>,
        /// Enabled; `None` means enabled (today's default).
        status: Option<bool>,
        /// Settings sent.
        settings: Attributes,
        /// Whether the account already has a hook of this app.
        app_has_hook: bool,
    },
    /// Change status and/or settings.
    Update {
        /// New status, if sent.
        status: Option<bool>,
        /// New settings (replacing the old ones), if sent.
        settings: Option<Attributes>,
    },
    /// Delete the hook.
    Delete,
}

impl Aggregate for Hook {
    type Command = HookCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::HookCreated {
                hook_id,
                account_id,
                app_id,
                inbox_id,
                status,
                settings,
                ..
            } => {
                self.ids = Some((*hook_id, *account_id));
                self.app_id = app_id.clone();
                self.inbox_id = *inbox_id;
                self.status = *status;
                self.settings = settings.clone();
            }
            Event::HookUpdated {
                status, settings, ..
            } => {
                self.status = *status;
                self.settings = settings.clone();
            }
            Event::HookDeleted { .. } => self.deleted = true,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &HookCommand) -> Result<Vec<Event>, DomainError> {
        if let HookCommand::Create {
            hook_id,
            account_id,
            app_id,
            inbox_id,
            status,
            settings,
            app_has_hook,
        } = command
        {
            if self.ids.is_some() {
                return Err(DomainError::Rejected("Hook already exists".into()));
            }
            let Some(app) = app(app_id) else {
                let known: Vec<&str> = APPS.iter().map(|a| a.id).collect();
                return Err(DomainError::invalid(
                    "app_id",
                    format!("App must be one of {}", known.join(", ")),
                ));
            };
            let inbox_id = match app.hook_type {
                HookType::Inbox => match inbox_id {
                    Some(id) => Some(*id),
                    None => return Err(DomainError::invalid("inbox", "Inbox must exist")),
                },
                HookType::Account => None,
            };
            validate_settings(app, settings)?;
            if *app_has_hook && !app.allow_multiple_hooks {
                return Err(DomainError::invalid(
                    "app_id",
                    format!("App {} allows only one hook per account", app.id),
                ));
            }
            return Ok(vec![Event::HookCreated {
                hook_id: *hook_id,
                account_id: *account_id,
                app_id: app.id.to_owned(),
                inbox_id,
                hook_type: app.hook_type.as_str().to_owned(),
                status: status.unwrap_or(true),
                settings: settings.clone(),
            }]);
        }
        let Some((hook_id, account_id)) = self.live_ids() else {
            return Err(DomainError::NotFound);
        };
        match command {
            HookCommand::Create { .. } => Ok(vec![]),
            HookCommand::Update { status, settings } => {
                let status = status.unwrap_or(self.status);
                let settings = settings.clone().unwrap_or_else(|| self.settings.clone());
                if let Some(app) = app(&self.app_id) {
                    validate_settings(app, &settings)?;
                }
                if status == self.status && settings == self.settings {
                    return Ok(vec![]);
                }
                Ok(vec![Event::HookUpdated {
                    hook_id,
                    account_id,
                    status,
                    settings,
                }])
            }
            HookCommand::Delete => Ok(vec![Event::HookDeleted {
                hook_id,
                account_id,
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, when};
    use serde_json::json;

    fn settings(v: Value) -> Attributes {
        v.as_object().cloned().unwrap_or_default()
    }

    fn create(app_id: &str, inbox_id: Option<i64>, s: Value, taken: bool) -> HookCommand {
        HookCommand::Create {
            hook_id: 3,
            account_id: 1,
            app_id: app_id.into(),
            inbox_id,
            status: None,
            settings: settings(s),
            app_has_hook: taken,
        }
    }

    fn dialogflow() -> Vec<Event> {
        when::<Hook>(
            &[],
            create(
                "dialogflow",
                Some(9),
                json!({"project_id": "p", "credentials": {}}),
                false,
            ),
        )
        .unwrap()
    }

    #[test]
    fn case_72_given_nothing_when_dialogflow_hook_created_then_inbox_hook_enabled() {
        assert_eq!(
            dialogflow(),
            vec![Event::HookCreated {
                hook_id: 3,
                account_id: 1,
                app_id: "dialogflow".into(),
                inbox_id: Some(9),
                hook_type: "inbox".into(),
                status: true,
                settings: settings(json!({"project_id": "p", "credentials": {}})),
            }]
        );
    }

    #[test]
    fn given_nothing_when_settings_do_not_fit_then_422_listing_every_problem() {
        let err = when::<Hook>(
            &[],
            create(
                "dialogflow",
                Some(9),
                json!({"credentials": "x", "extra": 1}),
                false,
            ),
        )
        .unwrap_err();
        let DomainError::Invalid { message, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            message,
            "Settings : Invalid settings data (project_id is required; \
             credentials must be an object; extra is not a setting of this app)"
        );
    }

    #[test]
    fn given_nothing_when_unknown_app_or_missing_inbox_then_422() {
        assert!(matches!(
            when::<Hook>(&[], create("slack", None, json!({}), false)),
            Err(DomainError::Invalid { .. })
        ));
        assert_eq!(
            when::<Hook>(
                &[],
                create(
                    "dialogflow",
                    None,
                    json!({"project_id": "p", "credentials": {}}),
                    false
                )
            ),
            Err(DomainError::invalid("inbox", "Inbox must exist"))
        );
    }

    #[test]
    fn given_a_single_hook_app_with_a_hook_when_another_then_422() {
        let ok = create("fullcontact", None, json!({"api_key": "k"}), false);
        assert!(when::<Hook>(&[], ok).is_ok());
        let again = create("fullcontact", None, json!({"api_key": "k"}), true);
        assert!(matches!(
            when::<Hook>(&[], again),
            Err(DomainError::Invalid { .. })
        ));
        // Webhooks may be many.
        let webhook = create("webhook", Some(4), json!({"url": "https://x.test"}), true);
        let events = when::<Hook>(&[], webhook).unwrap();
        assert!(matches!(
            &events[0],
            Event::HookCreated { inbox_id: None, hook_type, .. } if hook_type == "account"
        ));
    }

    #[test]
    fn given_a_hook_when_updated_then_status_and_settings_change_and_are_validated() {
        let log = dialogflow();
        let update = HookCommand::Update {
            status: Some(false),
            settings: None,
        };
        let events = when::<Hook>(&log, update).unwrap();
        let all: Vec<Event> = log.iter().cloned().chain(events).collect();
        assert!(!given::<Hook>(&all).status);
        let bad = HookCommand::Update {
            status: None,
            settings: Some(settings(json!({"project_id": 5}))),
        };
        assert!(when::<Hook>(&log, bad).is_err());
        let same = HookCommand::Update {
            status: Some(true),
            settings: None,
        };
        assert_eq!(when::<Hook>(&log, same), Ok(vec![]));
    }

    #[test]
    fn given_a_deleted_hook_when_anything_then_not_found() {
        let mut log = dialogflow();
        log.extend(when::<Hook>(&log, HookCommand::Delete).unwrap());
        assert_eq!(
            when::<Hook>(&log, HookCommand::Delete),
            Err(DomainError::NotFound)
        );
    }
}
