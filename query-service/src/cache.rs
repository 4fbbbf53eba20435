//! Rendered pages, kept while the read model they were rendered from has not
//! changed (docs/adr/0009).
//!
//! A dashboard asks for the same conversation pages again and again, and
//! rendering one costs the query service several statements. The projection
//! stamps every account's read model with a generation (the id of the last
//! transaction that changed it; account 0 stands for rows of no account,
//! such as users), and the admission query that authenticates every request
//! reads the account's and the global generation in the same round trip. A
//! page rendered while both were `g` is served again for as long as both
//! are still `g`, so a hit costs that one statement and nothing else.
//!
//! Why this never serves a stale page, read-your-writes included: the
//! generations are read *before* the page is rendered, and the projection
//! moves them in the transaction that changes the rows. A page stored under
//! `g` therefore shows the read model at `g` or later; a request that still
//! reads `g` was admitted before any change after `g` committed, so that
//! page is at least as new as what it would render itself. A write that
//! waited for its projection (read-your-writes) has moved the generation
//! before it answers, so the next request misses.
//!
//! The key is the caller (user and role: they decide the inboxes seen and
//! `mine_count`) and the request's path and query string, so a page is only
//! ever served to the caller it was rendered for. Entries are weighed by
//! their size; least-used ones are evicted past `READ_CACHE_MB`.

use actix_web::{http::header::ContentType, HttpRequest, HttpResponse};
use bytes::Bytes;
use domain::account::Role;
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ApiError;

/// The read-model generations a page was rendered at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Generation {
    /// The account's.
    pub account: i64,
    /// That of the rows of no account (users, platform apps).
    pub global: i64,
}

impl Generation {
    /// From the admission query: no generation for the account (a read
    /// model not written by the projection) means nothing may be cached.
    pub fn from_columns(account: Option<i64>, global: Option<i64>) -> Option<Self> {
        Some(Generation {
            account: account?,
            global: global.unwrap_or(0),
        })
    }
}

/// Whose page, and which.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account_id: i64,
    user_id: i64,
    administrator: bool,
    path: String,
    query: String,
}

#[derive(Debug, Clone)]
struct Entry {
    generation: Generation,
    body: Bytes,
}

/// The header that tells whether a page came from the cache (`hit`) or was
/// rendered for this request (`miss`); absent where nothing is cached.
pub const HEADER: &str = "x-read-cache";

/// Rendered JSON bodies by caller and request; see the module documentation.
#[derive(Clone)]
pub struct PageCache {
    pages: Option<moka::sync::Cache<Key, Entry>>,
}

impl PageCache {
    /// A cache of at most `bytes` of bodies; 0 keeps nothing.
    pub fn new(bytes: u64) -> Self {
        let pages = (bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .weigher(|key: &Key, entry: &Entry| {
                    let size = key.path.len() + key.query.len() + entry.body.len() + 64;
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .max_capacity(bytes)
                .build()
        });
        PageCache { pages }
    }

    /// The page `render` produces for this request, from the cache when the
    /// caller's generation is the one it was rendered at.
    pub async fn page<F, Fut, T>(
        &self,
        caller: &Caller,
        req: &HttpRequest,
        render: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
        T: Serialize,
    {
        let (Some(pages), Some(generation)) = (&self.pages, caller.generation) else {
            return Ok(HttpResponse::Ok().json(render().await?));
        };
        let key = Key {
            account_id: caller.account_id,
            user_id: caller.user_id,
            administrator: caller.role == Role::Administrator,
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
        };
        if let Some(entry) = pages.get(&key) {
            if entry.generation == generation {
                return Ok(respond(entry.body, "hit"));
            }
        }
        let body = Bytes::from(serde_json::to_vec(&render().await?)?);
        pages.insert(
            key,
            Entry {
                generation,
                body: body.clone(),
            },
        );
        Ok(respond(body, "miss"))
    }
}

fn respond(body: Bytes, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header((HEADER, cache))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_model_the_projection_never_stamped_is_not_cached() {
        assert_eq!(Generation::from_columns(None, Some(7)), None);
        assert_eq!(
            Generation::from_columns(Some(5), None),
            Some(Generation {
                account: 5,
                global: 0
            })
        );
    }
}
