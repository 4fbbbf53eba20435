//! Each event kind lands in its read-model tables; a second application
//! changes nothing.

use chrono::{DateTime, Utc};
use domain::account::Role;
use domain::contact::ContactFields;
use domain::conversation::ConversationStatus;
use domain::inbox::{Channel, InboxSettings};
use domain::platform_app::Permissible;
use domain::{Event, StreamId};
use projections::apply::{Applied, ApplyError};
use serde_json::json;
use sqlx::postgres::PgListener;
use sqlx::types::Json;

use crate::helpers::*;

#[tokio::test]
async fn accounts_users_memberships_and_platform_apps_land_in_their_tables() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    let mut attrs = domain::Attributes::new();
    attrs.insert("tier".into(), json!("gold"));
    let steps = [
        (StreamId::account(1), account_created(1)),
        (
            StreamId::account(1),
            Event::AccountUpdated {
                account_id: 1,
                name: "Acme".into(),
                locale: "fr".into(),
                domain: Some("acme.test".into()),
                support_email: Some("help@acme.test".into()),
                custom_attributes: attrs.clone(),
            },
        ),
        (StreamId::user(5), user_created(5)),
        (
            StreamId::user(5),
            Event::UserUpdated {
                user_id: 5,
                name: "Ada".into(),
                display_name: Some("ada".into()),
                email: "ada@acme.test".into(),
                custom_attributes: attrs.clone(),
            },
        ),
        (
            StreamId::account(1),
            Event::AccountUserAdded {
                account_id: 1,
                account_user_id: 50,
                user_id: 5,
                role: Role::Agent,
                inviter_id: Some(9),
            },
        ),
        (
            StreamId::account(1),
            Event::AccountUserRoleChanged {
                account_id: 1,
                account_user_id: 50,
                user_id: 5,
                from: Role::Agent,
                to: Role::Administrator,
            },
        ),
        (
            StreamId::platform_app(3),
            Event::PlatformAppCreated {
                app_id: 3,
                name: "Provisioner".into(),
                access_token_hash: "hash-of-app-3".into(),
            },
        ),
        (
            StreamId::platform_app(3),
            Event::PermissibleGranted {
                app_id: 3,
                target: Permissible::Account(1),
            },
        ),
        (
            StreamId::platform_app(3),
            Event::PermissibleGranted {
                app_id: 3,
                target: Permissible::User(5),
            },
        ),
        (
            StreamId::platform_app(3),
            Event::PermissibleGranted {
                app_id: 3,
                target: Permissible::AgentBot(8),
            },
        ),
    ];
    let mut envelopes = Vec::new();
    for (stream, event) in &steps {
        let e = events.next(stream, event);
        assert_eq!(apply_one(&env.pool, &e).await.unwrap(), Applied::Applied);
        envelopes.push(e);
    }

    type AccountRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        Json<serde_json::Value>,
        DateTime<Utc>,
        DateTime<Utc>,
    );
    let account: AccountRow = sqlx::query_as(
        "select name, locale, domain, support_email, custom_attributes, created_at, updated_at \
         from read_model.accounts where id = 1",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(account.0, "Acme");
    assert_eq!(account.1, "fr");
    assert_eq!(account.2.as_deref(), Some("acme.test"));
    assert_eq!(account.3.as_deref(), Some("help@acme.test"));
    assert_eq!(account.4 .0, json!({"tier": "gold"}));
    assert_eq!(
        account.5, envelopes[0].time,
        "created_at is the event's time"
    );
    assert_eq!(
        account.6, envelopes[1].time,
        "updated_at is the update's time"
    );

    let user: (String, Option<String>, String) =
        sqlx::query_as("select name, display_name, email from read_model.users where id = 5")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        user,
        ("Ada".into(), Some("ada".into()), "ada@acme.test".into())
    );

    let member: (i64, i64, String, Option<i64>, Option<DateTime<Utc>>) = sqlx::query_as(
        "select account_id, user_id, role, inviter_id, active_at from read_model.account_users where id = 50",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        member,
        (
            1,
            5,
            "administrator".into(),
            Some(9),
            Some(envelopes[4].time)
        )
    );

    let tokens: Vec<(String, String, i64)> = sqlx::query_as(
        "select token_hash, owner_type, owner_id from read_model.access_tokens order by token_hash",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        tokens,
        vec![
            ("hash-of-app-3".into(), "platform_app".into(), 3),
            ("hash-of-user-5".into(), "user".into(), 5),
        ]
    );

    let grants: Vec<(i64, String, i64)> = sqlx::query_as(
        "select app_id, target_kind, target_id from read_model.platform_app_permissibles \
         order by target_kind",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        grants,
        vec![
            (3, "account".into(), 1),
            (3, "agent_bot".into(), 8),
            (3, "user".into(), 5),
        ]
    );
    env.cleanup().await;
}

