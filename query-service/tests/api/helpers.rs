//! `TestApp`: a fresh database with the read model, the query service
//! running on it, and helpers that seed read-model rows.

use std::sync::atomic::{AtomicI64, Ordering};

use domain::inbox::{Channel, InboxSettings, WorkingHour};
use infra::settings::Secret;
use infra::tokens::{self, OwnerType};
use infra::Settings;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const READ_MODEL_SQL: &str = include_str!("../../../projections/sql/read_model.sql");

pub struct TestApp {
    pub address: String,
    /// A read-write pool for seeding (the service's own pool is read-only).
    pub pool: PgPool,
    pub secret: Secret,
    pub client: reqwest::Client,
    next_id: AtomicI64,
    db: String,
}

/// The database goes with the test, on a thread of its own: `Drop` runs
/// inside the test's runtime, which is blocked meanwhile, so nothing here
/// may wait for the test's tasks (closing the pool would wait for the
/// connections they hold; `drop database ... with (force)` ends them).
impl Drop for TestApp {
    fn drop(&mut self) {
        let db = self.db.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(ADMIN_URL).await.ok()?;
                admin
                    .execute(format!(r#"drop database if exists "{db}" with (force)"#).as_str())
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// An account with an administrator and an agent.
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

/// A conversation to seed; `minutes_ago` orders them by last activity.
pub struct Conv {
    pub account_id: i64,
    pub inbox_id: i64,
    pub contact_id: i64,
    pub status: &'static str,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub minutes_ago: i64,
}

impl Conv {
    pub fn new(account_id: i64, inbox_id: i64, contact_id: i64) -> Self {
        Conv {
            account_id,
            inbox_id,
            contact_id,
            status: "open",
            assignee_id: None,
            team_id: None,
            minutes_ago: 0,
        }
    }
    pub fn status(mut self, status: &'static str) -> Self {
        self.status = status;
        self
    }
    pub fn assignee(mut self, user_id: i64) -> Self {
        self.assignee_id = Some(user_id);
        self
    }
    pub fn team(mut self, team_id: i64) -> Self {
        self.team_id = Some(team_id);
        self
    }
    pub fn minutes_ago(mut self, minutes: i64) -> Self {
        self.minutes_ago = minutes;
        self
    }
}

fn settings_json(name: &str) -> Value {
    let hours: Vec<WorkingHour> = (0..7)
        .map(|day| WorkingHour {
            day_of_week: day,
            closed_all_day: false,
            open_hour: Some(9),
            open_minutes: Some(0),
            close_hour: Some(17),
            close_minutes: Some(0),
            open_all_day: false,
        })
        .collect();
    serde_json::to_value(InboxSettings {
        name: name.to_owned(),
        greeting_enabled: false,
        greeting_message: None,
        enable_auto_assignment: true,
        working_hours_enabled: false,
        out_of_office_message: None,
        timezone: "UTC".into(),
        working_hours: hours,
    })
    .unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let db = format!("qs_{tag}");
        let mut admin = PgConnection::connect(ADMIN_URL)
            .await
            .expect("postgres is reachable");
        admin
            .execute(format!(r#"create database "{db}""#).as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();

        let mut settings = Settings::from_env(0).unwrap();
        settings.blob_backend = infra::settings::BlobBackend::Local(
            std::env::temp_dir().join(format!("qs-blobs-{}", uuid::Uuid::new_v4().simple())),
        );
        settings.database_url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db}"));
        // The service reads as the deployment's read-only role.
        settings.query_database_url =
            Secret::new(format!("postgres://chatwoot_reader@127.0.0.1:5432/{db}"));
        settings.host = "127.0.0.1".into();
        settings.port = 0;
        settings.database_pool_size = 4;
        settings.token_secret = Secret::new(tag);
        let pool = infra::db::connect(&settings).await.unwrap();
        infra::db::migrate(&pool).await.unwrap();
        // As projections::schema creates it: the tables, and read access
        // for the reader role (created by the migrations).
        sqlx::raw_sql(&format!(
            "create schema read_model; set search_path to read_model; {READ_MODEL_SQL}; reset search_path; \
             grant usage on schema read_model to chatwoot_reader; \
             grant select on all tables in schema read_model to chatwoot_reader;"
        ))
        .execute(&pool)
        .await
        .unwrap();

        let secret = settings.token_secret.clone();
        let app = query_service::Application::build(settings).await.unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run());
        TestApp {
            address,
            pool,
            secret,
            client: reqwest::Client::new(),
            next_id: AtomicI64::new(1),
            db,
        }
    }

    fn id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// GET with an optional `api_access_token`: `(status, JSON body)`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut headers = HeaderMap::new();
        if let Some(t) = token {
            headers.insert("api_access_token", t.parse().unwrap());
        }
        self.get_with(path, headers).await
    }

    /// Asserts that each path answers `token` with Chatwoot's 404 body.
    pub async fn assert_not_found(&self, paths: impl IntoIterator<Item = String>, token: &str) {
        for path in paths {
            let (status, body) = self.get(&path, Some(token)).await;
            assert_eq!(
                (status, body),
                (404, json!({"error": "Resource could not be found"})),
                "{path}"
            );
        }
    }

    pub async fn get_with(&self, path: &str, headers: HeaderMap) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.address))
            .headers(headers)
            .send()
            .await
            .unwrap();
        read(res).await
    }

    async fn token(&self, owner: OwnerType, id: i64) -> String {
        let token = tokens::derive(&self.secret, owner, id);
        sqlx::query(
            "insert into read_model.access_tokens (token_hash, owner_type, owner_id) values ($1, $2, $3)",
        )
        .bind(tokens::hash(&token))
        .bind(owner.as_str())
        .bind(id)
        .execute(&self.pool)
        .await
        .unwrap();
        token
    }

    pub async fn platform_app(&self) -> (i64, String) {
        let id = self.id();
        (id, self.token(OwnerType::PlatformApp, id).await)
    }

    pub async fn agent_bot(&self) -> String {
        let id = self.id();
        self.token(OwnerType::AgentBot, id).await
    }

    pub async fn account(&self, name: &str) -> i64 {
        let id = self.id();
        sqlx::query(
            "insert into read_model.accounts (id, name, locale, created_at, updated_at) \
             values ($1, $2, 'en', now(), now())",
        )
        .bind(id)
        .bind(name)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn user(&self, name: &str) -> (i64, String) {
        let id = self.id();
        sqlx::query(
            "insert into read_model.users (id, name, email, created_at, updated_at) \
             values ($1, $2, $3, now(), now())",
        )
        .bind(id)
        .bind(name)
        .bind(format!("user{id}@example.com"))
        .execute(&self.pool)
        .await
        .unwrap();
        (id, self.token(OwnerType::User, id).await)
    }

    pub async fn member(&self, account_id: i64, user_id: i64, role: &str) -> i64 {
        let id = self.id();
        sqlx::query(
            "insert into read_model.account_users \
             (id, account_id, user_id, role, created_at, updated_at) \
             values ($1, $2, $3, $4, now(), now())",
        )
        .bind(id)
        .bind(account_id)
        .bind(user_id)
        .bind(role)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn grant(&self, app_id: i64, kind: &str, target_id: i64) {
        sqlx::query(
            "insert into read_model.platform_app_permissibles (app_id, target_kind, target_id) \
             values ($1, $2, $3)",
        )
        .bind(app_id)
        .bind(kind)
        .bind(target_id)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// An account with an administrator and an agent.
    pub async fn with_account(&self) -> Seeded {
        let account_id = self.account("Acme").await;
        let (admin_id, admin) = self.user("Ada Admin").await;
        let (agent_id, agent) = self.user("Al Agent").await;
        self.member(account_id, admin_id, "administrator").await;
        self.member(account_id, agent_id, "agent").await;
        Seeded {
            account_id,
            admin_id,
            admin,
            agent_id,
            agent,
        }
    }

    async fn inbox(&self, account_id: i64, name: &str, channel: Channel) -> i64 {
        let id = self.id();
        sqlx::query(
            "insert into read_model.inboxes \
             (id, account_id, channel_id, channel_type, name, channel, settings, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, now(), now())",
        )
        .bind(id)
        .bind(account_id)
        .bind(id + 1000)
        .bind(channel.channel_type())
        .bind(name)
        .bind(serde_json::to_value(&channel).unwrap())
        .bind(settings_json(name))
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn api_inbox(&self, account_id: i64, name: &str) -> i64 {
        let channel = Channel::Api {
            webhook_url: Some("https://hooks.example.com/in".into()),
            hmac_token: "api-hmac".into(),
        };
        self.inbox(account_id, name, channel).await
    }

    pub async fn widget_inbox(&self, account_id: i64, name: &str) -> i64 {
        let channel = Channel::WebWidget {
            website_url: "test.com".into(),
            widget_color: "#009CE0".into(),
            welcome_title: Some("Hi".into()),
            welcome_tagline: None,
            reply_time: "in_a_few_minutes".into(),
            website_token: format!("wtoken{account_id}"),
            hmac_token: "widget-hmac".into(),
        };
        self.inbox(account_id, name, channel).await
    }

    pub async fn inbox_member(&self, account_id: i64, inbox_id: i64, user_id: i64) {
        sqlx::query(
            "insert into read_model.inbox_members (inbox_id, user_id, account_id) values ($1, $2, $3)",
        )
        .bind(inbox_id)
        .bind(user_id)
        .bind(account_id)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    pub async fn contact(
        &self,
        account_id: i64,
        name: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> i64 {
        let id = self.id();
        sqlx::query(
            "insert into read_model.contacts \
             (id, account_id, name, email, phone_number, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, now(), now())",
        )
        .bind(id)
        .bind(account_id)
        .bind(name)
        .bind(email)
        .bind(phone)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn contact_inbox(
        &self,
        account_id: i64,
        contact_id: i64,
        inbox_id: i64,
        source_id: &str,
    ) -> i64 {
        let id = self.id();
        sqlx::query(
            "insert into read_model.contact_inboxes \
             (id, account_id, contact_id, inbox_id, source_id, created_at) \
             values ($1, $2, $3, $4, $5, now())",
        )
        .bind(id)
        .bind(account_id)
        .bind(contact_id)
        .bind(inbox_id)
        .bind(source_id)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    /// A team of the account that allows auto-assignment.
    pub async fn team(&self, account_id: i64, id: i64, name: &str) {
        sqlx::query(
            "insert into read_model.teams (id, account_id, name, allow_auto_assign, created_at, updated_at) \
             values ($1, $2, $3, true, now(), now())",
        )
        .bind(id)
        .bind(account_id)
        .bind(name)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// Seeds a conversation the way the projection would: the row, the
    /// counter, and the contact's conversation count. Returns the display id.
    pub async fn conversation(&self, c: Conv) -> i64 {
        let id = self.id();
        let display_id: i64 = sqlx::query_scalar(
            "select coalesce(max(display_id), 0) + 1 from read_model.conversations where account_id = $1",
        )
        .bind(c.account_id)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into read_model.conversations \
             (id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, \
              assignee_id, team_id, last_activity_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 0, $6, $7, $8, \
                     now() - make_interval(mins => $9::int), now() - interval '1 day', now())",
        )
        .bind(id)
        .bind(c.account_id)
        .bind(display_id)
        .bind(c.inbox_id)
        .bind(c.contact_id)
        .bind(c.status)
        .bind(c.assignee_id)
        .bind(c.team_id)
        .bind(c.minutes_ago as i32)
        .execute(&self.pool)
        .await
        .unwrap();
        self.add_count(
            c.account_id,
            c.inbox_id,
            c.status,
            c.assignee_id.unwrap_or(0),
            c.team_id.unwrap_or(0),
            1,
        )
        .await;
        sqlx::query(
            "update read_model.contacts set conversations_count = conversations_count + 1 where id = $1",
        )
        .bind(c.contact_id)
        .execute(&self.pool)
        .await
        .unwrap();
        display_id
    }

    /// Seeds `n` open conversations in one statement, with their counter;
    /// their activity times are tied in pairs (minutes ago: 0, 0, 1, 1, …),
    /// so that within a pair the id decides the list's order.
    pub async fn open_conversations(
        &self,
        account_id: i64,
        inbox_id: i64,
        contact_id: i64,
        n: i64,
    ) {
        let first = self.next_id.fetch_add(n, Ordering::Relaxed);
        sqlx::query(
            "insert into read_model.conversations \
             (id, account_id, display_id, inbox_id, contact_id, contact_inbox_id, status, \
              last_activity_at, created_at, updated_at) \
             select $1 + k, $2, \
               (select coalesce(max(display_id), 0) from read_model.conversations \
                where account_id = $2) + 1 + k, \
               $3, $4, 0, 'open', now() - make_interval(mins => (k / 2)::int), \
               now() - interval '1 day', now() \
             from generate_series(0, $5 - 1) as k",
        )
        .bind(first)
        .bind(account_id)
        .bind(inbox_id)
        .bind(contact_id)
        .bind(n)
        .execute(&self.pool)
        .await
        .unwrap();
        self.add_count(account_id, inbox_id, "open", 0, 0, n).await;
    }

    /// Stamps the account's read model with `generation`, as the projection
    /// does in each batch that changes it.
    pub async fn stamp_generation(&self, account_id: i64, generation: i64) {
        sqlx::query(
            "insert into read_model.account_generations (account_id, generation) values ($1, $2) \
             on conflict (account_id) do update set generation = excluded.generation",
        )
        .bind(account_id)
        .bind(generation)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// Adds `n` to a counter row of `read_model.conversation_counts`.
    pub async fn add_count(
        &self,
        account_id: i64,
        inbox_id: i64,
        status: &str,
        assignee_id: i64,
        team_id: i64,
        n: i64,
    ) {
        sqlx::query(
            "insert into read_model.conversation_counts \
             (account_id, inbox_id, status, assignee_id, team_id, n) values ($1, $2, $3, $4, $5, $6) \
             on conflict (account_id, inbox_id, status, assignee_id, team_id) \
             do update set n = read_model.conversation_counts.n + excluded.n",
        )
        .bind(account_id)
        .bind(inbox_id)
        .bind(status)
        .bind(assignee_id)
        .bind(team_id)
        .bind(n)
        .execute(&self.pool)
        .await
        .unwrap();
    }
}

pub async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
    (status, body)
}
