//! Admissions kept between requests (docs/adr/0011): kept only until a
//! change that may decide them is made here, heard from elsewhere, or may
//! have been missed.

use std::time::Duration;

use command_service::admissions::CHANNEL;
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use crate::app::{Seeded, TestApp};
use crate::helpers::eventually;

/// A write the agent may make; its status.
async fn write(app: &TestApp, s: &Seeded) -> u16 {
    app.call(
        Method::POST,
        &s.path("/contacts"),
        Some(&s.agent),
        Some(json!({"name": "Carla"})),
    )
    .await
    .status()
    .as_u16()
}

/// An inbox created by the agent (administrators only); its status.
async fn create_inbox(app: &TestApp, s: &Seeded) -> u16 {
    app.call(
        Method::POST,
        &s.path("/inboxes"),
        Some(&s.agent),
        Some(json!({"name": "Web", "channel": {"type": "api"}})),
    )
    .await
    .status()
    .as_u16()
}

/// The agent admitted twice: the second time from what the first kept.
async fn admitted_lately(app: &TestApp) -> Seeded {
    let s = app.with_account().await;
    assert_eq!(write(app, &s).await, 200);
    assert_eq!(write(app, &s).await, 200);
    s
}

/// Removes the agent's membership as another writer would, with the write
/// model's triggers on (`notify`) or off (nothing is told).
async fn remove_membership_directly(app: &TestApp, s: &Seeded, notify: bool) {
    let mut conn = PgConnection::connect_with(&app.env.pool.connect_options())
        .await
        .unwrap();
    if !notify {
        // Triggers do not fire for a replica's writes.
        conn.execute("set session_replication_role = replica")
            .await
            .unwrap();
    }
    sqlx::query("delete from write_model.account_users where account_id = $1 and user_id = $2")
        .bind(s.account_id)
        .bind(s.agent_id)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Turns the write model's triggers off, so that only this process's own
/// forgetting can drop what it kept.
async fn without_notifications(app: &TestApp) {
    for table in ["access_tokens", "accounts", "account_users", "inboxes"] {
        sqlx::query(&format!(
            "alter table write_model.{table} disable trigger {table}_admissions_changed"
        ))
        .execute(&app.env.pool)
        .await
        .unwrap();
    }
}

async fn refused_soon(app: &TestApp, s: &Seeded, what: &str) {
    eventually(what, Duration::from_secs(10), || async {
        write(app, s).await == 401
    })
    .await;
}

#[tokio::test]
async fn a_member_removed_through_this_process_is_refused_on_the_next_request() {
    let app = TestApp::spawn().await;
    let s = admitted_lately(&app).await;
    without_notifications(&app).await;
    let res = app
        .call(
            Method::DELETE,
            &format!("/platform/api/v1/accounts/{}/account_users", s.account_id),
            Some(&app.platform_token),
            Some(json!({"user_id": s.agent_id})),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Not eventually: the command forgot what was kept before it answered.
    assert_eq!(write(&app, &s).await, 401);
}

#[tokio::test]
async fn a_role_changed_through_this_process_decides_the_next_request() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    // Only administrators create inboxes.
    assert_eq!(create_inbox(&app, &s).await, 401);
    assert_eq!(write(&app, &s).await, 200, "the agent admitted and kept");
    without_notifications(&app).await;
    let res = app
        .call(
            Method::POST,
            &format!("/platform/api/v1/accounts/{}/account_users", s.account_id),
            Some(&app.platform_token),
            Some(json!({"user_id": s.agent_id, "role": "administrator"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(create_inbox(&app, &s).await, 200);
}

#[tokio::test]
async fn a_change_made_by_another_writer_is_heard_and_refused() {
    let app = TestApp::spawn().await;
    let s = admitted_lately(&app).await;
    remove_membership_directly(&app, &s, true).await;
    refused_soon(&app, &s, "the removed member refused").await;
}

#[tokio::test]
async fn a_kept_admission_is_served_until_a_change_is_heard() {
    let app = TestApp::spawn().await;
    let s = admitted_lately(&app).await;
    // A change nobody is told of: what was kept still admits (this is the
    // cache at work, and why the write model's triggers must tell).
    remove_membership_directly(&app, &s, false).await;
    assert_eq!(write(&app, &s).await, 200);
    sqlx::query("select pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&app.env.pool)
        .await
        .unwrap();
    refused_soon(&app, &s, "the removed member refused once told").await;
}

#[tokio::test]
async fn admissions_are_forgotten_when_the_listener_loses_its_connection() {
    let app = TestApp::spawn().await;
    let s = admitted_lately(&app).await;
    remove_membership_directly(&app, &s, false).await;
    // The listening session of this test's database, ended by the server.
    let ended: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid() \
           and query ilike '%listen%' || $1 || '%'",
    )
    .bind(CHANNEL)
    .fetch_all(&app.env.pool)
    .await
    .unwrap();
    assert_eq!(ended, [true], "one listener");
    refused_soon(&app, &s, "the removed member refused after the loss").await;
    // It listens again, and keeps admissions again.
    eventually(
        "admissions kept again after the reconnect",
        Duration::from_secs(10),
        || async {
            let t = admitted_lately(&app).await;
            remove_membership_directly(&app, &t, false).await;
            write(&app, &t).await == 200
        },
    )
    .await;
}