#[tokio::test]
async fn inboxes_contacts_and_contact_inboxes_land_in_their_tables() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    let widget = Channel::WebWidget {
        website_url: "https://acme.test".into(),
        widget_color: "#009CE0".into(),
        welcome_title: Some("Hi".into()),
        welcome_tagline: None,
        reply_time: "in_a_few_minutes".into(),
        website_token: "wt".into(),
        hmac_token: "hm".into(),
    };
    let mut renamed = inbox_settings("Support");
    renamed.greeting_enabled = true;
    let mut extra = domain::Attributes::new();
    extra.insert("city".into(), json!("Lyon"));
    let steps = [
        (
            StreamId::inbox(10),
            Event::InboxCreated {
                inbox_id: 10,
                account_id: 1,
                channel_id: 4,
                channel: widget.clone(),
                settings: inbox_settings("Website"),
            },
        ),
        (
            StreamId::inbox(10),
            Event::InboxUpdated {
                inbox_id: 10,
                account_id: 1,
                channel: widget.clone(),
                settings: renamed.clone(),
            },
        ),
        (StreamId::contact(20), contact_created(20, 1, "Bo")),
        (
            StreamId::contact(20),
            Event::ContactUpdated {
                contact_id: 20,
                account_id: 1,
                fields: ContactFields {
                    name: "Bo Diddley".into(),
                    email: Some("bo@example.com".into()),
                    phone_number: Some("+33100000000".into()),
                    identifier: Some("crm-1".into()),
                    additional_attributes: extra.clone(),
                    custom_attributes: Default::default(),
                },
            },
        ),
        (
            StreamId::contact(20),
            Event::ContactInboxCreated {
                contact_id: 20,
                account_id: 1,
                contact_inbox_id: 30,
                inbox_id: 10,
                source_id: "src-1".into(),
            },
        ),
    ];
    for (stream, event) in &steps {
        let e = events.next(stream, event);
        assert_eq!(apply_one(&env.pool, &e).await.unwrap(), Applied::Applied);
    }

    let inbox: (i64, i64, String, String, Json<Channel>, Json<InboxSettings>) = sqlx::query_as(
        "select account_id, channel_id, channel_type, name, channel, settings \
         from read_model.inboxes where id = 10",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(inbox.0, 1);
    assert_eq!(inbox.1, 4);
    assert_eq!(inbox.2, "Channel::WebWidget");
    assert_eq!(inbox.3, "Support");
    assert_eq!(inbox.4 .0, widget);
    assert_eq!(inbox.5 .0, renamed);

    type ContactRow = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Json<serde_json::Value>,
        i64,
        Option<DateTime<Utc>>,
    );
    let contact: ContactRow = sqlx::query_as(
        "select name, email, phone_number, identifier, additional_attributes, \
           conversations_count, last_activity_at from read_model.contacts where id = 20",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(contact.0, "Bo Diddley");
    assert_eq!(contact.1.as_deref(), Some("bo@example.com"));
    assert_eq!(contact.2.as_deref(), Some("+33100000000"));
    assert_eq!(contact.3.as_deref(), Some("crm-1"));
    assert_eq!(contact.4 .0, json!({"city": "Lyon"}));
    assert_eq!(contact.5, 0);
    assert_eq!(contact.6, None);

    let contact_inbox: (i64, i64, i64, String) = sqlx::query_as(
        "select account_id, contact_id, inbox_id, source_id from read_model.contact_inboxes where id = 30",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(contact_inbox, (1, 20, 10, "src-1".into()));
    env.cleanup().await;
}

#[tokio::test]
async fn a_conversation_is_counted_once_bumps_its_contact_and_moves_between_status_counters() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    apply_one(
        &env.pool,
        &events.next(&StreamId::contact(20), &contact_created(20, 1, "Bo")),
    )
    .await
    .unwrap();
    let created = events.next(
        &StreamId::conversation(7),
        &conversation_created(7, 1, 10, 20, ConversationStatus::Open, Some(5), None),
    );
    apply_one(&env.pool, &created).await.unwrap();

    let row: (
        i64,
        String,
        Option<i64>,
        Option<i64>,
        DateTime<Utc>,
        DateTime<Utc>,
    ) = sqlx::query_as(
        "select display_id, status, assignee_id, team_id, last_activity_at, created_at \
         from read_model.conversations where id = 7",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (7, "open".into(), Some(5), None, created.time, created.time)
    );
    let contact: (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "select conversations_count, last_activity_at from read_model.contacts where id = 20",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(contact, (1, Some(created.time)));
    let (stored, _) = counters_and_counts(&env.pool).await;
    assert_eq!(stored, vec![(1, 10, "open".into(), 5, 0, 1)]);

    let snoozed = events.next(
        &StreamId::conversation(7),
        &status_changed(7, 1, ConversationStatus::Open, ConversationStatus::Snoozed),
    );
    apply_one(&env.pool, &snoozed).await.unwrap();
    let row: (String, Option<DateTime<Utc>>, DateTime<Utc>) = sqlx::query_as(
        "select status, snoozed_until, updated_at from read_model.conversations where id = 7",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(row.0, "snoozed");
    assert_eq!(row.1.map(|t| t.timestamp()), Some(1_800_000_000));
    assert_eq!(row.2, snoozed.time);
    let (stored, counted) = counters_and_counts(&env.pool).await;
    assert_eq!(stored, vec![(1, 10, "snoozed".into(), 5, 0, 1)]);
    assert_eq!(stored, counted);
    env.cleanup().await;
}

#[tokio::test]
async fn removing_a_member_drops_the_membership_and_their_inbox_memberships_in_that_account() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    apply_one(
        &env.pool,
        &events.next(&StreamId::user(5), &user_created(5)),
    )
    .await
    .unwrap();
    for account in [1, 2] {
        let added = member_added(account, 50 + account, 5);
        apply_one(&env.pool, &events.next(&StreamId::account(account), &added))
            .await
            .unwrap();
    }
    // No event of this slice adds inbox members; the rows stand in for them.
    sqlx::query(
        "insert into read_model.inbox_members (inbox_id, user_id, account_id) values (10, 5, 1), (20, 5, 2)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let removed = Event::AccountUserRemoved {
        account_id: 1,
        account_user_id: 51,
        user_id: 5,
    };
    apply_one(&env.pool, &events.next(&StreamId::account(1), &removed))
        .await
        .unwrap();
    let members: Vec<(i64, i64)> =
        sqlx::query_as("select id, account_id from read_model.account_users order by id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(members, vec![(52, 2)]);
    let inbox_members: Vec<(i64, i64)> =
        sqlx::query_as("select inbox_id, account_id from read_model.inbox_members")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(inbox_members, vec![(20, 2)]);
    env.cleanup().await;
}

#[tokio::test]
async fn deleting_a_user_removes_them_their_memberships_token_and_grants() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    for user in [5, 6] {
        apply_one(
            &env.pool,
            &events.next(&StreamId::user(user), &user_created(user)),
        )
        .await
        .unwrap();
        apply_one(
            &env.pool,
            &events.next(&StreamId::account(1), &member_added(1, 50 + user, user)),
        )
        .await
        .unwrap();
        let grant = Event::PermissibleGranted {
            app_id: 3,
            target: Permissible::User(user),
        };
        apply_one(&env.pool, &events.next(&StreamId::platform_app(3), &grant))
            .await
            .unwrap();
    }
    sqlx::query(
        "insert into read_model.inbox_members (inbox_id, user_id, account_id) values (10, 5, 1), (10, 6, 1)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    apply_one(
        &env.pool,
        &events.next(&StreamId::user(5), &Event::UserDeleted { user_id: 5 }),
    )
    .await
    .unwrap();
    for (table, column) in [
        ("users", "id"),
        ("account_users", "user_id"),
        ("inbox_members", "user_id"),
        ("access_tokens", "owner_id"),
        ("platform_app_permissibles", "target_id"),
    ] {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "select {column} from read_model.{table} order by 1"
        ))
        .fetch_all(&env.pool)
        .await
        .unwrap();
        assert_eq!(ids, vec![6], "{table} keeps only the other user");
    }
    env.cleanup().await;
}

