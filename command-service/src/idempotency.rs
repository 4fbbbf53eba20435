//! `Idempotency-Key`: a retried write answers what the first attempt
//! answered and writes nothing new.
//!
//! A client that sends a write (POST, PUT, PATCH, DELETE) with an
//! `Idempotency-Key` header claims that key for its token. The claim is a row
//! of `write_model.idempotency_keys`, keyed by the token's hash and the key,
//! holding a fingerprint of the request (method, path and query, body):
//!
//! - **First request**: the row is inserted as pending and the request runs.
//!   If it appends events, the row is marked committed in the same
//!   transaction ([`crate::event_store::EventStore::execute`]), so "the write
//!   happened" and "the key was used" cannot disagree. The answer (status
//!   and body) is then stored on the row. A 5xx answer of a request that
//!   committed nothing drops the claim, so a retry runs afresh.
//! - **Retry, same request**: the stored answer is sent again, with
//!   `Idempotent-Replayed: true`; nothing runs.
//! - **Same key, another request**: 422.
//! - **Same key while the first is still running**: 409; the client retries
//!   later. A claim left pending by a process that died before committing
//!   (older than [`STALE_AFTER`]) is taken over; one that committed but died
//!   before storing its answer keeps answering 409 until it expires, since
//!   its answer cannot be known and running it again would write twice.
//!
//! Keys are kept for [`RETENTION`] (a background task deletes older ones),
//! long enough for any client's retries.

use std::time::Duration;

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::AppState;

/// The request header that carries the key.
pub const HEADER: &str = "idempotency-key";
/// The response header that marks a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// How long a key is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// A pending claim older than this that committed nothing belongs to a
/// request that died; a retry may take it over.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// How often expired keys are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

/// A claimed key, carried from the middleware to the command's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// SHA-256 (hex) of the caller's token.
    pub principal: String,
    /// The client's key.
    pub key: String,
}

impl Claim {
    /// Marks the claim committed, inside the transaction that appends the
    /// command's events.
    pub async fn mark_committed(&self, conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "update write_model.idempotency_keys set committed = true \
             where principal = $1 and key = $2",
        )
        .bind(&self.principal)
        .bind(&self.key)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// What the table says about a claimed key.
#[derive(sqlx::FromRow)]
struct Row {
    request_hash: String,
    status: Option<i16>,
    body: Option<Value>,
    committed: bool,
    stale: bool,
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = req
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_owned));
    let (Some(key), true) = (key, writes) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match key {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => k,
        _ => {
            return Ok(req.into_response(error(
                StatusCode::BAD_REQUEST,
                &format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )))
        }
    };
    // Without a token the request fails authentication anyway; no claim.
    let Some(token) = crate::auth::token(req.request()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let claim = Claim {
        principal: infra::tokens::hash(&token),
        key,
    };

    // The body is part of the fingerprint: read it, then hand it back.
    let body = match read_body(&mut req, state.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(res) => return Ok(req.into_response(res)),
    };
    let fingerprint = fingerprint(&req, &body);
    req.set_payload(Payload::from(body));

    match claim_key(&state.pool, &claim, &fingerprint).await {
        Ok(None) => {}
        Ok(Some(answer)) => return Ok(req.into_response(answer)),
        Err(e) => {
            tracing::error!(error = %e, "idempotency claim failed");
            return Ok(req.into_response(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The write could not be started; retry it",
            )));
        }
    }

    req.extensions_mut().insert(claim.clone());
    let res = next.call(req).await?;
    let (http_req, res) = res.into_parts();
    let status = res.status();
    let (head, body) = res.into_parts();
    let bytes = to_bytes(body).await.unwrap_or_default();
    if let Err(e) = settle(&state.pool, &claim, status, &bytes).await {
        tracing::error!(error = %e, key = %claim.key, "storing the idempotent answer failed");
    }
    let res = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, res))
}

/// Inserts the claim, or decides what an existing one answers: `None`
/// means "run the request".
async fn claim_key(
    pool: &PgPool,
    claim: &Claim,
    fingerprint: &str,
) -> Result<Option<HttpResponse>, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into write_model.idempotency_keys (principal, key, request_hash) \
         values ($1, $2, $3) on conflict do nothing",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .bind(fingerprint)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let row: Option<Row> = sqlx::query_as(
        "select request_hash, status, body, committed, \
                created_at < now() - make_interval(secs => $3) as stale \
         from write_model.idempotency_keys where principal = $1 and key = $2",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .bind(STALE_AFTER.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        // Expired and swept between the two statements: claim it afresh.
        return Box::pin(claim_key(pool, claim, fingerprint)).await;
    };
    if row.request_hash != fingerprint {
        return Ok(Some(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "This Idempotency-Key was already used with a different request",
        )));
    }
    if let (Some(status), Some(body)) = (row.status, row.body) {
        let status = u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let mut res = HttpResponse::build(status);
        res.insert_header((REPLAYED_HEADER, "true"));
        return Ok(Some(match body {
            Value::Null => res.finish(),
            body => res.json(body),
        }));
    }
    if row.stale && !row.committed {
        let taken = sqlx::query(
            "update write_model.idempotency_keys set created_at = now() \
             where principal = $1 and key = $2 and status is null and not committed \
               and created_at < now() - make_interval(secs => $3)",
        )
        .bind(&claim.principal)
        .bind(&claim.key)
        .bind(STALE_AFTER.as_secs_f64())
        .execute(pool)
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(None);
        }
    }
    Ok(Some(error(
        StatusCode::CONFLICT,
        "A request with this Idempotency-Key is still in progress; retry it later",
    )))
}

/// Stores the answer, or drops a claim whose request failed without writing.
async fn settle(
    pool: &PgPool,
    claim: &Claim,
    status: StatusCode,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    if status.is_server_error() {
        sqlx::query(
            "delete from write_model.idempotency_keys \
             where principal = $1 and key = $2 and not committed",
        )
        .bind(&claim.principal)
        .bind(&claim.key)
        .execute(pool)
        .await?;
        return Ok(());
    }
    // Every answer here is JSON or empty; anything else is kept as a string.
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    sqlx::query(
        "update write_model.idempotency_keys set status = $3, body = $4 \
         where principal = $1 and key = $2",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .bind(i16::try_from(status.as_u16()).unwrap_or(i16::MAX))
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes keys older than [`RETENTION`]; returns how many.
pub async fn sweep(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "delete from write_model.idempotency_keys \
         where created_at < now() - make_interval(secs => $1)",
    )
    .bind(RETENTION.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}

/// Sweeps expired keys every [`SWEEP_EVERY`], for as long as it is polled.
pub async fn sweep_forever(pool: PgPool) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        match sweep(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys swept"),
            Err(e) => tracing::warn!(error = %e, "sweeping idempotency keys failed"),
        }
    }
}

async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<web::Bytes, HttpResponse> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("The request body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update(b" ");
    hash.update(req.uri().to_string());
    hash.update(b"\n");
    hash.update(
        req.headers()
            .get(CONTENT_TYPE)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default(),
    );
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message }))
}
