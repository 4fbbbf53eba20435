# shellcheck shell=bash
# Helpers shared by deploy/run.sh, deploy/stop.sh and deploy/test.sh: paths,
# configuration, system packages, Postgres, NATS, nginx and the supervision of
# the processes (pid in .run/<name>.pid, log in .run/logs/<name>.log).
# Sourced, never run on its own.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"
LOG_DIR="$RUN_DIR/logs"
# shellcheck disable=SC2034 # used by run.sh
ENV_FILE="$RUN_DIR/env"

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Configuration

# Reads .env (if any) and fills in every variable the processes and the
# scripts read, with the defaults of .env.example.
load_config() {
    if [[ -f "$ROOT/.env" ]]; then
        set -a
        # shellcheck disable=SC1091
        source "$ROOT/.env"
        set +a
    fi
    : "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/chatwoot_es}"
    : "${DATABASE_POOL_SIZE:=10}"
    : "${NATS_URL:=nats://127.0.0.1:4222}"
    : "${NATS_STREAM:=CHATWOOT_EVENTS}"
    : "${NATS_SUBJECT_PREFIX:=chatwoot.events}"
    : "${HOST:=127.0.0.1}"
    : "${RUST_LOG:=info,sqlx=warn}"
    : "${LOG_FORMAT:=text}"
    : "${READ_YOUR_WRITES_TIMEOUT_MS:=5000}"
    : "${MAX_BODY_BYTES:=2097152}"
    : "${PROJECTION_CONSUMER:=read-model}"
    : "${FRONT_DOOR_PORT:=8080}"
    : "${FRONTEND_URL:=http://127.0.0.1:$FRONT_DOOR_PORT}"
    : "${COMMAND_SERVICE_PORT:=3001}"
    : "${QUERY_SERVICE_PORT:=3002}"
    : "${RELAY_PORT:=3003}"
    : "${RELAY_STANDBY_PORT:=3013}"
    : "${PROJECTIONS_PORT:=3004}"
    : "${WEBHOOKS_PORT:=3005}"
    : "${PROFILE:=release}"
    export DATABASE_URL DATABASE_POOL_SIZE NATS_URL NATS_STREAM NATS_SUBJECT_PREFIX HOST \
        RUST_LOG LOG_FORMAT READ_YOUR_WRITES_TIMEOUT_MS MAX_BODY_BYTES PROJECTION_CONSUMER \
        FRONTEND_URL
    case "$PROFILE" in
        release | debug) ;;
        *) die "PROFILE must be release or debug, not '$PROFILE'" ;;
    esac
    parse_urls
    # The query service reads as a role that may only read the read model.
    : "${QUERY_DATABASE_URL:=postgres://chatwoot_reader@$PG_HOST:$PG_PORT/$PG_DATABASE}"
    export QUERY_DATABASE_URL
}

# TOKEN_SECRET: from the environment or .env, else one generated for this
# clone and kept in .run/token_secret. Access tokens are derived from it, so it
# must stay with the database; stop.sh never deletes it.
load_token_secret() {
    if [[ -z "${TOKEN_SECRET:-}" ]]; then
        local file="$RUN_DIR/token_secret"
        if [[ ! -s "$file" ]]; then
            (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$file")
            note "generated TOKEN_SECRET in .run/token_secret"
        fi
        TOKEN_SECRET="$(<"$file")"
    fi
    export TOKEN_SECRET
}

# Splits DATABASE_URL and NATS_URL into the parts the scripts need.
parse_urls() {
    local re='^(postgres(ql)?://([^@/]*@)?([^:/?]+)(:([0-9]+))?)/([^?]+)(\?.*)?$'
    [[ "$DATABASE_URL" =~ $re ]] || die "DATABASE_URL is not a postgres://[user@]host[:port]/database URL"
    PG_HOST="${BASH_REMATCH[4]}"
    PG_PORT="${BASH_REMATCH[6]:-5432}"
    PG_DATABASE="${BASH_REMATCH[7]}"
    PG_ADMIN_URL="${BASH_REMATCH[1]}/postgres${BASH_REMATCH[8]}"
    re='^(nats|tls)://([^@/]*@)?([^:/]+)(:([0-9]+))?'
    [[ "$NATS_URL" =~ $re ]] || die "NATS_URL is not a nats://host[:port] URL"
    NATS_HOST="${BASH_REMATCH[3]}"
    NATS_PORT="${BASH_REMATCH[5]:-4222}"
}

is_local() { [[ "$1" == 127.0.0.1 || "$1" == localhost ]]; }

# ---------------------------------------------------------------------------
# System packages

SUDO=()
if [[ $EUID -ne 0 ]]; then SUDO=(sudo); fi
APT_UPDATED=0
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0

# Commands to run when the script exits, however it exits.
EXIT_HOOKS=()
run_exit_hooks() {
    local hook
    for hook in "${EXIT_HOOKS[@]}"; do eval "$hook" || true; done
}
trap run_exit_hooks EXIT

apt_update() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        say "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
}

