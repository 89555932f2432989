#!/usr/bin/env bash
# The browser suite: the real `tickler --role all` on loopback with a temporary data directory,
# driven in headless Chromium (Debian's `chromium`, through playwright-core), with axe-core for
# the accessibility check; the page script is type-checked with tsc first.
#   tests/browser/run.sh [node --test args...]
# Builds the binary unless TICKLER_BIN is set. Installs Chromium (apt) when missing and the
# pinned npm packages into ~/.cache/tickler/npm-browser/<lockfile hash> (never into the repo).
# Screenshots go to $TICKLER_ARTIFACTS (default: <target dir>/browser-artifacts); the path is
# printed at the end. Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tickler"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$chromium" ]]; then
    echo "==> installing Chromium (Debian package)"
    sudo_=""
    [[ "$(id -u)" != 0 ]] && sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >/dev/null
fi

command -v node >/dev/null || { echo "node (>= 20) is needed for the browser suite" >&2; exit 1; }
lock_hash="$(sha256sum "$here/package-lock.json" | cut -c1-16)"
npm_dir="$cache/npm-browser/$lock_hash"
if [[ ! -f "$npm_dir/.installed" ]]; then
    echo "==> installing the pinned npm packages into $npm_dir"
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    cp "$here/package.json" "$here/package-lock.json" "$npm_dir/"
    (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    touch "$npm_dir/.installed"
fi

echo "==> type-checking assets/web/app.js (tsc --checkJs --strict)"
"$npm_dir/node_modules/.bin/tsc" -p "$here/tsconfig.json"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${TICKLER_BIN:-}"
if [[ -z "$bin" ]]; then
    (cd "$repo" && cargo build --quiet --bin tickler)
    bin="$target/debug/tickler"
fi
# A private copy: the target directory may be rebuilt by another checkout meanwhile.
cp "$bin" "$work/tickler"
bin="$work/tickler"

artifacts="${TICKLER_ARTIFACTS:-$target/browser-artifacts}"
rm -rf "$artifacts"
mkdir -p "$artifacts"

# Only this suite's settings reach the server (and `tickler login-link`, see harness.mjs).
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep -E '^(TICKLER_|BETTER_AUTH_|USE_DAPR|RUST_LOG)' || true)

data="$work/data"
"$bin" --role all --listen 127.0.0.1:0 --data-dir "$data" >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 200); do
    url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/stdout" | head -1 || true)"
    [[ -n "$url" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "tickler did not start" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$url" ]] || { cat "$work/server.log" >&2; echo "tickler printed no sign-in link" >&2; exit 1; }
echo "==> tickler at $url (data in $data)"

export TICKLER_BIN="$bin" TICKLER_DATA_DIR="$data" TICKLER_URL="$url"
export TICKLER_STARTUP_LINK="$(grep -o 'http://[^ ]*/login?token=[^ ]*' "$work/stdout" | head -1)"
export TICKLER_NPM_DIR="$npm_dir"
export TICKLER_ARTIFACTS="$artifacts"
export CHROMIUM="$chromium"

status=0
node --test --test-concurrency=1 "$@" "$here"/*.test.mjs || status=$?
if [[ $status != 0 ]]; then
    echo "---- server log (last 60 lines) ----" >&2
    tail -60 "$work/server.log" >&2
fi
echo "==> screenshots and other artefacts: $artifacts"
exit $status
