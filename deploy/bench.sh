#!/usr/bin/env bash
# The benchmark (issue 5): a clean system of its own, driven through the
# front door by the `bench` tool, which writes docs/benchmarks.md.
#
#   deploy/bench.sh                 # the full run: 100k conversations, 1M messages
#   deploy/bench.sh --quick         # a smaller seed and shorter runs (minutes)
#   deploy/bench.sh -- --seconds 5  # anything after -- goes to the tool
#
# It stops a system deploy/run.sh started (they share .run/ and the ports),
# starts one on database chatwoot_bench (dropped first) and a NATS stream of
# its own (unique per run; the tool deletes it at the end), with the rate limit off,
# runs the tool, and stops the system again. Settings in .env still apply
# and win over these, so leave DATABASE_URL and NATS_* out of .env to bench.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

TOOL_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) TOOL_ARGS+=(--seconds 3 --conversations 2000 --messages-per-conversation 5); shift ;;
        --) shift; TOOL_ARGS+=("$@"); break ;;
        *) die "unknown option $1 (see the head of deploy/bench.sh)" ;;
    esac
done

RUN_TAG="$(date +%s)"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/chatwoot_bench"
export NATS_STREAM="CHATWOOT_BENCH_$RUN_TAG"
export NATS_SUBJECT_PREFIX="bench$RUN_TAG.events"
export RATE_LIMIT_PER_SECOND=0
export PROFILE=release
load_config
need_command pgbench postgresql-client

if [[ -f "$RUN_DIR/command-service.pid" ]]; then
    say "stopping the running system (the benchmark needs .run/ and the ports)"
    "$ROOT/deploy/stop.sh"
fi
ensure_postgres
# The tool (pgbench among it) reaches Postgres as the services do.
prefer_local_socket
say "a clean database: $PG_DATABASE"
psql_admin -c "drop database if exists \"$PG_DATABASE\" with (force)"

cleanup() {
    "$ROOT/deploy/stop.sh" || true
}
EXIT_HOOKS+=(cleanup)

"$ROOT/deploy/run.sh"
# shellcheck disable=SC1091
source "$RUN_DIR/env"
export BASE_URL PLATFORM_TOKEN
say "benchmarking (results go to docs/benchmarks.md)"
"${CARGO_TARGET_DIR:-$ROOT/target}/release/bench" \
    --run-dir "$RUN_DIR" \
    --projections-bin "${CARGO_TARGET_DIR:-$ROOT/target}/release/projections" \
    "${TOOL_ARGS[@]}"
