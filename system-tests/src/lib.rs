//! Whole-system tests, and nothing else: this library is empty on purpose.
//!
//! The tests (`tests/e2e/`) start the real binaries the workspace builds —
//! `command-service`, two `relay`s, `projections`, `query-service` — and
//! nginx with the config rendered from `deploy/nginx.conf.template`, each test
//! on its own database and NATS stream, and then drive the system through the
//! front door only, as a Chatwoot client would. The binaries must be built
//! first (`cargo build --workspace --bins`; `deploy/test.sh` does it).
