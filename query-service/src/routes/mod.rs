//! The read endpoints, one module per resource, plus what they share: id
//! parsing, query-string parameters, paging, and JSON answers for paths,
//! methods and query strings that do not fit.

mod blobs;
mod contacts;
mod conversations;
mod docs;
mod inboxes;
mod messages;
mod platform;
mod profile;
mod teams;
// ---- agent bots and sso ----
mod agent_bots;
// ---- integrations ----
mod integrations;
// ---- audit ----
mod history;
// ---- reports ----
mod reports;
// ---- webhooks ----
mod webhooks;

use actix_web::dev::Handler;
use actix_web::{web, FromRequest, Resource, Responder};
use serde_json::{json, Value};

use crate::error::ApiError;

/// Mounts every read route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    platform::configure(cfg);
    inboxes::configure(cfg);
    // ---- audit ----
    // Before `contacts` and `conversations`: their `{id}` routes come first otherwise.
    history::configure(cfg);
    contacts::configure(cfg);
    messages::configure(cfg);
    conversations::configure(cfg);
    profile::configure(cfg);
    teams::configure(cfg);
    // ---- agent bots and sso ----
    agent_bots::configure(cfg);
    integrations::configure(cfg);
    blobs::configure(cfg);
    // ---- reports ----
    reports::configure(cfg);
    // ---- webhooks ----
    webhooks::configure(cfg);
    docs::configure(cfg);
}

/// A path segment that does not extract becomes a JSON 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into())
}

/// A query string that does not parse becomes a JSON 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(format!("Invalid query string: {e}")).into())
}

/// A `GET` resource; any other method on its path is the JSON 404 of an unknown route.
fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(infra::http::not_found))
}

/// An id from a path segment: anything but a positive integer that fits is a 404.
pub fn id(segment: &str) -> Result<i64, ApiError> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or(ApiError::NotFound)
}

/// The query string as Chatwoot reads it: the first value of a key counts,
/// and a blank value is the same as none.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: web::Query<Vec<(String, String)>>) -> Self {
        Params(query.into_inner())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-blank value of any of the keys (`labels[]=a&labels=b`), in order.
    fn all(&self, keys: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// An optional id parameter; present but not a positive integer is a 400.
    fn id(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .map(Some)
                .ok_or_else(|| ApiError::BadRequest(format!("{key} must be a positive integer"))),
        }
    }

    /// The requested page, read leniently as Kaminari does (junk means page 1).
    fn page(&self) -> Page {
        match self.get("page") {
            None => Page {
                number: 1,
                echo: json!(1),
            },
            Some(raw) => Page {
                number: raw.parse::<i64>().ok().filter(|p| *p > 0).unwrap_or(1),
                echo: json!(raw),
            },
        }
    }
}

/// A page of a list.
struct Page {
    /// 1-based page number.
    number: i64,
    /// What `meta.current_page` shows: Chatwoot echoes the parameter as sent.
    echo: Value,
}

impl Page {
    /// Rows to skip; a page too far to compute skips everything.
    fn offset(&self, per_page: i64) -> i64 {
        (self.number - 1).checked_mul(per_page).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn only_positive_integers_are_ids() {
        assert_eq!(id("12").unwrap(), 12);
        for junk in ["0", "-1", "abc", "99999999999999999999", "", "1.5", " 1"] {
            assert!(id(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_first_value_counts_and_blank_is_absent() {
        let p = params(&[("status", "resolved"), ("status", "open"), ("q", "  ")]);
        assert_eq!(p.get("status"), Some("resolved"));
        assert_eq!(p.get("q"), None);
        assert_eq!(p.get("page"), None);
    }

    #[test]
    fn junk_pages_are_page_one_and_huge_pages_skip_everything() {
        assert_eq!(params(&[("page", "abc")]).page().number, 1);
        assert_eq!(params(&[("page", "-3")]).page().number, 1);
        assert_eq!(params(&[("page", "3")]).page().offset(15), 30);
        assert_eq!(params(&[("page", "3")]).page().echo, json!("3"));
        assert_eq!(params(&[]).page().echo, json!(1));
        let huge = params(&[("page", "9223372036854775807")]).page();
        assert_eq!(huge.offset(25), i64::MAX);
    }

    #[test]
    fn id_parameters_must_be_positive_integers() {
        assert_eq!(
            params(&[("inbox_id", "4")]).id("inbox_id").unwrap(),
            Some(4)
        );
        assert_eq!(params(&[]).id("inbox_id").unwrap(), None);
        assert!(params(&[("inbox_id", "x")]).id("inbox_id").is_err());
        assert!(params(&[("inbox_id", "0")]).id("inbox_id").is_err());
    }
}
