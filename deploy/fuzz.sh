#!/usr/bin/env bash
# Fuzzes the running system with schemathesis from docs/openapi.yaml:
# every operation gets schema-valid and malformed inputs. The property: no
# 5xx, and every 4xx answers JSON with an `error`, `errors` or `message` key.
# Exits non-zero on any failure.
#
# Target: BASE_URL and PLATFORM_TOKEN from the environment, else from
# .run/env; if nothing answers there, deploy/run.sh starts a system first
# (it honours the same environment overrides, e.g. FRONT_DOOR_PORT).
# A fresh account with an administrator is created through the platform API
# for the user-token operations.
#
# FUZZ_EXAMPLES (default 25) bounds the examples per operation; about 1–2
# minutes against a release build. The venv lives in target/fuzz-venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCHEMATHESIS_VERSION=4.32.5
VENV="$ROOT/target/fuzz-venv"
EXAMPLES="${FUZZ_EXAMPLES:-25}"

say() { printf '\n== %s\n' "$*"; }
die() { printf 'fuzz.sh: %s\n' "$*" >&2; exit 1; }

say "schemathesis $SCHEMATHESIS_VERSION"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$VENV/bin/python"

if [[ -z "${BASE_URL:-}" || -z "${PLATFORM_TOKEN:-}" ]] && [[ -f "$ROOT/.run/env" ]]; then
    BASE_URL="${BASE_URL:-$(sed -n 's/^BASE_URL=//p' "$ROOT/.run/env" | tail -n1)}"
    PLATFORM_TOKEN="${PLATFORM_TOKEN:-$(sed -n 's/^PLATFORM_TOKEN=//p' "$ROOT/.run/env" | tail -n1)}"
fi
if [[ -z "${BASE_URL:-}" ]] || ! curl -fsS -o /dev/null "$BASE_URL/health"; then
    say "starting a system with deploy/run.sh"
    "$ROOT/deploy/run.sh"
    BASE_URL="$(sed -n 's/^BASE_URL=//p' "$ROOT/.run/env" | tail -n1)"
    PLATFORM_TOKEN="$(sed -n 's/^PLATFORM_TOKEN=//p' "$ROOT/.run/env" | tail -n1)"
fi
[[ -n "${PLATFORM_TOKEN:-}" ]] || die "no PLATFORM_TOKEN"
export BASE_URL PLATFORM_TOKEN

say "an account and an administrator for $BASE_URL"
post() { # path json → body
    curl -fsS -X POST -H "api_access_token: $PLATFORM_TOKEN" -H 'content-type: application/json' \
        --data "$2" "$BASE_URL$1"
}
field() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ACCOUNT_ID="$(post /platform/api/v1/accounts '{"name":"Fuzz"}' | field '["id"]')"
USER="$(post /platform/api/v1/users "{\"name\":\"Fuzz Admin\",\"email\":\"fuzz-$RANDOM$RANDOM@example.com\",\"password\":\"Secret123!\"}")"
USER_ID="$(field '["id"]' <<<"$USER")"
USER_TOKEN="$(field '["access_token"]' <<<"$USER")"
post "/platform/api/v1/accounts/$ACCOUNT_ID/account_users" \
    "{\"user_id\":$USER_ID,\"role\":\"administrator\"}" >/dev/null
export ACCOUNT_ID USER_TOKEN
echo "account $ACCOUNT_ID, administrator $USER_ID"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/schemathesis.toml" <<'EOF'
[auth.openapi.userApiKey]
api_key = "${USER_TOKEN}"

[auth.openapi.platformAppApiKey]
api_key = "${PLATFORM_TOKEN}"

# Account-API operations run in the fuzz account (random ids elsewhere).
[parameters]
account_id = "${ACCOUNT_ID}"
EOF
cat >"$WORK/fuzz_hooks.py" <<'EOF'
import schemathesis


@schemathesis.check
def json_error_body(ctx, response, case):
    """Every 4xx answers JSON with an `error`, `errors` or `message` key."""
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except Exception:
            raise AssertionError(f"{response.status_code} without a JSON body: {response.text[:200]!r}")
        if not (isinstance(body, dict) and ({"error", "errors", "message"} & body.keys())):
            raise AssertionError(f"{response.status_code} body has no error key: {str(body)[:200]}")
EOF

say "fuzzing ($EXAMPLES examples per operation)"
cd "$WORK"
# Deletes of accounts, users and memberships are left out: with small random
# ids they would remove the fuzz account or its administrator mid-run.
PYTHONPATH="$WORK" SCHEMATHESIS_HOOKS=fuzz_hooks "$VENV/bin/schemathesis" \
    --config-file "$WORK/schemathesis.toml" run "$ROOT/docs/openapi.yaml" \
    --url "$BASE_URL" \
    --checks not_a_server_error,json_error_body \
    --exclude-operation-id platformDeleteAccount \
    --exclude-operation-id platformDeleteUser \
    --exclude-operation-id platformDeleteAccountUser \
    --max-examples "$EXAMPLES" \
    --phases examples,coverage,fuzzing \
    --request-timeout 10 \
    --suppress-health-check all \
    --seed "${FUZZ_SEED:-1}" \
    --no-shrink \
    "$@"
