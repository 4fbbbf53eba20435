//! Account webhooks (stream `webhook:<id>`): a URL that receives the
//! account's events it subscribes to.
//!
//! A webhook is created with a `url` (http or https) and `subscriptions`
//! (event names of [`EVENTS`]; none sent means Chatwoot's default list
//! [`DEFAULT_SUBSCRIPTIONS`]), may change either, and is deleted. Whether
//! the URL is already taken in the account is looked up by the caller (the
//! write model's unique index settles races). The signing secret is not part
//! of the stream: it lives in the write model only (docs/webhooks.md).

use crate::{Aggregate, DomainError, Event};

/// Every event name a webhook may subscribe to (Chatwoot's `ALLOWED_WEBHOOK_EVENTS`).
pub const EVENTS: [&str; 12] = [
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "contact_created",
    "contact_updated",
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "inbox_created",
    "inbox_updated",
    "conversation_typing_on",
    "conversation_typing_off",
];

/// What a webhook created without `subscriptions` receives (Chatwoot's column default).
pub const DEFAULT_SUBSCRIPTIONS: [&str; 8] = [
    "conversation_status_changed",
    "conversation_updated",
    "conversation_created",
    "contact_created",
    "contact_updated",
    "message_created",
    "message_updated",
    "webwidget_triggered",
];

/// 422 `Url is invalid` unless the URL is an absolute http(s) URL with a host
/// and no whitespace.
pub fn validate_url(url: &str) -> Result<(), DomainError> {
    let invalid = || DomainError::invalid("url", "Url is invalid");
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok(())
}

/// 422 `Subscriptions Invalid events` unless every name is one of [`EVENTS`]
/// and there is at least one. Duplicates are dropped, order kept.
pub fn validate_subscriptions(names: &[String]) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !EVENTS.contains(&n.as_str()) {
            return Err(DomainError::invalid(
                "subscriptions",
                format!("Subscriptions Invalid events ({n} is not an event)"),
            ));
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    if out.is_empty() {
        return Err(DomainError::invalid(
            "subscriptions",
            "Subscriptions Invalid events (at least one is needed)",
        ));
    }
    Ok(out)
}

/// A webhook as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Webhook {
    /// `(webhook id, account id)` once created.
    pub ids: Option<(i64, i64)>,
    /// Receiving URL.
    pub url: String,
    /// Optional display name.
    pub name: Option<String>,
    /// Subscribed event names.
    pub subscriptions: Vec<String>,
    /// Deleted: nothing more may happen to it.
    pub deleted: bool,
}

impl Webhook {
    /// `(webhook id, account id)` of a live webhook.
    pub fn live_ids(&self) -> Option<(i64, i64)> {
        self.ids.filter(|_| !self.deleted)
    }
}

/// What may be asked of a webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookCommand {
    /// Create a webhook.
    Create {
        /// New webhook id.
        webhook_id: i64,
        /// Owning account.
        account_id: i64,
        /// URL sent.
        url: String,
        /// Name sent.
        name: Option<String>,
        /// Subscriptions sent; `None` means the default list.
        subscriptions: Option<Vec<String>>,
        /// Whether another webhook of the account has this URL.
        url_taken: bool,
    },
    /// Change what was sent.
    Update {
        /// New URL.
        url: Option<String>,
        /// New name.
        name: Option<String>,
        /// New subscriptions.
        subscriptions: Option<Vec<String>>,
        /// Whether another webhook of the account has the new URL.
        url_taken: bool,
    },
    /// Delete the webhook.
    Delete,
}

fn taken() -> DomainError {
    DomainError::invalid("url", "Url has already been taken")
}

