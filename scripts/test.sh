#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs and starts what the tests need, then runs
# them. Needs Rust (rustup) and Python 3 with venv; everything else is fetched from crates.io and
# PyPI and cached under ~/.cache/tickler so a second run is fast.
#
#   unit, property and contract tests  (cargo test: memory, SQLite and PostgreSQL adapters, real
#                                       SMTP server; PostgreSQL from scripts/dev-stack)
#   black-box REST API and flow tests  (cargo test: the app spawned on port 0)
#   MCP suite with the official Python MCP client (tests/mcp/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Dependencies are shared through the cache, but Tickler itself is always rebuilt: cargo may judge
# a crate built from another checkout at another path "fresh", and tests must run this tree's code.
cargo clean --quiet -p tickler

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "services the tests need (PostgreSQL on 127.0.0.1; left running if it already is)"
scripts/dev-stack up postgres

step "build"
cargo build --locked --bin tickler

step "Rust tests (unit, property, contract, API on the memory adapters, flow)"
cargo test --locked --no-fail-fast

step "REST API suite again, on the SQLite adapters"
TICKLER_TEST_BACKEND=sqlite cargo test --locked --test api

step "REST API suite again, on the PostgreSQL adapters"
TICKLER_TEST_BACKEND=postgres cargo test --locked --test api

step "MCP suite (official Python client against the real binary)"
TICKLER_BIN="$CARGO_TARGET_DIR/debug/tickler" bash tests/mcp/run.sh
