#!/usr/bin/env bash
# Builds the release binary and runs the benchmark against it; prints a Markdown report.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}"
cargo build --release --locked --bin tickler
cargo run --release --locked --example bench
