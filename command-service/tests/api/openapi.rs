//! Keeps `docs/openapi.yaml` true: every documented operation is routed,
//! every other method on a documented path is the unknown-route answer, every
//! route literal in the sources is documented, and each operation admits
//! exactly the callers its `x-auth` names (behaviour notes §1.1–1.3).
//!
//! Adding an operation to the document needs nothing here, unless it brings a
//! new path parameter name: then add one line to [`Fixture::param`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// An account id no test creates.
const UNKNOWN_ID: i64 = 2_000_000_000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The document, parsed.
pub fn document() -> Value {
    let text = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// A documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    pub path: String,
    /// `x-auth`: platform, administrator, agent, user, none, or credentials
    /// (the body carries them: every token alone gets 401).
    pub auth: String,
    /// `x-bots: allowed`.
    pub bots: bool,
}

/// Every operation, in an order that runs destructive ones last (deletes
/// after everything else, the platform's account delete at the very end).
pub fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let auth = op["x-auth"]
                .as_str()
                .unwrap_or_else(|| panic!("{m} {path} has no x-auth"))
                .to_owned();
            assert!(
                [
                    "platform",
                    "administrator",
                    "agent",
                    "user",
                    "none",
                    "credentials"
                ]
                .contains(&auth.as_str()),
                "{m} {path}: unknown x-auth {auth}"
            );
            ops.push(Op {
                method: Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                path: path.clone(),
                auth,
                bots: op["x-bots"].as_str() == Some("allowed"),
            });
        }
    }
    ops.sort_by_key(|op| {
        let delete = op.method == Method::DELETE;
        (
            delete,
            op.path.starts_with("/platform/"),
            delete && op.path == "/platform/api/v1/accounts/{account_id}",
            op.path.clone(),
        )
    });
    ops
}

/// Whether a concrete path is an instance of a template (`{x}` = one segment).
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}

/// Existing objects to put in paths.
pub struct Fixture {
    pub seeded: Seeded,
    pub other: Seeded,
    pub inbox_id: i64,
    pub contact_id: i64,
    pub display_id: i64,
    pub message_id: i64,
    pub team_id: i64,
    /// A user the platform app created for these tests (deleted by them).
    pub user_id: i64,
    /// A bot of the account (account API).
    pub agent_bot_id: i64,
    /// A bot the platform app created (platform API).
    pub platform_agent_bot_id: i64,
    /// A webhook of the account.
    pub hook_id: i64,
    /// The token of a bot connected to `inbox_id`.
    pub bot_token: String,
    /// An account webhook (`/webhooks`) of the account.
    pub webhook_id: i64,
}