#[tokio::test]
async fn deleting_an_account_removes_everything_of_it_and_nothing_else() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    apply_one(
        &env.pool,
        &events.next(&StreamId::user(5), &user_created(5)),
    )
    .await
    .unwrap();
    for account in [1, 2] {
        let inbox = account * 10;
        let contact = account * 100;
        let steps = [
            (StreamId::account(account), account_created(account)),
            (
                StreamId::account(account),
                member_added(account, 50 + account, 5),
            ),
            (StreamId::inbox(inbox), inbox_created(inbox, account)),
            (
                StreamId::contact(contact),
                contact_created(contact, account, "C"),
            ),
            (
                StreamId::contact(contact),
                Event::ContactInboxCreated {
                    contact_id: contact,
                    account_id: account,
                    contact_inbox_id: contact,
                    inbox_id: inbox,
                    source_id: format!("s{account}"),
                },
            ),
            (
                StreamId::conversation(account),
                conversation_created(
                    account,
                    account,
                    inbox,
                    contact,
                    ConversationStatus::Open,
                    None,
                    None,
                ),
            ),
            (
                StreamId::platform_app(3),
                Event::PermissibleGranted {
                    app_id: 3,
                    target: Permissible::Account(account),
                },
            ),
        ];
        for (stream, event) in &steps {
            apply_one(&env.pool, &events.next(stream, event))
                .await
                .unwrap();
        }
        sqlx::query("insert into read_model.inbox_members (inbox_id, user_id, account_id) values ($1, 5, $2)")
            .bind(inbox)
            .bind(account)
            .execute(&env.pool)
            .await
            .unwrap();
    }
    apply_one(
        &env.pool,
        &events.next(
            &StreamId::account(1),
            &Event::AccountDeleted { account_id: 1 },
        ),
    )
    .await
    .unwrap();

    for (table, column) in [
        ("accounts", "id"),
        ("account_users", "account_id"),
        ("inboxes", "account_id"),
        ("inbox_members", "account_id"),
        ("contacts", "account_id"),
        ("contact_inboxes", "account_id"),
        ("conversations", "account_id"),
        ("conversation_counts", "account_id"),
        ("platform_app_permissibles", "target_id"),
    ] {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "select {column} from read_model.{table} order by 1"
        ))
        .fetch_all(&env.pool)
        .await
        .unwrap();
        assert_eq!(ids, vec![2], "{table} keeps only the other account");
    }
    assert_eq!(env.scalar("select count(*) from read_model.users").await, 1);
    env.cleanup().await;
}

