//! Where each page of a conversation list starts, kept per read-model
//! generation, so that a page deep in a long list is read from the list
//! index at its first row's key instead of walking past every row before
//! it (docs/adr/0009).
//!
//! Chatwoot pages its lists by number, and page 3,000 of an account's
//! 100,000 open conversations is an `offset` of 75,000: each such request
//! walked 75,000 index entries (13 ms, a hundred times what page 1's
//! read costs). The keys of a list (its order is
//! activity time, then id) at every 25th row are taken in one walk the
//! first time a deep page is asked for at a generation, and every deep
//! page asked for at that generation then starts at its key.
//!
//! The keys are kept under the generation the request was admitted at, and
//! read after it: they show the list at that generation or later, as the
//! page then read does (the same argument as for rendered pages, in
//! `crate::cache`). While the account is quiet the page at a key is the
//! page its offset gives. Once the account changes, its generation moves
//! and the next deep page takes new keys; a request admitted at the old
//! generation that still reads old keys gets the rows from where its page
//! started at that generation, which an offset read a moment later would
//! also have shifted.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::auth::Caller;
use crate::repo::conversations::{self, Assignee, ConversationFilter, PageKey, Start, DEEP_OFFSET};

/// How many keys are kept, over every list and generation (16 bytes each).
const MAX_KEYS: u64 = 1_000_000;
/// Keys not read for this long go: a generation an account has left is
/// not asked for again.
const IDLE: Duration = Duration::from_secs(60);

/// Which list, at which generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct List {
    account_id: i64,
    generation: i64,
    filter: ConversationFilter,
    assignee: Assignee,
    per_page: i64,
}

/// The keys of the lists' pages; see the module documentation.
#[derive(Clone)]
pub struct PageKeys {
    lists: moka::future::Cache<List, Arc<Vec<PageKey>>>,
}

impl Default for PageKeys {
    fn default() -> Self {
        PageKeys {
            lists: moka::future::Cache::builder()
                .weigher(|_: &List, keys: &Arc<Vec<PageKey>>| {
                    u32::try_from(keys.len() + 1).unwrap_or(u32::MAX)
                })
                .max_capacity(MAX_KEYS)
                .time_to_idle(IDLE)
                .build(),
        }
    }
}

impl PageKeys {
    /// Where the page at `offset` of this list starts for `caller`, read
    /// at the generation they were admitted at (none: a read model the
    /// projection never stamped, whose changes nothing would tell). `None`
    /// if the page is past the list's end.
    pub async fn start(
        &self,
        pool: &PgPool,
        caller: &Caller,
        filter: &ConversationFilter,
        assignee: Assignee,
        per_page: i64,
        offset: i64,
    ) -> Result<Option<Start>, sqlx::Error> {
        let deep = offset >= DEEP_OFFSET && per_page > 0;
        let (Some(generation), true) = (caller.generation, deep) else {
            return Ok(Some(Start::Offset(offset)));
        };
        let account_id = caller.account_id;
        let list = List {
            account_id,
            generation: generation.account,
            filter: filter.clone(),
            assignee,
            per_page,
        };
        // Requests that miss together wait for one walk.
        let keys = self
            .lists
            .try_get_with(list, async {
                conversations::page_keys(pool, account_id, filter, assignee, per_page)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| {
                Arc::try_unwrap(e).unwrap_or_else(|e| sqlx::Error::Protocol(e.to_string()))
            })?;
        let page = usize::try_from(offset / per_page).unwrap_or(usize::MAX);
        Ok(keys.get(page).map(|key| Start::Key(*key)))
    }
}
