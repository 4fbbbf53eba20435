//! The write endpoints, one module per resource.

mod contacts;
mod conversations;
mod inboxes;
mod labels;
mod messages;
mod platform;
// ---- teams, members, assignments ----
mod assignments;
mod inbox_members;
mod teams;
// ---- agent bots and sso ----
mod agent_bots;
mod sso;
// ---- integrations ----
mod integrations;
// ---- webhooks ----
mod webhooks;

use actix_web::web;

use crate::error::ApiError;

/// Mounts every write route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // ---- agent bots and sso ----
    // Before `platform` and `inboxes`, whose scopes would answer 404 for these paths.
    agent_bots::configure(cfg);
    sso::configure(cfg);
    platform::configure(cfg);
    inboxes::configure(cfg);
    contacts::configure(cfg);
    // Before conversations: its scope would otherwise claim these paths.
    messages::configure(cfg);
    labels::configure(cfg);
    // Before `conversations`, whose scope would answer 404 for paths under it.
    assignments::configure(cfg);
    conversations::configure(cfg);
    teams::configure(cfg);
    inbox_members::configure(cfg);
    integrations::configure(cfg);
    // ---- webhooks ----
    webhooks::configure(cfg);
}

/// Path extraction errors become a JSON 404 rather than actix's plain text.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into())
}

/// An id from a path segment: anything but a positive integer is a 404.
pub fn id(segment: &str) -> Result<i64, ApiError> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_positive_integers_are_ids() {
        assert_eq!(super::id("12").unwrap(), 12);
        for junk in ["0", "-1", "abc", "99999999999999999999", ""] {
            assert!(super::id(junk).is_err(), "{junk}");
        }
    }
}
