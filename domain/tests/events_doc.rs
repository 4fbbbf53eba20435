//! Keeps `docs/events.md` true: it is rendered from the `Event` enum's source
//! (`domain/src/event.rs`, rustfmt-formatted) and compared with the committed
//! file. After changing the enum, regenerate it:
//!
//! ```text
//! UPDATE_EVENTS_DOC=1 cargo test -p domain --test events_doc
//! ```

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly; clippy's allow-unwrap-in-tests only covers #[test] fns"
)]

use std::path::{Path, PathBuf};

/// One field of a variant.
#[derive(Debug)]
struct Field {
    name: String,
    ty: String,
    doc: String,
    serde: Vec<String>,
}

/// One variant of `Event`.
#[derive(Debug)]
struct Variant {
    name: String,
    doc: String,
    fields: Vec<Field>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The text of a `///` line at exactly this indentation.
fn doc_line(line: &str, indent: usize) -> Option<&str> {
    let rest = line.strip_prefix(&" ".repeat(indent))?;
    rest.strip_prefix("///").map(str::trim)
}

fn join(doc: &mut Vec<String>) -> String {
    let text = doc.join(" ");
    doc.clear();
    text
}

/// The variants of `pub enum Event`, in source order.
fn parse(source: &str) -> Vec<Variant> {
    let start = source
        .find("pub enum Event {")
        .expect("event.rs declares `pub enum Event {`");
    let mut variants = Vec::new();
    let mut doc = Vec::new();
    let mut field_doc = Vec::new();
    let mut serde = Vec::new();
    let mut current: Option<Variant> = None;
    for line in source[start..].lines().skip(1) {
        if line == "}" {
            break;
        }
        if let Some(text) = doc_line(line, 8) {
            field_doc.push(text.to_owned());
        } else if let Some(text) = doc_line(line, 4) {
            doc.push(text.to_owned());
        } else if let Some(attr) = line.trim().strip_prefix("#[serde(") {
            serde.push(attr.trim_end_matches(")]").to_owned());
        } else if line.trim_start().starts_with("//") || line.trim().is_empty() {
            continue;
        } else if line.starts_with("    }") {
            variants.extend(current.take());
        } else if let Some(name) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(" {")) {
            assert!(!name.starts_with(' '), "unexpected line in Event: {line:?}");
            current = Some(Variant {
                name: name.to_owned(),
                doc: join(&mut doc),
                fields: Vec::new(),
            });
        } else if let Some(name) = line
            .strip_prefix("    ")
            .and_then(|l| l.strip_suffix(','))
            .filter(|l| !l.starts_with(' '))
        {
            // A unit variant: none today, but do not lose it.
            variants.push(Variant {
                name: name.to_owned(),
                doc: join(&mut doc),
                fields: Vec::new(),
            });
        } else if let Some((name, ty)) = line
            .strip_prefix("        ")
            .and_then(|l| l.strip_suffix(','))
            .and_then(|l| l.split_once(": "))
        {
            let variant = current
                .as_mut()
                .unwrap_or_else(|| panic!("a field outside a variant: {line:?}"));
            variant.fields.push(Field {
                name: name.to_owned(),
                ty: ty.to_owned(),
                doc: join(&mut field_doc),
                serde: std::mem::take(&mut serde),
            });
        } else {
            panic!("a line of the Event enum this parser does not know: {line:?}");
        }
    }
    variants
}

/// The names `Event::event_type` returns.
fn event_type_names(source: &str) -> Vec<String> {
    let start = source.find("pub fn event_type(&self)").unwrap();
    let end = start + source[start..].find("\n    }\n").unwrap();
    source[start..end]
        .lines()
        .filter_map(|l| {
            l.split_once("=> \"")
                .map(|(_, r)| r.trim_end_matches("\","))
        })
        .map(str::to_owned)
        .collect()
}

