#!/usr/bin/env bash
# Stops what deploy/run.sh started: nginx and the services first (SIGTERM,
# then SIGKILL after STOP_TIMEOUT seconds, default 20), then NATS and Postgres
# if — and only if — run.sh started them from .run/. Data (.run/pgdata,
# .run/nats, .run/token_secret) and logs stay.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_config

# Front door first, so no new request arrives; then the writers, the readers,
# the worker and the relays, which finish in-flight work on SIGTERM.
stop_processes nginx command-service query-service webhooks projections relay-2 relay-1
stop_processes nats-server
stop_postgres
say "stopped"
