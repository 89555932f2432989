#!/usr/bin/env bash
# Builds the release binary and runs the benchmark against it; prints a Markdown report.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}"
cargo build --release --locked --bin tickler
TICKLER_BIN="$CARGO_TARGET_DIR/release/tickler" cargo run --release --locked --example bench
TICKLER_BIN="$CARGO_TARGET_DIR/release/tickler" cargo run --release --locked --example search_bench

# The MCP benchmark uses the official Python client from the MCP suite's venv.
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tickler/venv-mcp"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r tests/mcp/requirements.txt
fi
TICKLER_BIN="$CARGO_TARGET_DIR/release/tickler" "$venv/bin/python" bench/mcp_bench.py
