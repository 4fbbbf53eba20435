//! `TestApp`: the whole write path in one test process — the command
//! service's HTTP server, the relay, a projection worker and the query
//! service — on a fresh database and a NATS stream of its own.

use std::time::Duration;

use command_service::event_store::EventStore;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::helpers::TestEnv;

pub struct TestApp {
    pub env: TestEnv,
    pub command_url: String,
    pub query_url: String,
    pub platform_token: String,
    pub client: reqwest::Client,
    stop: watch::Sender<bool>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn stopped(rx: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl TestApp {
    /// Everything running, read-your-writes on.
    pub async fn spawn() -> Self {
        Self::spawn_with(true, Duration::from_secs(10)).await
    }

    /// `projections`: whether a projection worker runs (without one, writes
    /// can never become visible and answer after `timeout`).
    pub async fn spawn_with(projections: bool, timeout: Duration) -> Self {
        let mut env = TestEnv::new().await;
        env.settings.read_your_writes_timeout = timeout;
        projections::schema::ensure(&env.pool).await.unwrap();
        let (stop, rx) = watch::channel(false);

        let js = infra::nats::connect(&env.settings).await.unwrap();
        infra::nats::ensure_stream(&js, &env.settings)
            .await
            .unwrap();
        tokio::spawn(command_service::relay::run(
            env.settings.clone(),
            env.pool.clone(),
            js,
            stopped(&rx),
        ));
        if projections {
            tokio::spawn(projections::worker::run(
                env.settings.clone(),
                env.pool.clone(),
                stopped(&rx),
            ));
        }

        let app =
            command_service::Application::build_with_pool(env.settings.clone(), env.pool.clone())
                .await
                .unwrap();
        let command_url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run());
        let query =
            query_service::Application::build_with_pool(env.settings.clone(), env.pool.clone())
                .await
                .unwrap();
        let query_url = format!("http://127.0.0.1:{}", query.port());
        tokio::spawn(query.run());

        let store = EventStore::new(env.pool.clone());
        let (_, platform_token) = command_service::admin::create_platform_app(
            &store,
            &env.settings.token_secret,
            "tests",
        )
        .await
        .unwrap();
        if projections {
            // The token works on the query side once the worker applied it.
            let hash = infra::tokens::hash(&platform_token);
            crate::helpers::eventually(
                "the platform token in the read model",
                Duration::from_secs(30),
                || async {
                    sqlx::query_scalar::<_, i64>(
                        "select count(*) from read_model.access_tokens where token_hash = $1",
                    )
                    .bind(&hash)
                    .fetch_one(&env.pool)
                    .await
                    .is_ok_and(|n| n == 1)
                },
            )
            .await;
        }
        TestApp {
            env,
            command_url,
            query_url,
            platform_token,
            client: reqwest::Client::new(),
            stop,
        }
    }

    /// Sends a request: GETs to the query service (but SSO login links), the
    /// rest to the command service.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        // As the front door: issuing an SSO link is the one GET that writes.
        let base = if method == Method::GET && !path.ends_with("/login") {
            &self.query_url
        } else {
            &self.command_url
        };
        let mut req = self.client.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            req = req.header("api_access_token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let res = self.call(method, path, token, body).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from event_store.events")
            .fetch_one(&self.env.pool)
            .await
            .unwrap()
    }

    /// An account, an administrator and an agent: `(account id, admin token, agent token)`.
    pub async fn with_account(&self) -> Seeded {
        let p = Some(self.platform_token.as_str());
        let (s, account) = self
            .json(
                Method::POST,
                "/platform/api/v1/accounts",
                p,
                Some(json!({"name": "Acme"})),
            )
            .await;
        assert_eq!(s, 200, "{account}");
        let account_id = account["id"].as_i64().unwrap();
        let mut tokens = Vec::new();
        for (name, role) in [("Ada Admin", "administrator"), ("Al Agent", "agent")] {
            let email = format!(
                "{}-{}@example.com",
                name.replace(' ', ".").to_lowercase(),
                uuid::Uuid::new_v4().simple()
            );
            let (s, user) = self
                .json(
                    Method::POST,
                    "/platform/api/v1/users",
                    p,
                    Some(json!({"name": name, "email": email, "password": "Secret123!"})),
                )
                .await;
            assert_eq!(s, 200, "{user}");
            let user_id = user["id"].as_i64().unwrap();
            let (s, au) = self
                .json(
                    Method::POST,
                    &format!("/platform/api/v1/accounts/{account_id}/account_users"),
                    p,
                    Some(json!({"user_id": user_id, "role": role})),
                )
                .await;
            assert_eq!(s, 200, "{au}");
            tokens.push((user_id, user["access_token"].as_str().unwrap().to_owned()));
        }
        Seeded {
            account_id,
            admin_id: tokens[0].0,
            admin: tokens[0].1.clone(),
            agent_id: tokens[1].0,
            agent: tokens[1].1.clone(),
        }
    }
}

pub struct Seeded {
    pub account_id: i64,
    pub admin_id: i64,
    pub admin: String,
    pub agent_id: i64,
    pub agent: String,
}

impl Seeded {
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/accounts/{}{rest}", self.account_id)
    }
}