impl Fixture {
    pub async fn new(app: &TestApp) -> Self {
        let seeded = app.with_account().await;
        let other = app.with_account().await;
        let admin = Some(seeded.admin.as_str());
        let (s, inbox) = app
            .json(
                Method::POST,
                &seeded.path("/inboxes"),
                admin,
                Some(json!({"name": "Support", "channel": {"type": "api"}})),
            )
            .await;
        assert_eq!(s, 200, "{inbox}");
        let inbox_id = inbox["id"].as_i64().unwrap();
        let (s, body) = app
            .json(
                Method::POST,
                &seeded.path("/inbox_members"),
                admin,
                Some(json!({"inbox_id": inbox_id, "user_ids": [seeded.agent_id]})),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let (s, contact) = app
            .json(
                Method::POST,
                &seeded.path("/contacts"),
                admin,
                Some(json!({"name": "Cleo", "inbox_id": inbox_id})),
            )
            .await;
        assert_eq!(s, 200, "{contact}");
        let contact_id = contact["payload"]["contact"]["id"].as_i64().unwrap();
        let (s, conversation) = app
            .json(
                Method::POST,
                &seeded.path("/conversations"),
                admin,
                Some(json!({"inbox_id": inbox_id, "contact_id": contact_id})),
            )
            .await;
        assert_eq!(s, 200, "{conversation}");
        let display_id = conversation["id"].as_i64().unwrap();
        let (s, message) = app
            .json(
                Method::POST,
                &seeded.path(&format!("/conversations/{display_id}/messages")),
                admin,
                Some(json!({"content": "hello"})),
            )
            .await;
        assert_eq!(s, 200, "{message}");
        let (s, team) = app
            .json(
                Method::POST,
                &seeded.path("/teams"),
                admin,
                Some(json!({"name": "Tier 1"})),
            )
            .await;
        assert_eq!(s, 200, "{team}");
        let (s, user) = app
            .json(
                Method::POST,
                "/platform/api/v1/users",
                Some(&app.platform_token),
                Some(json!({"name": "Vic", "email": format!("vic-{}@example.com", uuid::Uuid::new_v4().simple()), "password": "Secret123!"})),
            )
            .await;
        assert_eq!(s, 200, "{user}");
        let (s, bot) = app
            .json(
                Method::POST,
                &seeded.path("/agent_bots"),
                admin,
                Some(json!({"name": "Triage", "outgoing_url": "https://bot.example.com"})),
            )
            .await;
        assert_eq!(s, 200, "{bot}");
        let (s, platform_bot) = app
            .json(
                Method::POST,
                "/platform/api/v1/agent_bots",
                Some(&app.platform_token),
                Some(json!({"name": "Global helper"})),
            )
            .await;
        assert_eq!(s, 200, "{platform_bot}");
        // The agent-bot caller: a bot of its own (the matrix deletes
        // `agent_bot_id`), connected to the fixture's inbox.
        let (s, caller_bot) = app
            .json(
                Method::POST,
                &seeded.path("/agent_bots"),
                admin,
                Some(json!({"name": "Caller", "outgoing_url": "https://caller.example.com"})),
            )
            .await;
        assert_eq!(s, 200, "{caller_bot}");
        let (s, set) = app
            .json(
                Method::POST,
                &seeded.path(&format!("/inboxes/{inbox_id}/set_agent_bot")),
                admin,
                Some(json!({"agent_bot": caller_bot["id"]})),
            )
            .await;
        assert_eq!(s, 200, "{set}");
        let (s, hook) = app
            .json(
                Method::POST,
                &seeded.path("/integrations/hooks"),
                admin,
                Some(json!({"app_id": "webhook", "settings": {"url": "https://example.com/hook"}})),
            )
            .await;
        assert_eq!(s, 200, "{hook}");
        let (s, webhook) = app
            .json(
                Method::POST,
                &seeded.path("/webhooks"),
                admin,
                Some(json!({"url": "https://example.com/account-hook", "subscriptions": ["message_created"]})),
            )
            .await;
        assert_eq!(s, 200, "{webhook}");
        Fixture {
            webhook_id: webhook["payload"]["webhook"]["id"].as_i64().unwrap(),
            agent_bot_id: bot["id"].as_i64().unwrap(),
            platform_agent_bot_id: platform_bot["id"].as_i64().unwrap(),
            hook_id: hook["id"].as_i64().unwrap(),
            inbox_id,
            contact_id,
            display_id,
            message_id: message["id"].as_i64().unwrap(),
            bot_token: caller_bot["access_token"].as_str().unwrap().to_owned(),
            team_id: team["id"].as_i64().unwrap(),
            user_id: user["id"].as_i64().unwrap(),
            seeded,
            other,
        }
    }

    /// The value of a path parameter: one line per parameter name.
    fn param(&self, name: &str) -> String {
        let id = match name {
            "account_id" => self.seeded.account_id,
            "inbox_id" => self.inbox_id,
            "contact_id" => self.contact_id,
            "conversation_id" => self.display_id,
            "message_id" => self.message_id,
            "team_id" => self.team_id,
            "user_id" => self.user_id,
            "agent_bot_id" => self.agent_bot_id,
            "platform_agent_bot_id" => self.platform_agent_bot_id,
            "hook_id" => self.hook_id,
            "webhook_id" => self.webhook_id,
            "app_id" => return "webhook".to_owned(),
            // A blob URL that does not verify: the route answers 404.
            "signature" | "kind" | "blob_account" | "blob_id" | "file_name" => {
                return format!("not-a-{}", name.replace('_', "-"))
            }
            other => {
                panic!("no test data for path parameter {{{other}}}: add it to Fixture::param")
            }
        };
        id.to_string()
    }

    /// The template with every parameter replaced by an existing object
    /// (`account_id` by `account` when given).
    pub fn concrete(&self, template: &str, account: Option<i64>) -> String {
        template
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some("account_id") if account.is_some() => account.unwrap().to_string(),
                    Some(name) => self.param(name),
                    None => seg.to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// One answer, with what the tests look at.
#[derive(Debug)]
struct Answer {
    status: u16,
    unmatched: bool,
    body: Value,
}

async fn send(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> Answer {
    let body = (method != Method::GET).then(|| json!({}));
    let res = app.call(method, path, token, body).await;
    let status = res.status().as_u16();
    let unmatched = res
        .headers()
        .get(infra::http::ROUTE_HEADER.0)
        .is_some_and(|v| v == infra::http::ROUTE_HEADER.1);
    let text = res.text().await.unwrap();
    Answer {
        status,
        unmatched,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn is_error_body(body: &Value) -> bool {
    ["error", "errors", "message"]
        .iter()
        .any(|k| body.get(k).is_some())
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let doc = document();
    let ops = operations(&doc);
    let documented = |method: &str, concrete: &str| {
        ops.iter()
            .any(|op| op.method.as_str() == method && matches(&op.path, concrete))
    };
    let mut failures = Vec::new();
    // Undocumented methods first: documented deletes may remove the fixture.
    for path in doc["paths"].as_object().unwrap().keys() {
        let concrete = f.concrete(path, None);
        for m in METHODS {
            let method = m.to_uppercase();
            if documented(&method, &concrete) {
                continue;
            }
            let a = send(
                &app,
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                Some(&f.seeded.admin),
            )
            .await;
            if !(a.status == 404 && a.unmatched && is_error_body(&a.body)) {
                failures.push(format!(
                    "{method} {path}: not the unknown-route answer: {a:?}"
                ));
            }
        }
    }
    for op in &ops {
        let token = if op.auth == "platform" {
            &app.platform_token
        } else {
            &f.seeded.admin
        };
        let a = send(
            &app,
            op.method.clone(),
            &f.concrete(&op.path, None),
            Some(token),
        )
        .await;
        if a.unmatched || a.status == 405 || a.status >= 500 {
            failures.push(format!("{} {}: not routed: {a:?}", op.method, op.path));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_served_document_is_the_repository_document() {
    let app = TestApp::spawn_with(false, std::time::Duration::from_secs(1)).await;
    let res = app
        .call(Method::GET, "/api-docs/openapi.yaml", None, None)
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    let served: Value = serde_yaml::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(served, document());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.0"));
}

/// The string literal right after `at` (skipping whitespace), if any.
fn literal_after(src: &str, at: usize) -> Option<String> {
    let rest = src[at..].trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Route paths written in a source file, best effort: `web::scope("...")`
/// prefixes the relative `.route("...")` calls after it; `cfg.route`,
/// `web::resource` and query-service's `get("...")` are absolute.
fn route_literals(src: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut scope: Option<String> = None;
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        let next = [
            "web::scope(",
            "cfg.route(",
            ".route(",
            "web::resource(",
            "get(",
        ]
        .iter()
        .filter_map(|p| rest.find(p).map(|at| (at, *p)))
        .min_by_key(|(at, p)| (*at, std::cmp::Reverse(p.len())));
        let Some((at, pattern)) = next else { break };
        let start = i + at + pattern.len();
        // `get(` inside an identifier (`params.get(`, `b.0.get(`) is not a route.
        let is_word_get = pattern == "get("
            && src[..i + at].ends_with(|c: char| c.is_alphanumeric() || c == '.' || c == '_');
        if !is_word_get {
            if let Some(lit) = literal_after(src, start) {
                match pattern {
                    "web::scope(" => scope = Some(lit),
                    ".route(" => match &scope {
                        Some(prefix) if lit.is_empty() || lit.starts_with('/') => {
                            found.push(format!("{prefix}{lit}"))
                        }
                        None if lit.starts_with('/') => found.push(lit),
                        _ => {}
                    },
                    _ if lit.starts_with('/') => found.push(lit),
                    _ => {}
                }
            }
        }
        i = start;
    }
    found
}

/// `/a/{x}/b/` → `/a/{}/b`.
fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    trimmed
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn route_literals_are_read_with_their_scopes() {
    let src = r#"
        cfg.service(web::scope("/api/v1/x/{account_id}/things")
            .route("", web::post().to(create))
            .route("/{id}", web::put().to(update)));
        cfg.route("/api/v1/y/{id}/z", web::post().to(z));
        cfg.service(get("/api/v1/q", list)).service(get(
            "/api/v1/q/{id}", show));
        let v = params.get("status");
    "#;
    assert_eq!(
        route_literals(src),
        [
            "/api/v1/x/{account_id}/things",
            "/api/v1/x/{account_id}/things/{id}",
            "/api/v1/y/{id}/z",
            "/api/v1/q",
            "/api/v1/q/{id}"
        ]
    );
}

#[test]
fn every_route_in_the_sources_is_documented() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| normalize(p))
        .collect();
    let root = repo_root();
    let mut files = vec![
        root.join("command-service/src/lib.rs"),
        root.join("query-service/src/lib.rs"),
    ];
    for dir in ["command-service/src/routes", "query-service/src/routes"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        // Unit tests in the file are not routes.
        let src = src.split("#[cfg(test)]").next().unwrap();
        for lit in route_literals(src) {
            seen += 1;
            if !documented.contains(&normalize(&lit)) {
                missing.push(format!("{lit} ({})", file.display()));
            }
        }
    }
    assert!(
        seen > 30,
        "the scan found only {seen} routes: is it broken?"
    );
    assert!(
        missing.is_empty(),
        "routes missing from docs/openapi.yaml:\n{}",
        missing.join("\n")
    );
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    BadToken,
    Agent,
    Administrator,
    PlatformApp,
    /// An administrator of another account.
    OtherAccountUser,
    /// An agent bot connected to an inbox of the account: admitted exactly
    /// where the operation has `x-bots: allowed`.
    AgentBot,
}

const CALLERS: [Caller; 7] = [
    Caller::AgentBot,
    Caller::NoToken,
    Caller::BadToken,
    Caller::PlatformApp,
    Caller::OtherAccountUser,
    Caller::Agent,
    Caller::Administrator,
];

/// Whether `x-auth` admits the caller.
fn admitted(op: &Op, caller: Caller) -> bool {
    match (op.auth.as_str(), caller) {
        ("none", _) => true,
        ("credentials", _) => false,
        (_, Caller::AgentBot) => op.bots,
        ("platform", c) => c == Caller::PlatformApp,
        ("user", c) => matches!(
            c,
            Caller::Agent | Caller::Administrator | Caller::OtherAccountUser
        ),
        ("agent", c) => matches!(c, Caller::Agent | Caller::Administrator),
        ("administrator", c) => c == Caller::Administrator,
        (other, _) => panic!("unknown x-auth {other}"),
    }
}

fn token_of<'a>(app: &'a TestApp, f: &'a Fixture, caller: Caller) -> Option<&'a str> {
    match caller {
        Caller::NoToken => None,
        Caller::BadToken => Some("not-a-real-token"),
        Caller::Agent => Some(&f.seeded.agent),
        Caller::Administrator => Some(&f.seeded.admin),
        Caller::PlatformApp => Some(&app.platform_token),
        Caller::OtherAccountUser => Some(&f.other.admin),
        Caller::AgentBot => Some(&f.bot_token),
    }
}

#[tokio::test]
async fn case_17_each_operation_admits_exactly_the_callers_its_x_auth_names() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let ops = operations(&document());
    let mut failures = Vec::new();
    for op in &ops {
        // An unknown account is a 404 for a caller who may call the
        // operation (notes §1.1: the account is loaded before membership).
        if op.path.contains("{account_id}") {
            let caller = if op.auth == "platform" {
                Caller::PlatformApp
            } else {
                Caller::Administrator
            };
            let path = f.concrete(&op.path, Some(UNKNOWN_ID));
            let a = send(&app, op.method.clone(), &path, token_of(&app, &f, caller)).await;
            if a.status != 404 || a.unmatched || !is_error_body(&a.body) {
                failures.push(format!(
                    "{} {} with an unknown account as {caller:?}: want 404, got {a:?}",
                    op.method, op.path
                ));
            }
        }
        let path = f.concrete(&op.path, None);
        for caller in CALLERS {
            let a = send(&app, op.method.clone(), &path, token_of(&app, &f, caller)).await;
            let ok = if admitted(op, caller) {
                !a.unmatched && a.status != 401 && a.status != 403 && a.status < 500
            } else {
                a.status == 401 && is_error_body(&a.body)
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {caller:?} (x-auth {}): {} {}",
                    op.method, op.path, op.auth, a.status, a.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bots_may_call_exactly_conversation_create_toggle_status_and_message_create() {
    let mut bots: Vec<String> = operations(&document())
        .into_iter()
        .filter(|op| op.bots)
        .map(|op| format!("{} {}", op.method, op.path))
        .collect();
    bots.sort();
    assert_eq!(
        bots,
        [
            "POST /api/v1/accounts/{account_id}/conversations",
            "POST /api/v1/accounts/{account_id}/conversations/{conversation_id}/messages",
            "POST /api/v1/accounts/{account_id}/conversations/{conversation_id}/toggle_status",
        ]
    );
}
