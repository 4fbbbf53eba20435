#!/usr/bin/env bash
# The whole check, as CI runs it (.ci/run): formatting, clippy, the domain
# purity check, the binaries, every test (the system tests drive those
# binaries behind nginx), and the docs. Postgres and NATS are brought up as
# deploy/run.sh does, and stopped again if this script started them.
# Every step runs; the script fails if any step failed.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# The tests use the default local services (see the test helpers), whatever
# .env says, so it is not read here.
DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
NATS_URL="nats://127.0.0.1:4222"
parse_urls
ensure_build_tools

say "services the tests need"
ensure_postgres
ensure_nats
ensure_nginx_installed
stop_started() {
    if [[ " ${STARTED[*]} " == *" nats-server "* ]]; then stop_processes nats-server; fi
    if [[ " ${STARTED[*]} " == *" postgres "* ]]; then stop_postgres; fi
}
EXIT_HOOKS+=(stop_started)

FAILED=()
TIMINGS=()
# step NAME COMMAND...: runs it, records success or failure and its duration.
step() {
    local name="$1" start=$SECONDS
    shift
    printf '\n==> %s\n' "$name"
    if "$@"; then
        TIMINGS+=("ok     $((SECONDS - start))s  $name")
    else
        TIMINGS+=("FAILED $((SECONDS - start))s  $name")
        FAILED+=("$name")
    fi
}

# `domain` is pure: none of these may be among its normal dependencies.
# `cargo tree -i X` fails with "did not match any packages" when X is not in
# domain's graph at all, and prints nothing when X is there only as a dev or
# build dependency; both mean pure. Printed lines mean X is a dependency.
domain_is_pure() {
    local crate out err rc ok=0
    err="$(mktemp)"
    for crate in sqlx tokio actix-web async-nats reqwest infra; do
        rc=0
        out="$(cargo tree -q -p domain --all-features -e normal -i "$crate" --prefix none 2>"$err")" || rc=$?
        if [[ $rc -ne 0 ]]; then
            if grep -q 'did not match any packages' "$err"; then
                echo "domain does not depend on $crate"
            else
                cat "$err" >&2
                echo "cargo tree failed for $crate" >&2
                ok=1
            fi
        elif [[ -n "$out" ]]; then
            printf 'domain depends on %s:\n%s\n' "$crate" "$out" >&2
            ok=1
        else
            echo "domain does not depend on $crate"
        fi
    done
    rm -f "$err"
    return $ok
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "domain purity" domain_is_pure
step "cargo build --bins (for the system tests)" cargo build --workspace --bins
# Integration tests each start real servers on fresh databases: a few at a
# time suits a 2-core machine.
step "cargo test" cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
step "cargo doc" env RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps

printf '\n==> summary\n'
printf '    %s\n' "${TIMINGS[@]}"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    die "failed: ${FAILED[*]}"
fi
say "all checks passed"