#[tokio::test]
async fn applying_an_event_twice_changes_nothing() {
    let env = TestEnv::new().await;
    let mut events = Envelopes::default();
    let contact = events.next(&StreamId::contact(20), &contact_created(20, 1, "Bo"));
    let opened = events.next(
        &StreamId::conversation(7),
        &conversation_created(7, 1, 10, 20, ConversationStatus::Open, None, None),
    );
    let resolved = events.next(
        &StreamId::conversation(7),
        &status_changed(7, 1, ConversationStatus::Open, ConversationStatus::Resolved),
    );
    for e in [&contact, &opened, &resolved] {
        assert_eq!(apply_one(&env.pool, e).await.unwrap(), Applied::Applied);
    }
    let before = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    let (counters_before, _) = counters_and_counts(&env.pool).await;

    for e in [&contact, &opened, &resolved, &opened] {
        assert_eq!(apply_one(&env.pool, e).await.unwrap(), Applied::Duplicate);
    }
    let (counters_after, counted) = counters_and_counts(&env.pool).await;
    assert_eq!(counters_after, counters_before);
    assert_eq!(counters_after, counted);
    assert_eq!(
        env.scalar("select conversations_count from read_model.contacts where id = 20")
            .await,
        1
    );
    assert_eq!(env.applied().await, 3);
    let after = projections::checksum(&env.pool, "read_model")
        .await
        .unwrap();
    assert_eq!(before, after, "a second application changes no row");
    env.cleanup().await;
}

