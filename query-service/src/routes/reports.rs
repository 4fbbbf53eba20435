//! Reports (administrators only, as Chatwoot's `check_authorization`):
//! a metric as a timeseries, and a summary of every metric for a range and
//! the range before it. Definitions: docs/reports.md.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::account::Role;
use serde_json::{json, Map, Value};

use super::{get, Params};
use crate::error::ApiError;
use crate::repo::reports::{self, GroupBy, Metric, Query, Scope};
use crate::{auth, AppState};

/// The most buckets one timeseries answers.
const MAX_BUCKETS: i64 = 10_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get("/api/v2/accounts/{account_id}/reports", timeseries))
        .service(get(
            "/api/v2/accounts/{account_id}/reports/summary",
            summary,
        ));
}

/// `[{value, timestamp}]` (averages also carry `count`), one per bucket.
#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn timeseries(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::new(query);
    let q = admitted(&state, &req, &path.0, &params).await?;
    let metric = match params.get("metric") {
        None => return Err(ApiError::Unprocessable("metric is required".into())),
        Some(raw) => Metric::parse(raw).ok_or_else(|| {
            ApiError::Unprocessable(format!("metric {raw:?} is not a report metric"))
        })?,
    };
    let group_by = GroupBy::parse(params.get("group_by"));
    let span = (q.until - q.since).num_seconds().max(0);
    if span / group_by.min_seconds() >= MAX_BUCKETS {
        return Err(ApiError::Unprocessable(format!(
            "the range holds more than {MAX_BUCKETS} buckets; choose a longer group_by"
        )));
    }
    let buckets = reports::timeseries(&state.pool, &q, metric, group_by).await?;
    let body: Vec<Value> = buckets
        .iter()
        .map(|b| {
            if metric.is_average() {
                json!({"value": average(b.n, b.total), "timestamp": b.timestamp, "count": b.n})
            } else {
                json!({"value": b.n, "timestamp": b.timestamp})
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Every metric over `since..until`, and under `previous` over the range of
/// the same length that ends at `since`.
#[tracing::instrument(skip_all, fields(account = %path.0))]
async fn summary(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String,)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::new(query);
    let current = admitted(&state, &req, &path.0, &params).await?;
    let since = current
        .since
        .checked_sub_signed(current.until - current.since)
        .filter(|t| t.timestamp() >= EARLIEST)
        .ok_or_else(|| ApiError::Unprocessable("the previous range is out of range".into()))?;
    let previous = Query {
        since,
        until: current.since,
        ..current
    };
    let mut body = totals(&state, &current).await?;
    body.insert(
        "previous".into(),
        Value::Object(totals(&state, &previous).await?),
    );
    Ok(HttpResponse::Ok().json(body))
}

async fn totals(state: &AppState, q: &Query) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for metric in Metric::ALL {
        let (n, total) = reports::total(&state.pool, q, metric).await?;
        let value = if metric.is_average() {
            json!(average(n, total))
        } else {
            json!(n)
        };
        out.insert(metric.as_str().into(), value);
    }
    Ok(out)
}

fn average(n: i64, total: f64) -> f64 {
    if n == 0 {
        0.0
    } else {
        total / n as f64
    }
}

/// Admits an administrator of the account and reads the common parameters:
/// `type` (default `account`), `id`, `since`, `until`, `timezone_offset`.
async fn admitted(
    state: &AppState,
    req: &HttpRequest,
    account_segment: &str,
    params: &Params,
) -> Result<Query, ApiError> {
    let caller = auth::account_caller(req, state, account_segment).await?;
    if caller.role != Role::Administrator {
        return Err(ApiError::NOT_ALLOWED);
    }
    let scope = match params.get("type").unwrap_or("account") {
        "account" => Scope::Account,
        "inbox" => Scope::Inbox,
        "agent" => Scope::Agent,
        "team" => Scope::Team,
        "label" => {
            return Err(ApiError::Unprocessable(
                "type label is not supported: this server keeps no label records".into(),
            ))
        }
        other => {
            return Err(ApiError::Unprocessable(format!(
                "type {other:?} is not one of account, agent, inbox, team"
            )))
        }
    };
    let id = match scope {
        Scope::Account => None,
        _ => {
            let id = params
                .get("id")
                .and_then(|raw| raw.parse::<i64>().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    ApiError::Unprocessable("id must be a positive integer for this type".into())
                })?;
            if !reports::scope_exists(&state.pool, caller.account_id, scope, id).await? {
                return Err(ApiError::NotFound);
            }
            Some(id)
        }
    };
    let since = unix(params, "since")?;
    let until = unix(params, "until")?;
    let offset_hours = match params.get("timezone_offset") {
        None => 0.0,
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|h| (-12.0..=14.0).contains(h))
            .ok_or_else(|| {
                ApiError::Unprocessable(
                    "timezone_offset must be a number of hours from -12 to 14".into(),
                )
            })?,
    };
    Ok(Query {
        account_id: caller.account_id,
        scope,
        id,
        since,
        until,
        offset_seconds: (offset_hours * 3600.0).round(),
    })
}

/// The earliest instant a range may name (0001-01-01T00:00:00Z) and the
/// latest (9999-12-31T23:59:59Z), both well inside what Postgres stores.
const EARLIEST: i64 = -62_135_596_800;
const LATEST: i64 = 253_402_300_799;

/// A required Unix-seconds parameter.
fn unix(params: &Params, key: &str) -> Result<DateTime<Utc>, ApiError> {
    params
        .get(key)
        .and_then(|raw| raw.parse::<i64>().ok())
        .filter(|s| (EARLIEST..=LATEST).contains(s))
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(|| ApiError::Unprocessable(format!("{key} must be a Unix timestamp")))
}
