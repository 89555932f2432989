#!/usr/bin/env bash
# Holds the REST API to its own OpenAPI document with schemathesis, a property-based fuzzer
# nobody on the project wrote: every check, every phase (examples, coverage, fuzzing, stateful),
# a fixed seed and example count, against the real binary (`--role all`, a temporary data dir).
#   tests/schemathesis/run.sh [extra schemathesis args...]
# Runs on SQLite (the embedded default), then on PostgreSQL when TICKLER_TEST_PG_URL (an admin
# URL to a running server) is set, in a fresh database dropped afterwards.
# Builds the binary unless TICKLER_BIN is set; installs the pinned schemathesis into a venv under
# ~/.cache/tickler. Exits non-zero on any failure; schemathesis prints each failure with the curl
# command that reproduces it. The whole script is bounded (SCHEMATHESIS_TIMEOUT, default 180 s,
# shared by the runs; running out of time is a failure). SCHEMATHESIS_SEED and
# SCHEMATHESIS_EXAMPLES change the seed (default 20261) and the examples per operation (60).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tickler"
venv="$cache/venv-schemathesis"
python="${PYTHON:-python3}"
seed="${SCHEMATHESIS_SEED:-20261}"
examples="${SCHEMATHESIS_EXAMPLES:-60}"
budget="${SCHEMATHESIS_TIMEOUT:-180}"

if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$cache"
    "$python" -m venv "$venv"
fi
# Reinstall only when the pinned requirements change.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" >"$stamp"
fi

work="$(mktemp -d)"
server_pid=""
pg_db=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    if [[ -n "$pg_db" ]]; then
        psql "$pg_admin" -qc "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

target="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}"
bin="${TICKLER_BIN:-}"
if [[ -z "$bin" ]]; then
    (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --quiet --bin tickler)
    bin="$target/debug/tickler"
fi
# A private copy: the target directory may be rebuilt by another checkout meanwhile.
cp "$bin" "$work/tickler"
bin="$work/tickler"

# Only this script's settings reach the server: Tickler refuses unknown TICKLER_* variables.
pg_admin="${TICKLER_TEST_PG_URL:-}"
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep -E '^(TICKLER_|BETTER_AUTH_|USE_DAPR|RUST_LOG|DAPR_)' || true)
export TICKLER_AUTH__SECRET="schemathesis-secret-0123456789abcdef"

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run <label> [VAR=value...]: one server, one schemathesis run against it.
run() {
    local label="$1"
    shift
    local data="$work/$label" port url
    mkdir -p "$data"
    port="$(free_port)"
    url="http://127.0.0.1:$port"
    env "$@" "$bin" --role all --listen "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        curl -fsS "$url/healthz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$data/server.log" >&2; echo "tickler did not start" >&2; exit 1; }
        sleep 0.1
    done
    local token left=$((deadline - SECONDS))
    if ((left < 10)); then
        echo "no time left for the $label run (SCHEMATHESIS_TIMEOUT=${budget}s)" >&2
        stop_server
        return 1
    fi
    token="$(env "$@" "$bin" token --data-dir "$data" --sub schemathesis --email schemathesis@example.com)"
    echo "==> schemathesis on $label: $url (seed $seed, $examples examples per operation, ≤ ${left}s)"
    local rc=0
    # One worker: the same seed then gives the same requests in the same order.
    # `ensure_resource_availability` is left out on purpose: the stateful phase deletes a created
    # resource, then repeats the creating POST with the same Idempotency-Key and body, and the
    # server replays the original 201 (draft-ietf-httpapi-idempotency-key-header: the same key
    # gets the same answer), which names the deleted resource; the check reads that as a created
    # resource being unavailable. Its per-operation settings are ignored in the stateful phase.
    timeout --signal=INT --kill-after=5 "$left" \
        "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$url/api/v1/openapi.json" \
        --checks all \
        --exclude-checks ensure_resource_availability \
        --phases examples,coverage,fuzzing,stateful \
        --seed "$seed" \
        --max-examples "$examples" \
        --workers 1 \
        --request-timeout 10 \
        --header "Authorization: Bearer $token" \
        --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-$work/report-$label}" \
        "${extra[@]}" || rc=$?
    stop_server
    if [[ $rc == 124 || $rc == 130 ]]; then
        echo "schemathesis on $label did not finish within the time left (${left}s)" >&2
    fi
    if [[ $rc != 0 ]]; then
        echo "==> server log (last lines):" >&2
        tail -n 40 "$data/server.log" >&2
        return "$rc"
    fi
}

extra=("$@")
# schemathesis keeps a cache (.schemathesis/) in its working directory: not in the checkout.
cd "$work"
# The budget covers the runs, not the one-off venv install or cargo build above.
deadline=$((SECONDS + budget))
status=0
run sqlite || status=$?

if [[ -n "$pg_admin" ]]; then
    pg_db="tickler_schemathesis_$$_$RANDOM"
    psql "$pg_admin" -qc "CREATE DATABASE \"$pg_db\"" >/dev/null
    # The admin URL with its database replaced by the fresh one.
    pg_url="$("$python" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_admin" "$pg_db")"
    run postgres "TICKLER_DATABASE_URL=$pg_url" || status=$?
else
    echo "==> TICKLER_TEST_PG_URL is not set: PostgreSQL run skipped"
fi
exit "$status"