#[tokio::test]
async fn an_apply_records_the_stream_version_advances_the_checkpoint_and_notifies_at_commit() {
    let env = TestEnv::new().await;
    let mut listener = PgListener::connect_with(&env.pool).await.unwrap();
    listener
        .listen(projections::apply::APPLIED_CHANNEL)
        .await
        .unwrap();
    let e = envelope("contact:20", 1, 41, &contact_created(20, 1, "Bo"));
    apply_one(&env.pool, &e).await.unwrap();

    let notification = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification comes")
        .unwrap();
    assert_eq!(notification.payload(), "contact:20 1");
    assert_eq!(
        env.scalar("select version from read_model.stream_versions where stream_id = 'contact:20'")
            .await,
        1
    );
    let state: (i64, i64, i64) = sqlx::query_as(
        "select last_txid::text::bigint, last_position, applied from read_model.projection_state",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(state, (e.txid, 41, 1));
    // The listener holds a connection of the pool, and closing the pool
    // waits for every connection: it goes first (the run hung here once).
    drop(listener);
    env.cleanup().await;
}

#[tokio::test]
async fn an_event_that_cannot_be_decoded_is_a_permanent_error_and_changes_nothing() {
    let env = TestEnv::new().await;
    let mut e = envelope("contact:20", 1, 1, &contact_created(20, 1, "Bo"));
    e.data = json!({"contact_id": "not a number"});
    let err = apply_one(&env.pool, &e).await.unwrap_err();
    assert!(matches!(err, ApplyError::Decode(_)), "{err}");
    assert!(!err.is_transient());
    assert_eq!(
        env.scalar("select count(*) from read_model.stream_versions")
            .await,
        0
    );
    assert_eq!(env.applied().await, 0);
    env.cleanup().await;
}

/// The live worker may apply two streams' events in another order than the
/// log (a redelivery after a NATS restart): a contact's `last_activity_at`
/// must not depend on it, or the live read model and a rebuild differ (the
/// NATS-restart fault test caught it). An older conversation applied after a
/// newer one leaves the newer time.
#[tokio::test]
async fn a_contacts_last_activity_does_not_go_back_when_streams_apply_out_of_log_order() {
    let env = TestEnv::new().await;
    let open = domain::conversation::ConversationStatus::Open;
    apply_one(
        &env.pool,
        &envelope("contact:1", 1, 1, &contact_created(1, 1, "Cleo")),
    )
    .await
    .unwrap();
    let newer = envelope(
        "conversation:2",
        1,
        5,
        &conversation_created(2, 1, 1, 1, open, None, None),
    );
    let older = envelope(
        "conversation:1",
        1,
        3,
        &conversation_created(1, 1, 1, 1, open, None, None),
    );
    apply_one(&env.pool, &newer).await.unwrap();
    apply_one(&env.pool, &older).await.unwrap();
    assert_eq!(
        env.scalar(
            "select extract(epoch from last_activity_at)::bigint from read_model.contacts where id = 1"
        )
        .await,
        at(5).timestamp()
    );
    assert_eq!(
        env.scalar("select conversations_count from read_model.contacts where id = 1")
            .await,
        2
    );
    env.cleanup().await;
}
