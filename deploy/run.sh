#!/usr/bin/env bash
# Brings the whole system up on this machine: Postgres and NATS (started from
# .run/ if nothing answers on their ports), the database, the release
# binaries, two relays (leader and standby), the projection worker, the query
# and command services and nginx in front of them. Starts only what is not
# running, so running it again restarts a process that died.
# Then prints the base URL and a platform-app token, also kept in .run/env.
#
# Configuration: .env (see .env.example). Stop everything with deploy/stop.sh.
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$RUN_DIR" "$LOG_DIR"
load_config
load_token_secret
need_command curl curl
ensure_build_tools

say "Postgres"
ensure_postgres
prefer_local_socket
ensure_database

say "NATS"
ensure_nats

say "nginx"
ensure_nginx_installed

say "building the binaries ($PROFILE profile)"
if [[ "$PROFILE" == release ]]; then
    cargo build --manifest-path "$ROOT/Cargo.toml" --release --bins
else
    cargo build --manifest-path "$ROOT/Cargo.toml" --bins
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$TARGET_DIR" == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
BIN="$TARGET_DIR/$PROFILE"

binary_of() {
    case "$1" in
        relay-*) echo "$BIN/relay" ;;
        *) echo "$BIN/$1" ;;
    esac
}

port_of() {
    case "$1" in
        relay-1) echo "$RELAY_PORT" ;;
        relay-2) echo "$RELAY_STANDBY_PORT" ;;
        projections) echo "$PROJECTIONS_PORT" ;;
        webhooks) echo "$WEBHOOKS_PORT" ;;
        query-service) echo "$QUERY_SERVICE_PORT" ;;
        command-service) echo "$COMMAND_SERVICE_PORT" ;;
        nginx) echo "$FRONT_DOOR_PORT" ;;
    esac
}

say "starting the processes"
# Their logs go to files: no colour codes.
export NO_COLOR=1
# Relays and the projection worker first: the worker creates the read model
# the query service reads. All of them apply the migrations (serialised by
# sqlx's lock), so they may start together.
for name in "${APP_PROCESSES[@]}"; do
    bin="$(binary_of "$name")"
    if pid="$(running_pid "$name")"; then
        note "$name is already running (pid $pid)"
        if [[ "$bin" -nt "$(pid_file "$name")" ]]; then
            warn "$name runs an older build; deploy/stop.sh then deploy/run.sh picks up the new one"
        fi
        continue
    fi
    [[ -x "$bin" ]] || die "$bin was not built"
    port="$(port_of "$name")"
    if port_open 127.0.0.1 "$port"; then
        die "port $port (for $name) is taken by another program"
    fi
    PORT="$port" start_process "$name" "$bin"
    note "started $name on port $port (log: .run/logs/$name.log)"
done
for name in "${APP_PROCESSES[@]}"; do
    wait_health "$name" "$(port_of "$name")"
    note "$name is healthy"
done

# nginx: the config is rendered on every run; a running nginx reloads it
# when it changed.
NGINX_DIR="$RUN_DIR/nginx"
mkdir -p "$NGINX_DIR"
render_nginx_conf "$NGINX_DIR/nginx.conf.new" "$NGINX_DIR" "$LOG_DIR" "$FRONT_DOOR_PORT" \
    "127.0.0.1:$COMMAND_SERVICE_PORT" "127.0.0.1:$QUERY_SERVICE_PORT"
NGINX="$(nginx_binary)"
nginx_args=(-p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -g "daemon off; pid $NGINX_DIR/nginx.pid;")
if pid="$(running_pid nginx)"; then
    if cmp -s "$NGINX_DIR/nginx.conf.new" "$NGINX_DIR/nginx.conf"; then
        note "nginx is already running (pid $pid)"
        rm -f "$NGINX_DIR/nginx.conf.new"
    else
        mv "$NGINX_DIR/nginx.conf.new" "$NGINX_DIR/nginx.conf"
        "$NGINX" -t -q "${nginx_args[@]}" || die "the new nginx config does not load"
        kill -HUP "$pid"
        note "nginx reloaded its new config (pid $pid)"
    fi
else
    mv "$NGINX_DIR/nginx.conf.new" "$NGINX_DIR/nginx.conf"
    if port_open 127.0.0.1 "$FRONT_DOOR_PORT"; then
        die "port $FRONT_DOOR_PORT (FRONT_DOOR_PORT) is taken by another program"
    fi
    "$NGINX" -t -q "${nginx_args[@]}" 2>>"$LOG_DIR/nginx.log" ||
        die "nginx rejects $NGINX_DIR/nginx.conf; see .run/logs/nginx.log"
    start_process nginx "$NGINX" "${nginx_args[@]}"
    note "started nginx on 127.0.0.1:$FRONT_DOOR_PORT (log: .run/logs/nginx.log)"
fi
# /health through the front door reaches the query service.
wait_health nginx "$FRONT_DOOR_PORT" 30
BASE_URL="http://127.0.0.1:$FRONT_DOOR_PORT"

say "platform token"
token_known() {
    local hash
    hash="$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"
    [[ "$(psql "$DATABASE_URL" -X -q -tA -c \
        "select 1 from write_model.access_tokens where owner_type = 'platform_app' and token_hash = '$hash'" \
        2>/dev/null)" == 1 ]]
}
PLATFORM_TOKEN=""
if [[ -f "$ENV_FILE" ]]; then
    PLATFORM_TOKEN="$(sed -n 's/^PLATFORM_TOKEN=//p' "$ENV_FILE" | tail -n1)"
fi
if [[ -n "$PLATFORM_TOKEN" ]] && token_known "$PLATFORM_TOKEN"; then
    note "the token in .run/env still works"
else
    PLATFORM_TOKEN="$("$BIN/chatwoot-admin" create-platform-app --name "local ($(hostname))" \
        2>>"$LOG_DIR/chatwoot-admin.log")" || die "chatwoot-admin failed; see .run/logs/chatwoot-admin.log"
    [[ "$PLATFORM_TOKEN" =~ ^[[:alnum:]]+$ ]] || die "chatwoot-admin printed no token"
    note "created a platform app"
fi
(
    umask 077
    printf 'BASE_URL=%s\nPLATFORM_TOKEN=%s\n' "$BASE_URL" "$PLATFORM_TOKEN" >"$ENV_FILE"
)

# The token reaches the query side through the whole pipeline (log → relay →
# JetStream → projection): a 404 for an account that does not exist means the
# query service knows the token; a 401 means it does not (yet).
deadline=$((SECONDS + 30))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "api_access_token: $PLATFORM_TOKEN" \
    "$BASE_URL/platform/api/v1/accounts/0")" == 404 ]]; do
    if ((SECONDS >= deadline)); then
        warn "the query side does not know the platform token yet; see .run/logs/{relay-1,relay-2,projections}.log"
        break
    fi
    sleep 0.2
done

cat <<EOF

The system is up.
  BASE_URL=$BASE_URL
  PLATFORM_TOKEN=$PLATFORM_TOKEN
(both in .run/env; logs in .run/logs/; stop with deploy/stop.sh)

Try:
  curl -s -X POST $BASE_URL/platform/api/v1/accounts \\
    -H 'api_access_token: $PLATFORM_TOKEN' -H 'Content-Type: application/json' \\
    -d '{"name": "Acme"}'
EOF
