//! Tokens are stored only hashed: no table and no event holds one in clear.

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn access_tokens_are_stored_only_as_their_hashes() {
    let app = TestApp::spawn().await;
    let (status, user) = app
        .json(
            Method::POST,
            "/platform/api/v1/users",
            Some(&app.platform_token),
            Some(json!({"name": "Hash Me", "email": "hash@example.com", "password": "Password1!"})),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    let token = user["access_token"].as_str().unwrap().to_owned();
    let hash = infra::tokens::hash(&token);

    for token in [token.as_str(), app.platform_token.as_str()] {
        // Every text of every table of every schema, rendered as a row.
        let tables: Vec<(String, String)> = sqlx::query_as(
            "select table_schema, table_name from information_schema.tables \
             where table_schema in ('event_store', 'write_model', 'read_model') \
               and table_type = 'BASE TABLE'",
        )
        .fetch_all(&app.env.pool)
        .await
        .unwrap();
        assert!(tables.len() > 10, "{tables:?}");
        for (schema, table) in tables {
            let found: i64 = sqlx::query_scalar(&format!(
                "select count(*) from {schema}.{table} t where t::text like '%' || $1 || '%'"
            ))
            .bind(token)
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
            assert_eq!(found, 0, "{schema}.{table} holds a token in clear");
        }
    }
    let stored: i64 =
        sqlx::query_scalar("select count(*) from write_model.access_tokens where token_hash = $1")
            .bind(&hash)
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(stored, 1, "the hash is what is stored");
}
