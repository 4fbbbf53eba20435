//! Message attachments and inbox avatars: multipart uploads, file types from
//! the content, signed blob URLs served by the query service, deletes that
//! remove the bytes. The blob store is the local directory of each test.

use futures::stream;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app::{Seeded, TestApp};
use infra::settings::BlobBackend;

const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89,
];

fn blob_dir(app: &TestApp) -> std::path::PathBuf {
    match &app.env.settings.blob_backend {
        BlobBackend::Local(dir) => dir.clone(),
        BlobBackend::S3 { .. } => panic!("tests use the local store"),
    }
}

/// Files under the blob directory.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&blob_dir(app), &mut out);
    out
}

async fn api_conversation(app: &TestApp, s: &Seeded) -> i64 {
    let (status, inbox) = app
        .json(
            Method::POST,
            &s.path("/inboxes"),
            Some(&s.admin),
            Some(json!({"name": "In", "channel": {"type": "api"}})),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    let inbox_id = inbox["id"].as_i64().unwrap();
    let (status, c) = app
        .json(
            Method::POST,
            &s.path("/contacts"),
            Some(&s.admin),
            Some(json!({"name": "Carl", "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let contact_id = c["payload"]["contact"]["id"].as_i64().unwrap();
    let (status, conv) = app
        .json(
            Method::POST,
            &s.path("/conversations"),
            Some(&s.admin),
            Some(json!({"contact_id": contact_id, "inbox_id": inbox_id})),
        )
        .await;
    assert_eq!(status, 200, "{conv}");
    conv["id"].as_i64().unwrap()
}

fn form(files: &[(&str, &[u8])]) -> Form {
    let mut form = Form::new()
        .text("content", "see attached")
        .text("private", "false")
        .text("echo_id", "e-1")
        .text("content_attributes", r#"{"in_reply_to": null}"#);
    for (name, bytes) in files {
        form = form.part(
            "attachments[]",
            Part::bytes(bytes.to_vec())
                .file_name(name.to_string())
                .mime_str("text/plain")
                .unwrap(),
        );
    }
    form
}

async fn send(app: &TestApp, s: &Seeded, display_id: i64, form: Form) -> (u16, Value) {
    let res = app
        .client
        .post(format!(
            "{}{}",
            app.command_url,
            s.path(&format!("/conversations/{display_id}/messages"))
        ))
        .header("api_access_token", &s.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// GETs a data_url's path on the query service (no token).
async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    let path = url.find("/rails/").map(|i| &url[i..]).unwrap();
    app.client
        .get(format!("{}{path}", app.query_url))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn case_65_multipart_png_is_stored_as_an_image_and_its_data_url_serves_the_bytes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let display_id = api_conversation(&app, &s).await;
    // A PNG named .txt and sent as text/plain: the content decides.
    let (status, m) = send(&app, &s, display_id, form(&[("notes.txt", PNG)])).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content"], "see attached");
    assert_eq!(m["echo_id"], "e-1");
    let a = &m["attachments"][0];
    assert_eq!(a["file_type"], "image", "{m}");
    assert_eq!(a["message_id"], m["id"]);
    assert_eq!(a["account_id"], s.account_id);
    assert_eq!(a["extension"], "txt");
    assert_eq!(a["file_size"], PNG.len());
    assert!(a["id"].as_i64().is_some());
    let data_url = a["data_url"].as_str().unwrap();
    assert_eq!(a["thumb_url"], data_url);

    let res = fetch(&app, data_url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);

    // The list shows it too; bytes are in the directory, not in the log.
    let (status, list) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}/messages")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let listed = list["payload"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == m["id"])
        .unwrap();
    assert_eq!(listed["attachments"][0]["data_url"], data_url);
    assert_eq!(stored_files(&app).len(), 1);
    let payload: Value = sqlx::query_scalar(
        "select payload from event_store.events where event_type = 'MessageCreated'",
    )
    .fetch_one(&app.env.pool)
    .await
    .unwrap();
    let blob = &payload["attachments"][0]["blob"];
    assert_eq!(blob["byte_size"], PNG.len());
    assert_eq!(blob["content_type"], "image/png");
    assert_eq!(blob["file_name"], "notes.txt");
    assert_eq!(blob["checksum"].as_str().unwrap().len(), 64);
    assert!(
        !payload.to_string().contains("iVBOR"),
        "no bytes in the log"
    );
}

#[tokio::test]
async fn fifteen_files_are_accepted_and_sixteen_are_a_422_that_writes_nothing() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let display_id = api_conversation(&app, &s).await;
    let names: Vec<String> = (0..16).map(|i| format!("f{i}.bin")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), &b"plain bytes"[..]))
        .collect();

    let before = app.event_count().await;
    let (status, body) = send(&app, &s, display_id, form(&files)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("15"));
    assert_eq!(app.event_count().await, before);
    assert!(stored_files(&app).is_empty());

    let (status, m) = send(&app, &s, display_id, form(&files[..15])).await;
    assert_eq!(status, 200, "{m}");
    let list = m["attachments"].as_array().unwrap();
    assert_eq!(list.len(), 15);
    assert!(list.iter().all(|a| a["file_type"] == "file"));
    assert_eq!(list[3]["extension"], "bin");
    assert_eq!(stored_files(&app).len(), 15);
}

#[tokio::test]
async fn a_chunked_multipart_body_without_content_length_works() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let display_id = api_conversation(&app, &s).await;
    let boundary = "XyZbOuNdArY";
    let mut body = Vec::new();
    for (name, value) in [
        ("content", "chunked"),
        ("private", "true"),
        ("message_type", "outgoing"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attachments[]\"; filename=\"pic.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(PNG);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    // A stream body: reqwest sends it with Transfer-Encoding: chunked.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(7).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .client
        .post(format!(
            "{}{}",
            app.command_url,
            s.path(&format!("/conversations/{display_id}/messages"))
        ))
        .header("api_access_token", &s.admin)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let m: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content"], "chunked");
    assert_eq!(m["private"], true);
    assert_eq!(m["attachments"][0]["file_type"], "image");
}

#[tokio::test]
async fn case_68_deleting_a_message_removes_its_attachments_and_their_bytes() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let display_id = api_conversation(&app, &s).await;
    let (status, m) = send(
        &app,
        &s,
        display_id,
        form(&[("a.png", PNG), ("b.txt", b"hi")]),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(stored_files(&app).len(), 2);
    let data_url = m["attachments"][0]["data_url"].as_str().unwrap().to_owned();
    let (status, deleted) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/conversations/{display_id}/messages/{}", m["id"])),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["content"], "This message was deleted");
    assert!(deleted.get("attachments").is_none(), "{deleted}");
    assert!(stored_files(&app).is_empty());
    let left: i64 = sqlx::query_scalar("select count(*) from write_model.blob_garbage")
        .fetch_one(&app.env.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(fetch(&app, &data_url).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_tampered_or_foreign_blob_url_is_a_404_and_another_account_cannot_list_it() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let other = app.with_account().await;
    let display_id = api_conversation(&app, &s).await;
    let (status, m) = send(&app, &s, display_id, form(&[("a.png", PNG)])).await;
    assert_eq!(status, 200, "{m}");
    let url = m["attachments"][0]["data_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&app, &url).await.status(), StatusCode::OK);

    // Flip one character of the signature.
    let i = url.find("/blobs/").unwrap() + "/blobs/".len();
    let mut bad = url.clone();
    let c = if &url[i..=i] == "0" { "1" } else { "0" };
    bad.replace_range(i..=i, c);
    assert_eq!(fetch(&app, &bad).await.status(), StatusCode::NOT_FOUND);
    // The same signature on another account's key.
    let forged = url.replace(
        &format!("/attachments/{}/", s.account_id),
        &format!("/attachments/{}/", other.account_id),
    );
    assert_eq!(fetch(&app, &forged).await.status(), StatusCode::NOT_FOUND);

    // Another account's administrator cannot read the message via the API.
    let (status, _) = app
        .json(
            Method::GET,
            &s.path(&format!("/conversations/{display_id}/messages")),
            Some(&other.admin),
            None,
        )
        .await;
    assert!(status == 401 || status == 404, "{status}");
}

#[tokio::test]
async fn case_60_a_multipart_inbox_avatar_is_served_replaced_and_removed() {
    let app = TestApp::spawn().await;
    let s = app.with_account().await;
    let upload = |form: Form, method: Method, path: String| {
        let app = &app;
        let token = s.admin.clone();
        async move {
            let res = app
                .client
                .request(method, format!("{}{}", app.command_url, path))
                .header("api_access_token", token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let avatar = |bytes: &[u8]| {
        Part::bytes(bytes.to_vec())
            .file_name("avatar.png")
            .mime_str("image/png")
            .unwrap()
    };
    let (status, inbox) = upload(
        Form::new()
            .text("name", "Pics")
            .text("channel[type]", "api")
            .part("avatar", avatar(PNG)),
        Method::POST,
        s.path("/inboxes"),
    )
    .await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["name"], "Pics");
    assert_eq!(inbox["channel_type"], "Channel::Api");
    let first = inbox["avatar_url"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(&app, &first).await.bytes().await.unwrap().as_ref(),
        PNG
    );
    let inbox_id = inbox["id"].as_i64().unwrap();

    // Not an image → 422, nothing changes.
    let (status, body) = upload(
        Form::new().part("avatar", avatar(b"not an image")),
        Method::PATCH,
        s.path(&format!("/inboxes/{inbox_id}")),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    let mut png2 = PNG.to_vec();
    png2.push(0);
    let (status, inbox) = upload(
        Form::new()
            .text("enable_auto_assignment", "false")
            .part("avatar", avatar(&png2)),
        Method::PATCH,
        s.path(&format!("/inboxes/{inbox_id}")),
    )
    .await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["enable_auto_assignment"], false);
    let second = inbox["avatar_url"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        fetch(&app, &second).await.bytes().await.unwrap().as_ref(),
        &png2[..]
    );
    assert_eq!(fetch(&app, &first).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stored_files(&app).len(), 1);

    let (status, inbox) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/inboxes/{inbox_id}/avatar")),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["avatar_url"], "");
    assert!(stored_files(&app).is_empty());
    let (status, _) = app
        .json(
            Method::DELETE,
            &s.path(&format!("/inboxes/{inbox_id}/avatar")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, 401);
}
