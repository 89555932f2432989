#!/usr/bin/env bash
# Builds the binary as it ships (profile `production`: fat LTO) and benchmarks it; prints Markdown.
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
cargo build --profile production --locked --bin tickler
bin="$CARGO_TARGET_DIR/production/tickler"
TICKLER_BIN="$bin" cargo run --release --locked --example bench
TICKLER_BIN="$bin" cargo run --release --locked --example search_bench

# The MCP benchmark uses the official Python client from the MCP suite's venv.
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tickler/venv-mcp"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r tests/mcp/requirements.txt
fi
TICKLER_BIN="$bin" "$venv/bin/python" bench/mcp_bench.py
