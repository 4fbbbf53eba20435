//! Account webhooks: the CRUD operations (administrators only, validation,
//! Chatwoot's envelopes) and delivery by the `webhooks` process to a real
//! HTTP receiver on loopback that fails, times out and recovers.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::app::{Seeded, TestApp};
use crate::helpers::eventually;

async fn create_webhook(app: &TestApp, s: &Seeded, body: Value) -> (u16, Value) {
    app.json(
        Method::POST,
        &s.path("/webhooks"),
        Some(&s.admin),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn webhooks_are_created_listed_updated_and_deleted_by_administrators() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let (status, created) = create_webhook(
        &app,
        &s,
        json!({"webhook": {"url": "https://example.com/in", "subscriptions": ["message_created", "contact_created"]}}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let w = &created["payload"]["webhook"];
    let id = w["id"].as_i64().unwrap();
    assert_eq!(w["url"], "https://example.com/in");
    assert_eq!(w["account_id"], s.account_id);
    assert_eq!(
        w["subscriptions"],
        json!(["message_created", "contact_created"])
    );
    assert_eq!(w["secret"].as_str().unwrap().len(), 64, "{w}");

    // A flat body and no subscriptions: Chatwoot's default list.
    let (status, flat) = create_webhook(&app, &s, json!({"url": "http://example.com/2"})).await;
    assert_eq!(status, 200, "{flat}");
    assert_eq!(
        flat["payload"]["webhook"]["subscriptions"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    let (status, list) = app
        .json(Method::GET, &s.path("/webhooks"), Some(&s.admin), None)
        .await;
    assert_eq!(status, 200, "{list}");
    let hooks = list["payload"]["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| h.get("secret").is_none()), "{list}");

    let (status, updated) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/webhooks/{id}")),
            Some(&s.admin),
            Some(json!({"subscriptions": ["conversation_created"], "url": "https://example.com/new"})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["payload"]["webhook"]["subscriptions"],
        json!(["conversation_created"])
    );
    assert_eq!(
        updated["payload"]["webhook"]["url"],
        "https://example.com/new"
    );
    assert!(updated["payload"]["webhook"].get("secret").is_none());

    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/webhooks/{id}")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = app
        .json(Method::GET, &s.path("/webhooks"), Some(&s.admin), None)
        .await;
    assert_eq!(list["payload"]["webhooks"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/webhooks/{id}")),
            Some(&s.admin),
            Some(json!({"url": "https://example.com/x"})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_webhooks_are_422_agents_401_and_other_accounts_404_with_nothing_written() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let before = app.event_count().await;
    for body in [
        json!({"url": "ftp://example.com", "subscriptions": ["message_created"]}),
        json!({"url": "not a url"}),
        json!({}),
        json!({"url": "https://example.com", "subscriptions": ["message_created", "nope"]}),
        json!({"url": "https://example.com", "subscriptions": []}),
        json!({"url": "https://example.com", "subscriptions": "message_created"}),
    ] {
        let (status, err) = create_webhook(&app, &s, body.clone()).await;
        assert_eq!(status, 422, "{body} -> {err}");
    }
    assert_eq!(app.event_count().await, before, "nothing written");

    let (status, _) = app
        .json(
            Method::POST,
            &s.path("/webhooks"),
            Some(&s.agent),
            Some(json!({"url": "https://example.com"})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(Method::GET, &s.path("/webhooks"), Some(&s.agent), None)
        .await;
    assert_eq!(status, 401);

    let (status, created) = create_webhook(&app, &s, json!({"url": "https://example.com/a"})).await;
    assert_eq!(status, 200);
    let id = created["payload"]["webhook"]["id"].as_i64().unwrap();
    let (status, dup) = create_webhook(&app, &s, json!({"url": "https://example.com/a"})).await;
    assert_eq!(status, 422, "{dup}");
    assert_eq!(dup["message"], "Url has already been taken");
    let (status, _) = app
        .json(
            Method::PATCH,
            &s.path(&format!("/webhooks/{id}")),
            Some(&s.admin),
            Some(json!({"subscriptions": ["typing"]})),
        )
        .await;
    assert_eq!(status, 422);
    for (method, path) in [
        (Method::PATCH, other.path(&format!("/webhooks/{id}"))),
        (Method::DELETE, other.path(&format!("/webhooks/{id}"))),
        (
            Method::GET,
            other.path(&format!("/webhooks/{id}/deliveries")),
        ),
    ] {
        let (status, body) = app
            .json(
                method,
                &path,
                Some(&other.admin),
                Some(json!({"url": "https://x.test"})),
            )
            .await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/webhooks/{id}/deliveries?status=bogus")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

// ---- delivery -------------------------------------------------------------

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    event: String,
    body: Value,
    signature_ok: bool,
}

/// How the receiver answers the `n`-th request (0-based).
type Script = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

#[derive(Debug, Clone, Copy)]
enum Answer {
    Ok,
    Fail,
    /// Sleeps past the sender's timeout, then answers 200.
    Hang,
}

struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
    secret: Arc<Mutex<String>>,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn spawn(script: Script) -> Self {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let secret: Arc<Mutex<String>> = Arc::default();
        let count = Arc::new(Mutex::new(0usize));
        let (s2, k2) = (seen.clone(), secret.clone());
        let server = HttpServer::new(move || {
            let (seen, secret, count, script) =
                (s2.clone(), k2.clone(), count.clone(), script.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (seen, secret, count, script) =
                    (seen.clone(), secret.clone(), count.clone(), script.clone());
                async move {
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let ts = header("x-chatwoot-timestamp");
                    let mut mac =
                        Hmac::<Sha256>::new_from_slice(secret.lock().unwrap().as_bytes()).unwrap();
                    mac.update(format!("{ts}.").as_bytes());
                    mac.update(&body);
                    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                    seen.lock().unwrap().push(Received {
                        delivery: header("x-chatwoot-delivery"),
                        event: header("x-chatwoot-event"),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        signature_ok: header("x-chatwoot-signature") == want,
                    });
                    let n = {
                        let mut c = count.lock().unwrap();
                        *c += 1;
                        *c - 1
                    };
                    match script(n) {
                        Answer::Ok => HttpResponse::Ok().finish(),
                        Answer::Fail => HttpResponse::InternalServerError().finish(),
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_millis(700)).await;
                            HttpResponse::Ok().finish()
                        }
                    }
                }
            }))
        })
        .workers(2)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            seen,
            secret,
            _server: handle,
        }
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

fn fast_config(consumer: &str) -> webhooks::Config {
    webhooks::Config {
        consumer: consumer.to_owned(),
        timeout: Duration::from_millis(300),
        first_backoff: Duration::from_millis(30),
        max_backoff: Duration::from_millis(300),
        max_attempts: 100,
        concurrency: 8,
        per_webhook: 2,
        poll: Duration::from_millis(25),
        render_wait: Duration::from_secs(10),
    }
}

/// The delivery process, running until [`Delivery::stop`].
struct Delivery {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Delivery {
    fn start(app: &TestApp, consumer: &str) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(webhooks::run(
            app.env.settings.clone(),
            app.env.pool.clone(),
            fast_config(consumer),
            async move {
                let _ = stopped.await;
            },
        ));
        Delivery {
            stop: Some(stop),
            task,
        }
    }

    /// Stops it the way a signal does, and waits until it has.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// An inbox, a contact, two conversations with three messages each
/// (interleaved) and a resolve of the first: `(display ids, message ids per
/// conversation in order)`.
async fn traffic(app: &TestApp, s: &Seeded) -> (Vec<i64>, HashMap<i64, Vec<i64>>) {
    let admin = Some(s.admin.as_str());
    let (_, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            admin,
            Some(json!({"name": "Support", "channel": {"type": "api"}})),
        )
        .await;
    let inbox_id = inbox["id"].as_i64().unwrap();
    let (status, contact) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            admin,
            Some(json!({"name": "Cleo", "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{contact}");
    let contact_id = contact["payload"]["contact"]["id"].as_i64().unwrap();
    let mut displays = Vec::new();
    for _ in 0..2 {
        let (status, c) = app
            .json(
                Method::POST,
                &s.path("/conversations"),
                admin,
                Some(json!({"inbox_id": inbox_id, "contact_id": contact_id})),
            )
            .await;
        assert_eq!(status, 200, "{c}");
        displays.push(c["id"].as_i64().unwrap());
    }
    let mut messages: HashMap<i64, Vec<i64>> = HashMap::new();
    for i in 0..3 {
        for d in &displays {
            let (status, m) = app
                .json(
                    Method::POST,
                    &s.path(&format!("/conversations/{d}/messages")),
                    admin,
                    Some(json!({"content": format!("m{i} in {d}")})),
                )
                .await;
            assert_eq!(status, 200, "{m}");
            messages
                .entry(*d)
                .or_default()
                .push(m["id"].as_i64().unwrap());
        }
    }
    let (status, body) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{}/toggle_status", displays[0])),
            admin,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (displays, messages)
}

/// The conversation (display id) a payload is about.
fn conversation_of(r: &Received) -> Option<i64> {
    if r.event.starts_with("message_") {
        r.body["conversation"]["id"].as_i64()
    } else if r.event.starts_with("conversation_") {
        r.body["id"].as_i64()
    } else {
        None
    }
}

#[tokio::test]
async fn every_event_arrives_signed_and_in_conversation_order_through_500s_timeouts_and_a_dead_endpoint(
) {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    // Fails, hangs past the timeout, answers; then recovers for good.
    let flaky = Receiver::spawn(Arc::new(|n| match n {
        n if n >= 15 => Answer::Ok,
        n if n % 3 == 0 => Answer::Fail,
        n if n % 3 == 1 => Answer::Hang,
        _ => Answer::Ok,
    }));
    let dead = Receiver::spawn(Arc::new(|_| Answer::Hang));
    let (status, created) = create_webhook(&app, &s, json!({"url": flaky.url})).await;
    assert_eq!(status, 200, "{created}");
    let webhook_id = created["payload"]["webhook"]["id"].as_i64().unwrap();
    *flaky.secret.lock().unwrap() = created["payload"]["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, dead_hook) = create_webhook(&app, &s, json!({"url": dead.url})).await;
    assert_eq!(status, 200, "{dead_hook}");
    let dead_id = dead_hook["payload"]["webhook"]["id"].as_i64().unwrap();

    let delivery = Delivery::start(&app, "webhooks-test");
    let (displays, messages) = traffic(&app, &s).await;

    // Every delivery enqueued for the flaky webhook is delivered, although
    // the dead one never answers in time.
    let pool = app.env.pool.clone();
    eventually("every delivery delivered", Duration::from_secs(60), || {
        let pool = pool.clone();
        async move {
            let (total, pending): (i64, i64) = sqlx::query_as(
                "select count(*), count(*) filter (where status <> 'delivered') \
                 from webhooks.deliveries where webhook_id = $1",
            )
            .bind(webhook_id)
            .fetch_one(&pool)
            .await
            .unwrap();
            // 1 contact_created, 2 conversation_created, 6 message_created,
            // status_changed + updated.
            total >= 11 && pending == 0
        }
    })
    .await;
    // The consumer acked every message it turned into deliveries (it acks
    // a batch with its last message; unacked ones would come again).
    let js = infra::nats::connect(&app.env.settings).await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(&app.env.settings.nats_stream)
        .await
        .unwrap()
        .get_consumer("webhooks-test")
        .await
        .unwrap();
    let consumer = &consumer;
    eventually(
        "every message acked",
        Duration::from_secs(10),
        || async move {
            let info = consumer.get_info().await.unwrap();
            info.num_pending == 0 && info.num_ack_pending == 0
        },
    )
    .await;
    delivery.stop().await;

    let seen = flaky.seen();
    assert!(
        seen.len() > 11,
        "some requests were retried: {}",
        seen.len()
    );
    assert!(
        seen.iter().all(|r| r.signature_ok),
        "every signature verifies"
    );
    let expected: BTreeSet<String> =
        sqlx::query_scalar("select id::text from webhooks.deliveries where webhook_id = $1")
            .bind(webhook_id)
            .fetch_all(&app.env.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let arrived: BTreeSet<String> = seen.iter().map(|r| r.delivery.clone()).collect();
    assert_eq!(arrived, expected, "every delivery arrived (dedupe by id)");

    // First arrivals, deduplicated by delivery id.
    let mut first: Vec<Received> = Vec::new();
    for r in seen {
        if !first.iter().any(|f| f.delivery == r.delivery) {
            first.push(r);
        }
    }
    let events: BTreeSet<&str> = first.iter().map(|r| r.event.as_str()).collect();
    for e in [
        "contact_created",
        "conversation_created",
        "message_created",
        "conversation_status_changed",
        "conversation_updated",
    ] {
        assert!(events.contains(e), "{e} arrived: {events:?}");
    }
    for d in &displays {
        let order: Vec<(String, Option<i64>)> = first
            .iter()
            .filter(|r| conversation_of(r) == Some(*d))
            .map(|r| (r.event.clone(), r.body["id"].as_i64()))
            .collect();
        assert_eq!(order[0].0, "conversation_created", "{order:?}");
        let message_ids: Vec<i64> = order
            .iter()
            .filter(|(e, _)| e == "message_created")
            .filter_map(|(_, id)| *id)
            .collect();
        assert_eq!(&message_ids, &messages[d], "messages of {d} in order");
        if *d == displays[0] {
            let names: Vec<&str> = order.iter().map(|(e, _)| e.as_str()).collect();
            assert_eq!(
                &names[names.len() - 2..],
                ["conversation_status_changed", "conversation_updated"],
                "{names:?}"
            );
        }
    }

    // Payload shapes: Chatwoot's webhook JSON plus event and account.
    let message = first.iter().find(|r| r.event == "message_created").unwrap();
    assert_eq!(message.body["event"], "message_created");
    assert_eq!(message.body["account"]["id"], s.account_id);
    assert_eq!(message.body["message_type"], "outgoing");
    assert!(message.body["created_at"].is_string(), "{}", message.body);
    assert!(message.body["inbox"]["name"].is_string());
    let status = first
        .iter()
        .find(|r| r.event == "conversation_status_changed")
        .unwrap();
    assert_eq!(status.body["status"], "resolved");
    assert_eq!(
        status.body["changed_attributes"][0]["status"]["current_value"],
        "resolved"
    );

    // The delivery log shows the failed attempts, newest first.
    let (status, log) = app
        .json(
            Method::GET,
            &s.path(&format!("/webhooks/{webhook_id}/deliveries")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["payload"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["status"] == "delivered"), "{log}");
    assert!(
        entries.iter().any(
            |e| e["attempts"].as_i64().unwrap() > 1 && e["attempt_log"][0]["error"].is_string()
        ),
        "{log}"
    );
    let errors: BTreeSet<String> = entries
        .iter()
        .flat_map(|e| e["attempt_log"].as_array().unwrap().iter())
        .filter_map(|a| a["error"].as_str().map(str::to_owned))
        .collect();
    assert!(errors.contains("timed out"), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("500")), "{errors:?}");
    let (_, dead_log) = app
        .json(
            Method::GET,
            &s.path(&format!("/webhooks/{dead_id}/deliveries?status=pending")),
            Some(&s.admin),
            None,
        )
        .await;
    let dead_entries = dead_log["payload"].as_array().unwrap();
    assert!(
        dead_entries.iter().any(|e| e["last_error"] == "timed out"),
        "{dead_log}"
    );
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/webhooks/{webhook_id}/deliveries")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn pending_deliveries_survive_a_restart_of_the_delivery_process() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = down.clone();
    let receiver = Receiver::spawn(Arc::new(move |_| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Answer::Fail
        } else {
            Answer::Ok
        }
    }));
    let (status, created) = create_webhook(
        &app,
        &s,
        json!({"url": receiver.url, "subscriptions": ["conversation_created", "message_created"]}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    *receiver.secret.lock().unwrap() = created["payload"]["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = Delivery::start(&app, "webhooks-restart");
    let (_, messages) = traffic(&app, &s).await;
    let pool = app.env.pool.clone();
    eventually("failed attempts recorded", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select count(*) from webhooks.delivery_attempts")
                .fetch_one(&pool)
                .await
                .unwrap()
                >= 2
        }
    })
    .await;
    first.stop().await;

    down.store(false, std::sync::atomic::Ordering::SeqCst);
    let second = Delivery::start(&app, "webhooks-restart");
    eventually("everything delivered after the restart", Duration::from_secs(60), || {
        let pool = pool.clone();
        async move {
            let (total, open): (i64, i64) = sqlx::query_as(
                "select count(*), count(*) filter (where status <> 'delivered') from webhooks.deliveries",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            total == 8 && open == 0
        }
    })
    .await;
    second.stop().await;
    let ok: BTreeSet<i64> = receiver
        .seen()
        .iter()
        .filter(|r| r.event == "message_created")
        .filter_map(|r| r.body["id"].as_i64())
        .collect();
    let all: BTreeSet<i64> = messages.values().flatten().copied().collect();
    assert_eq!(ok, all);
}

/// Waits until the log holds `total` deliveries and every one is delivered.
async fn all_delivered(app: &TestApp, what: &str, total: i64) {
    let pool = app.env.pool.clone();
    eventually(what, Duration::from_secs(60), || {
        let pool = pool.clone();
        async move {
            let (all, open): (i64, i64) = sqlx::query_as(
                "select count(*), count(*) filter (where status <> 'delivered') \
                 from webhooks.deliveries",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            all == total && open == 0
        }
    })
    .await;
}

/// In `inbox_id`: a contact, a conversation, one outgoing message with
/// `content`, then each status of `statuses` in turn. Returns the display id.
async fn conversation_with(
    app: &TestApp,
    s: &Seeded,
    inbox_id: i64,
    content: &str,
    statuses: &[&str],
) -> i64 {
    let admin = Some(s.admin.as_str());
    let (_, contact) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            admin,
            Some(json!({"name": "Cleo", "inbox_id": inbox_id})),
        )
        .await;
    let contact_id = contact["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, c) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            admin,
            Some(json!({"inbox_id": inbox_id, "contact_id": contact_id})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let display = c["id"].as_i64().unwrap();
    let (status, m) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display}/messages")),
            admin,
            Some(json!({ "content": content })),
        )
        .await;
    assert_eq!(status, 200, "{m}");
    for to in statuses {
        let (status, body) = app
            .json(
                Method::POST,
                &s.path(&format!("/conversations/{display}/toggle_status")),
                admin,
                Some(json!({ "status": to })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    display
}

// ---- agent bots -----------------------------------------------------------

#[tokio::test]
async fn an_agent_bot_gets_its_inboxes_conversation_events_signed_with_its_token_hash() {
    use sha2::Digest;
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let admin = Some(s.admin.as_str());
    // The first attempt fails: the retry goes through and the order holds.
    let receiver = Receiver::spawn(Arc::new(|n| if n == 0 { Answer::Fail } else { Answer::Ok }));
    let mut bots = Vec::new();
    for body in [
        json!({"name": "Listener", "outgoing_url": receiver.url}),
        json!({"name": "Mute"}),
    ] {
        let (status, bot) = app
            .json(Method::POST, &s.path("/agent_bots"), admin, Some(body))
            .await;
        assert_eq!(status, 200, "{bot}");
        bots.push((
            bot["id"].as_i64().unwrap(),
            bot["access_token"].as_str().unwrap().to_owned(),
        ));
    }
    *receiver.secret.lock().unwrap() = hex::encode(sha2::Sha256::digest(bots[0].1.as_bytes()));
    let mut conversations = Vec::new();
    for (bot_id, _) in &bots {
        let (_, inbox) = app
            .json(
                Method::POST,
                &s.path("/inboxes"),
                admin,
                Some(json!({"name": "Bot inbox", "channel": {"type": "api"}})),
            )
            .await;
        let inbox_id = inbox["id"].as_i64().unwrap();
        let (status, body) = app
            .json(
                Method::POST,
                &s.path(&format!("/inboxes/{inbox_id}/set_agent_bot")),
                admin,
                Some(json!({ "agent_bot": bot_id })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        conversations
            .push(conversation_with(&app, &s, inbox_id, "hello bot", &["open", "resolved"]).await);
    }
    let delivery = Delivery::start(&app, "webhooks-bots");
    all_delivered(&app, "the bot's deliveries delivered", 3).await;
    delivery.stop().await;
    // Every delivery of the log names the bot with the URL, none the mute bot.
    let logged: Vec<(Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "select webhook_id, agent_bot_id, event from webhooks.deliveries order by position, ordinal",
    )
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    assert!(
        logged
            .iter()
            .all(|(w, b, _)| w.is_none() && *b == Some(bots[0].0)),
        "{logged:?}"
    );
    let seen = receiver.seen();
    // The failed first attempt and its retry, then the rest, in log order.
    let events: Vec<&str> = seen.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "message_created",
            "message_created",
            "conversation_opened",
            "conversation_resolved"
        ]
    );
    assert_eq!(seen[0].delivery, seen[1].delivery);
    assert!(seen.iter().all(|r| r.signature_ok), "{seen:?}");
    assert_eq!(seen[1].body["content"], "hello bot");
    assert_eq!(seen[1].body["conversation"]["id"], conversations[0]);
    assert_eq!(seen[2].body["event"], "conversation_opened");
    assert_eq!(seen[2].body["id"], conversations[0]);
    assert!(seen[2].body.get("changed_attributes").is_none());
    assert_eq!(seen[3].body["account"]["id"], s.account_id);
    // The bot's delivery log shows its three deliveries; the mute bot's none.
    for ((bot_id, _), want) in bots.iter().zip([3, 0]) {
        let (status, log) = app
            .json(
                Method::GET,
                &s.path(&format!("/agent_bots/{bot_id}/deliveries")),
                admin,
                None,
            )
            .await;
        assert_eq!(status, 200, "{log}");
        assert_eq!(log["payload"].as_array().unwrap().len(), want, "{log}");
    }
}

#[tokio::test]
async fn a_webhook_and_a_bot_each_get_their_own_delivery_and_the_webhook_log_shows_only_its_own() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let admin = Some(s.admin.as_str());
    let hook_receiver = Receiver::spawn(Arc::new(|_| Answer::Ok));
    let bot_receiver = Receiver::spawn(Arc::new(|_| Answer::Ok));
    let (status, created) = create_webhook(
        &app,
        &s,
        json!({"url": hook_receiver.url, "subscriptions": ["message_created"]}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let webhook_id = created["payload"]["webhook"]["id"].as_i64().unwrap();
    let (status, bot) = app
        .json(
            Method::POST,
            &s.path("/agent_bots"),
            admin,
            Some(json!({"name": "Listener", "outgoing_url": bot_receiver.url})),
        )
        .await;
    assert_eq!(status, 200, "{bot}");
    let (_, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            admin,
            Some(json!({"name": "Bot inbox", "channel": {"type": "api"}})),
        )
        .await;
    let inbox_id = inbox["id"].as_i64().unwrap();
    let (status, _) = app
        .json(
            Method::POST,
            &s.path(&format!("/inboxes/{inbox_id}/set_agent_bot")),
            admin,
            Some(json!({ "agent_bot": bot["id"] })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, contact) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            admin,
            Some(json!({"name": "Cleo", "inbox_id": inbox_id})),
        )
        .await;
    let contact_id = contact["payload"]["contact"]["id"].as_i64().unwrap();
    let (_, c) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            admin,
            Some(json!({"inbox_id": inbox_id, "contact_id": contact_id})),
        )
        .await;
    let display = c["id"].as_i64().unwrap();
    let (status, m) = app
        .json(
            Method::POST,
            &s.path(&format!("/conversations/{display}/messages")),
            admin,
            Some(json!({"content": "to both"})),
        )
        .await;
    assert_eq!(status, 200, "{m}");
    let delivery = Delivery::start(&app, "webhooks-both");
    eventually("both delivered", Duration::from_secs(30), || {
        let (a, b) = (hook_receiver.seen().len(), bot_receiver.seen().len());
        async move { a == 1 && b == 1 }
    })
    .await;
    delivery.stop().await;
    let (hook, bot_seen) = (&hook_receiver.seen()[0], &bot_receiver.seen()[0]);
    assert_eq!(
        (hook.event.as_str(), bot_seen.event.as_str()),
        ("message_created", "message_created")
    );
    assert_eq!(hook.body["id"], m["id"]);
    assert_eq!(bot_seen.body, hook.body);
    assert_ne!(hook.delivery, bot_seen.delivery);
    let (status, log) = app
        .json(
            Method::GET,
            &s.path(&format!("/webhooks/{webhook_id}/deliveries")),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["payload"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["id"].as_str(), Some(hook.delivery.as_str()));
}

// ---- API inboxes ------------------------------------------------------------

#[tokio::test]
async fn an_api_inbox_webhook_url_gets_its_conversations_events_signed_with_its_hmac_token() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let admin = Some(s.admin.as_str());
    let receiver = Receiver::spawn(Arc::new(|n| if n == 1 { Answer::Fail } else { Answer::Ok }));
    let (status, api_inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            admin,
            Some(json!({"name": "Api", "channel": {"type": "api", "webhook_url": receiver.url}})),
        )
        .await;
    assert_eq!(status, 200, "{api_inbox}");
    let hmac_token = api_inbox["hmac_token"].as_str().unwrap().to_owned();
    assert!(!hmac_token.is_empty());
    *receiver.secret.lock().unwrap() = hmac_token;
    let (_, quiet_inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            admin,
            Some(json!({"name": "Api without URL", "channel": {"type": "api"}})),
        )
        .await;
    let mut conversations = Vec::new();
    for inbox in [&api_inbox, &quiet_inbox] {
        let inbox_id = inbox["id"].as_i64().unwrap();
        conversations.push(conversation_with(&app, &s, inbox_id, "hello api", &["resolved"]).await);
    }
    let delivery = Delivery::start(&app, "webhooks-api-inbox");
    all_delivered(&app, "the inbox's deliveries delivered", 4).await;
    delivery.stop().await;
    let logged: Vec<(Option<i64>, Option<i64>, Option<i64>)> =
        sqlx::query_as("select webhook_id, agent_bot_id, api_inbox_id from webhooks.deliveries")
            .fetch_all(&app.env.pool)
            .await
            .unwrap();
    assert!(
        logged
            .iter()
            .all(|r| *r == (None, None, api_inbox["id"].as_i64())),
        "{logged:?}"
    );
    let seen = receiver.seen();
    // The second request failed and was retried: five requests, four events,
    // in the conversation's order; none from the inbox without a URL.
    let events: Vec<&str> = seen.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "conversation_created",
            "message_created",
            "message_created",
            "conversation_status_changed",
            "conversation_updated"
        ]
    );
    assert_eq!(seen[1].delivery, seen[2].delivery);
    assert!(seen.iter().all(|r| r.signature_ok), "{seen:?}");
    let created = &seen[0].body;
    assert_eq!(created["id"], conversations[0]);
    assert_eq!(created["channel"], "Channel::Api");
    assert_eq!(created["contact_inbox"]["inbox_id"], api_inbox["id"]);
    assert!(
        created["contact_inbox"]["source_id"].is_string(),
        "{created}"
    );
    assert_eq!(created["meta"]["hmac_verified"], false);
    assert_eq!(seen[2].body["content"], "hello api");
    assert_eq!(seen[2].body["sender"]["type"], "user");
    assert!(
        seen[2].body["sender"]["email"].is_string(),
        "{}",
        seen[2].body
    );
    assert_eq!(
        seen[3].body["changed_attributes"],
        json!([{"status": {"previous_value": "open", "current_value": "resolved"}}])
    );
    // The inbox's delivery log: its four deliveries, the retried one with
    // two attempts; the other inbox's log is empty.
    let inbox_log = |inbox: &Value| s.path(&format!("/inboxes/{}/deliveries", inbox["id"]));
    let (status, log) = app
        .json(Method::GET, &inbox_log(&api_inbox), admin, None)
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["payload"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{log}");
    assert!(entries.iter().all(|e| e["status"] == "delivered"), "{log}");
    assert_eq!(
        entries
            .iter()
            .map(|e| e["attempts"].as_i64().unwrap())
            .sum::<i64>(),
        5
    );
    let (status, log) = app
        .json(Method::GET, &inbox_log(&quiet_inbox), admin, None)
        .await;
    assert_eq!(
        (status, log["payload"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, _) = app
        .json(
            Method::GET,
            &inbox_log(&api_inbox),
            Some(s.agent.as_str()),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .json(
            Method::GET,
            &s.path("/inboxes/999999/deliveries"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 404);
}
