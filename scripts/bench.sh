#!/usr/bin/env bash
# Builds the release binary and runs the benchmark against it; prints a Markdown report.
#
#   scripts/bench.sh              the embedded default (--role all on SQLite), search, MCP
#   scripts/bench.sh production   the four roles as processes on PostgreSQL, Kafka-direct and
#                                 through daprd sidecars side by side, pgbench, search on PostgreSQL
#                                 (starts the dev stack in $TICKLER_STACK_DIR, default /tmp/tickler-stack)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}"
if [[ "${1:-}" == production ]]; then
    export TICKLER_E2E_STACK_DIR="${TICKLER_STACK_DIR:-/tmp/tickler-stack}"
    exec cargo bench --locked --features e2e --bench production
fi
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
