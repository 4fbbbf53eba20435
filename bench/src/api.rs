//! The front door as the benchmark drives it: a client that sends what
//! Chatwoot clients send, and the setup of the accounts it works on.

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::{json, Value};

/// A client of the front door.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base_url: String,
}

impl Api {
    /// A client with a connection pool large enough for the load.
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Api {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends a request; `wait` false opts out of read-your-writes. Returns
    /// the status and the JSON body (`Null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        wait: bool,
    ) -> anyhow::Result<(u16, Value)> {
        let (status, bytes) = self.fetch(method, path, token, body, wait).await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Like [`Api::call`], but the body is left as it came: the load runs
    /// only look at the status, and parsing every answer into a `Value`
    /// took half of this box's CPU from the system measured (run 18).
    pub async fn fetch(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        wait: bool,
    ) -> anyhow::Result<(u16, bytes::Bytes)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("api_access_token", token);
        if !wait {
            req = req.header("X-Read-Your-Writes", "off");
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.bytes().await?))
    }

    /// A write that must succeed; its answer.
    pub async fn must(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
        wait: bool,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path, token, Some(&body), wait).await?;
        if status != 200 {
            bail!("{path} answered {status}: {answer}");
        }
        Ok(answer)
    }
}

/// An account set up for the benchmark.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its id.
    pub id: i64,
    /// An administrator's token.
    pub admin: String,
    /// Member user ids (administrator, agent), assignees for the writes.
    pub members: [i64; 2],
    /// An API inbox both members work.
    pub inbox_id: i64,
}

impl Account {
    /// `/api/v1/accounts/<id><rest>`.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/accounts/{}{rest}", self.id)
    }
}

/// Creates an account, an administrator and an agent, and an API inbox both
/// are members of.
pub async fn account(api: &Api, platform: &str, name: &str) -> anyhow::Result<Account> {
    let account = api
        .must(
            Method::POST,
            "/platform/api/v1/accounts",
            platform,
            json!({"name": name}),
            true,
        )
        .await
        .context("creating the account")?;
    let id = account["id"].as_i64().context("account id")?;
    let mut members = [0; 2];
    let mut admin = String::new();
    for (i, role) in ["administrator", "agent"].iter().enumerate() {
        let email = format!("{role}-{id}-{}@bench.test", rand::random::<u32>());
        let user = api
            .must(
                Method::POST,
                "/platform/api/v1/users",
                platform,
                json!({"name": format!("Bench {role}"), "email": email, "password": "Password1!"}),
                true,
            )
            .await?;
        members[i] = user["id"].as_i64().context("user id")?;
        if i == 0 {
            admin = user["access_token"].as_str().context("token")?.to_owned();
        }
        api.must(
            Method::POST,
            &format!("/platform/api/v1/accounts/{id}/account_users"),
            platform,
            json!({"user_id": members[i], "role": role}),
            true,
        )
        .await?;
    }
    let path = |rest: &str| format!("/api/v1/accounts/{id}{rest}");
    let inbox = api
        .must(
            Method::POST,
            &path("/inboxes"),
            &admin,
            json!({"name": "Bench API", "channel": {"type": "api"}}),
            true,
        )
        .await?;
    let inbox_id = inbox["id"].as_i64().context("inbox id")?;
    api.must(
        Method::POST,
        &path("/inbox_members"),
        &admin,
        json!({"inbox_id": inbox_id, "user_ids": members}),
        true,
    )
    .await?;
    Ok(Account {
        id,
        admin,
        members,
        inbox_id,
    })
}

/// Opens a conversation with a new contact; returns its display id.
pub async fn conversation(api: &Api, a: &Account, n: u64, wait: bool) -> anyhow::Result<i64> {
    let contact = api
        .must(
            Method::POST,
            &a.path("/contacts"),
            &a.admin,
            json!({"name": format!("Customer {n}"), "email": format!("c{n}-{}@bench.test", a.id)}),
            wait,
        )
        .await?;
    let contact_id = contact["payload"]["contact"]["id"].clone();
    let conversation = api
        .must(
            Method::POST,
            &a.path("/conversations"),
            &a.admin,
            json!({"contact_id": contact_id, "inbox_id": a.inbox_id}),
            wait,
        )
        .await?;
    conversation["id"].as_i64().context("display id")
}