# apt-get install, with a temporary policy-rc.d so that the packages do not
# start their own daemons (a Postgres cluster, nginx on port 80...): the
# scripts run their own, on the project's ports and data directories.
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* yourself"
    if [[ ${#SUDO[@]} -gt 0 ]] && ! command -v sudo >/dev/null; then
        die "installing $* needs root or sudo"
    fi
    apt_update
    say "installing $* (apt-get)"
    if [[ ! -e $POLICY_RC ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY_RC" >/dev/null
        "${SUDO[@]}" chmod 755 "$POLICY_RC"
        POLICY_RC_OURS=1
        EXIT_HOOKS+=(remove_policy_rc)
    fi
    local rc=0
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
    remove_policy_rc
    [[ $rc -eq 0 ]] || die "apt-get install $* failed"
}

remove_policy_rc() {
    if [[ $POLICY_RC_OURS -eq 1 ]]; then
        "${SUDO[@]}" rm -f "$POLICY_RC"
        POLICY_RC_OURS=0
    fi
}

# Is PACKAGE known to apt?
apt_has() {
    apt_update
    apt-cache show "$1" 2>/dev/null | grep -q '^Package:'
}

# Installs package $2 unless command $1 exists.
need_command() {
    command -v "$1" >/dev/null || apt_install "$2"
    command -v "$1" >/dev/null || die "$1 is still missing after installing $2"
}

# Cargo, and the C toolchain Rust links with (rustup does not install it;
# build scripts such as ring's compile C too).
ensure_build_tools() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
    if ! command -v cc >/dev/null; then apt_install gcc libc6-dev; fi
    command -v cc >/dev/null || die "no C compiler (cc) after installing gcc"
}

# ---------------------------------------------------------------------------
# Waiting

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT WHAT [SECONDS]
wait_port() {
    local deadline=$((SECONDS + ${4:-30}))
    until port_open "$1" "$2"; do
        ((SECONDS < deadline)) || die "$3 did not open $1:$2 in ${4:-30}s"
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------
# Postgres

pg_bin_dir() {
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    elif command -v initdb >/dev/null; then
        dirname "$(command -v initdb)"
    fi
}

# initdb and pg_ctl refuse to run as root: as root they run as user postgres.
pg_as() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The project-local data directory, .run/pgdata. As root, Postgres runs as
# user postgres, which may not reach a clone under a private home directory;
# then the cluster lives under /var/lib/postgresql instead (PGDATA_DIR overrides).
pg_data_dir() {
    if [[ -n "${PGDATA_DIR:-}" ]]; then
        echo "$PGDATA_DIR"
    elif [[ $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 &&
        ! runuser -u postgres -- test -x "$RUN_DIR" 2>/dev/null; then
        echo "/var/lib/postgresql/chatwoot-es-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
    else
        echo "$RUN_DIR/pgdata"
    fi
}

# Makes sure Postgres answers at DATABASE_URL's host and port; starts a
# project-local cluster (trust auth, loopback only) when nothing listens there.
ensure_postgres() {
    if port_open "$PG_HOST" "$PG_PORT"; then
        note "Postgres is up at $PG_HOST:$PG_PORT"
        return
    fi
    is_local "$PG_HOST" || die "Postgres at $PG_HOST:$PG_PORT is not reachable"
    local bin
    bin="$(pg_bin_dir)"
    if [[ -z "$bin" ]]; then
        apt_install postgresql
        bin="$(pg_bin_dir)"
        [[ -n "$bin" ]] || die "no initdb found under /usr/lib/postgresql/*/bin after installing postgresql"
    fi
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    local data
    data="$(pg_data_dir)"
    if [[ ! -s "$data/PG_VERSION" ]]; then
        say "creating a Postgres cluster in $data"
        mkdir -p "$data"
        chmod 700 "$data"
        if [[ $EUID -eq 0 ]]; then chown postgres: "$data"; fi
        pg_as "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
        cat <<EOF | pg_as tee -a "$data/postgresql.conf" >/dev/null
# Added by deploy/: loopback only, no Unix socket (no root-owned directory needed).
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 300
EOF
    fi
    local log="$LOG_DIR/postgres.log"
    if [[ $EUID -eq 0 ]]; then
        touch "$log" && chown postgres: "$log"
        runuser -u postgres -- test -w "$log" 2>/dev/null || log="$data/postgres.log"
    fi
    say "starting Postgres on 127.0.0.1:$PG_PORT (log: $log)"
    pg_as "$bin/pg_ctl" -D "$data" -l "$log" -o "-p $PG_PORT" -w -t 60 start >/dev/null ||
        die "Postgres did not start; see $log"
    wait_port 127.0.0.1 "$PG_PORT" Postgres
    STARTED+=(postgres)
}

# A local Postgres is reached through its Unix socket where it has one:
# cheaper than loopback TCP for every round trip (docs/performance.md,
# seventh session: list pages 6,483/s -> 7,819/s, read-your-writes p99 at
# 1,000/s 214 -> 119 ms in one quick benchmark each). DATABASE_URL and
# QUERY_DATABASE_URL get `host=<socket directory>`, which libpq and sqlx
# both read; a URL that names its own `host=` is left alone, and
# PG_SOCKET_DIR=off keeps TCP. The project's own cluster listens on TCP only,
# so with it nothing changes. Call after ensure_postgres.
prefer_local_socket() {
    [[ "${PG_SOCKET_DIR:-}" == off ]] && return 0
    is_local "$PG_HOST" || return 0
    local dir found=""
    for dir in ${PG_SOCKET_DIR:-} /var/run/postgresql /run/postgresql /tmp; do
        if [[ -S "$dir/.s.PGSQL.$PG_PORT" ]] &&
            psql "$(with_socket "$PG_ADMIN_URL" "$dir")" -X -q -tA -c 'select 1' >/dev/null 2>&1; then
            found="$dir"
            break
        fi
    done
    if [[ -z "$found" ]]; then
        [[ -z "${PG_SOCKET_DIR:-}" ]] || warn "no Postgres socket for port $PG_PORT in $PG_SOCKET_DIR; using TCP"
        return 0
    fi
    DATABASE_URL="$(with_socket "$DATABASE_URL" "$found")"
    if [[ "$QUERY_DATABASE_URL" =~ ^postgres(ql)?://([^@/]*@)?(127\.0\.0\.1|localhost)(:$PG_PORT)?/ ]]; then
        QUERY_DATABASE_URL="$(with_socket "$QUERY_DATABASE_URL" "$found")"
    fi
    PG_ADMIN_URL="$(with_socket "$PG_ADMIN_URL" "$found")"
    export DATABASE_URL QUERY_DATABASE_URL
    note "Postgres through its socket in $found (PG_SOCKET_DIR=off for TCP)"
}

# with_socket URL DIR: URL with host=DIR added, unless it names a host= already.
with_socket() {
    case "$1" in
        *\?host=* | *\&host=*) echo "$1" ;;
        *\?*) echo "$1&host=$2" ;;
        *) echo "$1?host=$2" ;;
    esac
}

# Stops the project-local cluster if it runs.
stop_postgres() {
    local bin data
    bin="$(pg_bin_dir)"
    data="$(pg_data_dir)"
    [[ -n "$bin" && -s "$data/PG_VERSION" ]] || return 0
    if pg_as "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        say "stopping Postgres ($data)"
        pg_as "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
}

# psql on the admin database (installs the client if missing).
psql_admin() {
    need_command psql postgresql-client
    psql "$PG_ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -tA "$@"
}

ensure_database() {
    [[ "$PG_DATABASE" =~ ^[A-Za-z0-9_]+$ ]] || die "database name '$PG_DATABASE' must be [A-Za-z0-9_]+"
    if [[ "$(psql_admin -c "select 1 from pg_database where datname = '$PG_DATABASE'")" == 1 ]]; then
        note "database $PG_DATABASE exists"
    else
        say "creating database $PG_DATABASE"
        psql_admin -c "create database \"$PG_DATABASE\""
    fi
}

# ---------------------------------------------------------------------------
# NATS

# Makes sure NATS answers at NATS_URL; starts nats-server with JetStream
# (state in .run/nats) when nothing listens there.
ensure_nats() {
    if port_open "$NATS_HOST" "$NATS_PORT"; then
        note "NATS is up at $NATS_HOST:$NATS_PORT"
        return
    fi
    is_local "$NATS_HOST" || die "NATS at $NATS_HOST:$NATS_PORT is not reachable"
    need_command nats-server nats-server
    mkdir -p "$RUN_DIR/nats" "$LOG_DIR"
    say "starting NATS with JetStream on 127.0.0.1:$NATS_PORT"
    start_process nats-server "$(command -v nats-server)" \
        -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$RUN_DIR/nats"
    wait_port 127.0.0.1 "$NATS_PORT" nats-server
    STARTED+=(nats-server)
}

# ---------------------------------------------------------------------------
# nginx

nginx_binary() {
    command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }
}

ensure_nginx_installed() {
    if [[ -z "$(nginx_binary)" ]]; then
        if apt_has nginx-light; then apt_install nginx-light; else apt_install nginx; fi
    fi
    [[ -n "$(nginx_binary)" ]] || die "nginx is still missing after installing it"
    note "nginx is installed ($(nginx_binary))"
}

# render_nginx_conf OUT NGINX_DIR LOG_DIR PORT COMMAND_ADDR QUERY_ADDR
# Fills in deploy/nginx.conf.template (the system tests render the same file).
render_nginx_conf() {
    sed -e "s|{{NGINX_DIR}}|$2|g" -e "s|{{LOG_DIR}}|$3|g" -e "s|{{FRONT_DOOR_PORT}}|$4|g" \
        -e "s|{{COMMAND_SERVICE}}|$5|g" -e "s|{{QUERY_SERVICE}}|$6|g" \
        -e "s|{{WORKER_PROCESSES}}|auto|g" "$ROOT/deploy/nginx.conf.template" >"$1"
    if grep -q '{{' "$1"; then die "unfilled placeholder in $1: $(grep -o '{{[A-Z_]*}}' "$1" | head -n1)"; fi
}

# ---------------------------------------------------------------------------
# Processes: .run/<name>.pid and .run/logs/<name>.log

pid_file() { echo "$RUN_DIR/$1.pid"; }

# Prints the pid of process NAME if it is running (and really is ours: the
# pid's command line must still name the program it was started as).
running_pid() {
    local file pid
    file="$(pid_file "$1")"
    [[ -s "$file" ]] || return 1
    pid="$(head -n1 "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    local program
    program="$(sed -n 2p "$file")"
    if [[ -n "$program" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$program"; then
        return 1
    fi
    echo "$pid"
}

# start_process NAME PROGRAM ARGS... (with the current environment)
# Starts it in its own session, detached from the terminal.
start_process() {
    local name="$1"
    shift
    mkdir -p "$LOG_DIR"
    local log="$LOG_DIR/$name.log"
    printf '\n--- %s: starting %s\n' "$(date -Is)" "$*" >>"$log"
    nohup setsid "$@" >>"$log" 2>&1 </dev/null &
    printf '%s\n%s\n' "$!" "$1" >"$(pid_file "$name")"
}

# wait_health NAME PORT [SECONDS]: until GET /health answers 200; fails with
# the end of the log if the process dies or the deadline passes.
wait_health() {
    local name="$1" port="$2" deadline=$((SECONDS + ${3:-90}))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null; do
        if ! running_pid "$name" >/dev/null; then
            tail -n 30 "$LOG_DIR/$name.log" >&2 || true
            die "$name exited during startup; log: .run/logs/$name.log"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$LOG_DIR/$name.log" >&2 || true
            die "$name did not answer /health on port $port in time; log: .run/logs/$name.log"
        fi
        sleep 0.2
    done
}

# stop_processes NAME...: SIGTERM to all, wait up to STOP_TIMEOUT seconds
# (default 20) for them to finish in-flight work, then SIGKILL.
stop_processes() {
    local name pid pids=() names=()
    for name in "$@"; do
        if pid="$(running_pid "$name")"; then
            say "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
        fi
        rm -f "$(pid_file "$name")"
    done
    local deadline=$((SECONDS + ${STOP_TIMEOUT:-20})) i
    for i in "${!pids[@]}"; do
        while kill -0 "${pids[$i]}" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                warn "${names[$i]} did not stop after SIGTERM; sending SIGKILL"
                kill -KILL "${pids[$i]}" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    done
}

# The processes run.sh starts itself (besides Postgres and NATS), in start order.
# shellcheck disable=SC2034 # used by run.sh
APP_PROCESSES=(relay-1 relay-2 projections webhooks query-service command-service)

STARTED=()