impl Aggregate for Webhook {
    type Command = WebhookCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::WebhookCreated {
                webhook_id,
                account_id,
                url,
                name,
                subscriptions,
            } => {
                self.ids = Some((*webhook_id, *account_id));
                self.url = url.clone();
                self.name = name.clone();
                self.subscriptions = subscriptions.clone();
            }
            Event::WebhookUpdated {
                url,
                name,
                subscriptions,
                ..
            } => {
                self.url = url.clone();
                self.name = name.clone();
                self.subscriptions = subscriptions.clone();
            }
            Event::WebhookDeleted { .. } => self.deleted = true,
            _ => {}
        }
        self
    }

    fn decide(&self, command: &WebhookCommand) -> Result<Vec<Event>, DomainError> {
        if let WebhookCommand::Create {
            webhook_id,
            account_id,
            url,
            name,
            subscriptions,
            url_taken,
        } = command
        {
            if self.ids.is_some() {
                return Err(DomainError::Rejected("Webhook already exists".into()));
            }
            let url = url.trim();
            validate_url(url)?;
            let subscriptions = match subscriptions {
                Some(s) => validate_subscriptions(s)?,
                None => DEFAULT_SUBSCRIPTIONS.map(str::to_owned).to_vec(),
            };
            if *url_taken {
                return Err(taken());
            }
            return Ok(vec![Event::WebhookCreated {
                webhook_id: *webhook_id,
                account_id: *account_id,
                url: url.to_owned(),
                name: name.clone().filter(|n| !n.trim().is_empty()),
                subscriptions,
            }]);
        }
        let Some((webhook_id, account_id)) = self.live_ids() else {
            return Err(DomainError::NotFound);
        };
        match command {
            WebhookCommand::Create { .. } => Ok(vec![]),
            WebhookCommand::Update {
                url,
                name,
                subscriptions,
                url_taken,
            } => {
                let url = url
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&self.url)
                    .to_owned();
                validate_url(&url)?;
                let subscriptions = match subscriptions {
                    Some(s) => validate_subscriptions(s)?,
                    None => self.subscriptions.clone(),
                };
                let name = match name {
                    Some(n) if n.trim().is_empty() => None,
                    Some(n) => Some(n.clone()),
                    None => self.name.clone(),
                };
                if url != self.url && *url_taken {
                    return Err(taken());
                }
                if url == self.url && name == self.name && subscriptions == self.subscriptions {
                    return Ok(vec![]);
                }
                Ok(vec![Event::WebhookUpdated {
                    webhook_id,
                    account_id,
                    url,
                    name,
                    subscriptions,
                }])
            }
            WebhookCommand::Delete => Ok(vec![Event::WebhookDeleted {
                webhook_id,
                account_id,
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, when};

    fn create(url: &str, subs: Option<&[&str]>, taken: bool) -> WebhookCommand {
        WebhookCommand::Create {
            webhook_id: 5,
            account_id: 1,
            url: url.into(),
            name: None,
            subscriptions: subs.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
            url_taken: taken,
        }
    }

    #[test]
    fn given_nothing_when_created_without_subscriptions_then_the_default_list() {
        let events = when::<Webhook>(&[], create("https://x.test/hook", None, false)).unwrap();
        let Event::WebhookCreated { subscriptions, .. } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(subscriptions.len(), DEFAULT_SUBSCRIPTIONS.len());
    }

    #[test]
    fn given_nothing_when_url_is_not_http_then_422() {
        for bad in [
            "ftp://x.test",
            "x.test",
            "http://",
            "https:// x.test",
            "",
            "http:///p",
        ] {
            assert_eq!(
                when::<Webhook>(&[], create(bad, None, false)),
                Err(DomainError::invalid("url", "Url is invalid")),
                "{bad}"
            );
        }
        for good in [
            "http://127.0.0.1:8080/x",
            "HTTPS://x.test",
            "https://[::1]:9/h?q=1",
        ] {
            assert!(
                when::<Webhook>(&[], create(good, None, false)).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn given_nothing_when_subscriptions_unknown_or_empty_then_422() {
        for subs in [&["message_created", "nope"][..], &[][..]] {
            assert!(matches!(
                when::<Webhook>(&[], create("https://x.test", Some(subs), false)),
                Err(DomainError::Invalid { attributes, .. }) if attributes == ["subscriptions"]
            ));
        }
    }

    #[test]
    fn given_a_webhook_when_url_taken_then_422_and_same_values_change_nothing() {
        assert_eq!(
            when::<Webhook>(&[], create("https://x.test", None, true)),
            Err(taken())
        );
        let log = when::<Webhook>(
            &[],
            create("https://x.test", Some(&["message_created"]), false),
        )
        .unwrap();
        let same = WebhookCommand::Update {
            url: Some("https://x.test".into()),
            name: None,
            subscriptions: Some(vec!["message_created".into()]),
            url_taken: true,
        };
        assert_eq!(when::<Webhook>(&log, same), Ok(vec![]));
        let change = WebhookCommand::Update {
            url: None,
            name: None,
            subscriptions: Some(vec!["contact_created".into()]),
            url_taken: false,
        };
        let events = when::<Webhook>(&log, change).unwrap();
        let all: Vec<Event> = log.iter().cloned().chain(events).collect();
        assert_eq!(given::<Webhook>(&all).subscriptions, ["contact_created"]);
    }

    #[test]
    fn given_a_deleted_webhook_when_anything_then_not_found() {
        let mut log = when::<Webhook>(&[], create("https://x.test", None, false)).unwrap();
        log.extend(when::<Webhook>(&log, WebhookCommand::Delete).unwrap());
        assert_eq!(
            when::<Webhook>(&log, WebhookCommand::Delete),
            Err(DomainError::NotFound)
        );
    }
}
