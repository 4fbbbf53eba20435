//! Per-token rate limits: a client past its quota gets a 429 with
//! `Retry-After`, and nothing runs.
//!
//! Each process keeps its own buckets (GCRA, the `governor` crate), keyed by
//! the SHA-256 of the caller's token, or by the client's address when it sent
//! none. The quota is `RATE_LIMIT_PER_SECOND` sustained with bursts of
//! `RATE_LIMIT_BURST`; 0 turns the limit off. `/health` and `/ready` are
//! never limited. Buckets of idle clients are dropped now and then, so
//! memory follows the number of active tokens.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::RETRY_AFTER;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::json;

use crate::Settings;

/// How often idle buckets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// A process's rate limiter; `off` when the quota is 0.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Option<Arc<Keyed>>,
}

impl RateLimit {
    /// The limiter the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(settings.rate_limit_per_second, settings.rate_limit_burst)
    }

    /// `per_second` sustained, bursts of `burst` (at least `per_second`);
    /// 0 per second turns it off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        RateLimit { limiter }
    }

    /// Drops idle buckets every minute, for as long as it is polled.
    pub async fn sweep_forever(self) {
        let Some(limiter) = self.limiter else { return };
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// `Err(wait)` when `key` is over its quota.
    fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Who a request counts against.
fn key(req: &ServiceRequest) -> String {
    let headers = req.headers();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token = headers
        .get("api_access_token")
        .and_then(|v| v.to_str().ok())
        .or(bearer)
        .filter(|t| !t.is_empty());
    match token {
        Some(t) => format!("token:{}", crate::tokens::hash(t)),
        None => format!(
            "addr:{}",
            req.connection_info().realip_remote_addr().unwrap_or("-")
        ),
    }
}

/// The middleware (`actix_web::middleware::from_fn`); the limiter comes
/// from the app's `web::Data<RateLimit>`, and without one nothing is limited.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let exempt = matches!(req.path(), "/health" | "/ready");
    if let (false, Some(limit)) = (exempt, req.app_data::<web::Data<RateLimit>>()) {
        if let Err(wait) = limit.check(&key(&req)) {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let seconds = seconds.max(1);
            let res = HttpResponse::TooManyRequests()
                .insert_header((RETRY_AFTER, seconds.to_string()))
                .json(json!({
                    "error": format!("Too many requests; retry after {seconds} seconds")
                }));
            return Ok(req.into_response(res));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_past_its_burst_is_refused_and_others_are_not() {
        let limit = RateLimit::new(1, 3);
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        let wait = limit.check("a").expect_err("the fourth at once is over");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(limit.check("b").is_ok(), "buckets are per key");
    }

    #[actix_web::test]
    async fn over_the_quota_is_a_429_with_retry_after_per_token() {
        use actix_web::{test, App};

        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(middleware))
                .app_data(web::Data::new(RateLimit::new(1, 2)))
                .route("/health", web::get().to(HttpResponse::Ok))
                .route("/x", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let get = |token: &'static str| {
            test::TestRequest::get()
                .uri("/x")
                .insert_header(("api_access_token", token))
                .to_request()
        };
        for _ in 0..2 {
            assert_eq!(test::call_service(&app, get("t1")).await.status(), 200);
        }
        let refused = test::call_service(&app, get("t1")).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(
            refused
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let body: serde_json::Value = test::read_body_json(refused).await;
        assert!(body["error"]
            .as_str()
            .is_some_and(|e| e.contains("Too many requests")));
        assert_eq!(
            test::call_service(&app, get("t2")).await.status(),
            200,
            "another token"
        );
        let health = test::TestRequest::get().uri("/health").to_request();
        assert_eq!(
            test::call_service(&app, health).await.status(),
            200,
            "never limited"
        );
    }

    #[test]
    fn zero_turns_it_off() {
        let limit = RateLimit::new(0, 0);
        for _ in 0..10_000 {
            assert!(limit.check("a").is_ok());
        }
    }
}
