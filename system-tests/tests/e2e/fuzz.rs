//! Bad input, schema-driven (issue 4): schemathesis fuzzes every operation of
//! `docs/openapi.yaml` against a whole system through the front door, with
//! `deploy/fuzz.sh`. The property: no 5xx, and every 4xx is a JSON error.
//! The examples per operation are few here (`FUZZ_EXAMPLES`, 5 by default in
//! this test) to keep CI short; `deploy/fuzz.sh` alone runs more.

use crate::harness::System;

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_non_json_error() {
    let system = System::start().await;
    let script = system.workspace().join("deploy/fuzz.sh");
    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| "5".to_owned());
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .env("BASE_URL", system.base_url())
        .env("PLATFORM_TOKEN", system.platform_token())
        .env("FUZZ_EXAMPLES", &examples)
        .output()
        .await
        .expect("running deploy/fuzz.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    };
    eprintln!("{}", tail(&stdout));
    assert!(
        output.status.success(),
        "schemathesis found failures ({}):\n{}\n{}",
        output.status,
        tail(&stdout),
        tail(&stderr)
    );
}