/// The stream an event is appended to: named by its first id field.
fn stream_kind(variant: &Variant) -> &'static str {
    let first = variant.fields.first().map(|f| f.name.as_str());
    match first {
        Some("message_id") => "message",
        Some("conversation_id") => "conversation",
        Some("contact_id") => "contact",
        Some("team_id") => "team",
        Some("inbox_id") => "inbox",
        Some("hook_id") => "hook",
        Some("webhook_id") => "webhook",
        Some("agent_bot_id") => "agent_bot",
        Some("app_id") => "platform_app",
        Some("user_id") => "user",
        Some("account_id") => "account",
        other => panic!(
            "{}: no stream kind for a first field {other:?}; teach stream_kind",
            variant.name
        ),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn render(variants: &[Variant]) -> String {
    let mut out = String::new();
    out.push_str(
        "# Event types\n\n\
         <!-- Generated from `domain/src/event.rs` by `domain/tests/events_doc.rs`: do not edit. -->\n\n\
         Generated from the `Event` enum (`domain/src/event.rs`) and checked by a test, so it \
         cannot drift: after changing the enum run\n\n\
         ```sh\nUPDATE_EVENTS_DOC=1 cargo test -p domain --test events_doc\n```\n\n\
         and commit this file.\n\n\
         Every event is stored in `event_store.events` as its type name (`event_type`), a \
         schema version and a JSON payload: the fields below, without a type tag. Who caused \
         it and through which request is not in the payload but in the event's metadata \
         (`actor_type`: `user`, `agent_bot`, `platform_app` or `system`; `actor_id`; \
         `correlation_id`, the request's `X-Correlation-Id` or its request id; \
         `causation_id`), which the CloudEvents envelope carries as `actortype`, `actorid`, \
         `correlationid` and `causationid` (docs/feed.md). The history endpoints \
         (`/conversations/{id}/history`, `/contacts/{id}/history`, `/audit_events`) show \
         both. Ids are global (a conversation's stream is named by its global id, not its \
         display id). The stream is `<kind>:<id>` of the first id field. A field marked \
         `serde: flatten` contributes its type's own fields to the top level of the payload; \
         one marked `default` may be absent in events written before it existed.\n\n",
    );
    out.push_str("| Event | Stream | Summary |\n|---|---|---|\n");
    for v in variants {
        out.push_str(&format!(
            "| [`{}`](#{}) | `{}:<id>` | {} |\n",
            v.name,
            v.name.to_lowercase(),
            stream_kind(v),
            cell(&v.doc)
        ));
    }
    for v in variants {
        out.push_str(&format!("\n## {}\n\n{}\n\n", v.name, v.doc));
        out.push_str(&format!("Stream: `{}:<id>`.\n\n", stream_kind(v)));
        if v.fields.is_empty() {
            out.push_str("No fields.\n");
            continue;
        }
        out.push_str("| Field | Type | Description |\n|---|---|---|\n");
        for f in &v.fields {
            let mut doc = f.doc.clone();
            for attr in &f.serde {
                doc.push_str(&format!(" (serde: `{attr}`)"));
            }
            out.push_str(&format!(
                "| `{}` | `{}` | {} |\n",
                f.name,
                cell(&f.ty),
                cell(doc.trim())
            ));
        }
    }
    out
}

#[test]
fn the_events_doc_is_generated_from_the_event_enum() {
    let source = std::fs::read_to_string(root().join("domain/src/event.rs")).unwrap();
    let variants = parse(&source);
    let mut parsed: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let mut listed = event_type_names(&source);
    parsed.sort();
    listed.sort();
    assert_eq!(
        parsed, listed,
        "every variant is parsed, and every event_type() name is a variant"
    );
    for v in &variants {
        assert!(!v.doc.is_empty(), "{} has no doc", v.name);
        for f in &v.fields {
            assert!(!f.doc.is_empty(), "{}.{} has no doc", v.name, f.name);
        }
    }
    let rendered = render(&variants);
    let path = root().join("docs/events.md");
    if std::env::var_os("UPDATE_EVENTS_DOC").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/events.md is out of date: run `UPDATE_EVENTS_DOC=1 cargo test -p domain --test events_doc`"
    );
}

#[test]
fn the_parser_reads_docs_fields_and_serde_attributes() {
    let source = "pub enum Event {\n    /// A thing happened.\n    /// Really.\n    Thing {\n        /// Its id.\n        thing_id: i64,\n        /// Maybe.\n        #[serde(default)]\n        maybe: Option<Vec<String>>,\n    },\n    // ---- section ----\n    /// Other.\n    Other {\n        /// Account.\n        account_id: i64,\n    },\n}\n";
    let v = parse(source);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].name, "Thing");
    assert_eq!(v[0].doc, "A thing happened. Really.");
    assert_eq!(v[0].fields[1].ty, "Option<Vec<String>>");
    assert_eq!(v[0].fields[1].serde, ["default"]);
    assert_eq!(v[1].fields[0].doc, "Account.");
}
