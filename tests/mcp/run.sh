#!/usr/bin/env bash
# Runs the MCP suite: the official MCP Python SDK against the real `tickler` binary.
#   tests/mcp/run.sh [pytest args...]
# Builds the binary unless TICKLER_BIN is set; reuses a venv under the cache directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tickler/venv-mcp"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi
# Reinstall only when the pinned requirements change.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" >"$stamp"
fi

if [[ -z "${TICKLER_BIN:-}" ]]; then
    (cd "$repo" && cargo build --quiet --bin tickler)
    # A private copy: the target directory may be shared with other checkouts that rebuild it.
    bin_dir="$(mktemp -d)"
    trap 'rm -rf "$bin_dir"' EXIT
    cp "${CARGO_TARGET_DIR:-$repo/target}/debug/tickler" "$bin_dir/tickler"
    export TICKLER_BIN="$bin_dir/tickler"
fi

cd "$here"
"$venv/bin/python" -m pytest "$@"
