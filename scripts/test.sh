#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs and starts what the tests need, then runs
# them. Needs Rust (rustup), Python 3 with venv, Java 17+ with Maven, and (Dapr mode) Go; everything
# else comes from crates.io, PyPI, Maven Central, the Go module proxy and Debian's packages, and
# is cached under ~/.cache/tickler so a second run is fast.
#
#   unit, property and contract tests  (cargo test: memory, SQLite, PostgreSQL, Kafka adapters,
#                                       real SMTP server; services from scripts/dev-stack)
#   black-box REST API and flow tests  (cargo test: the app spawned on port 0)
#   MCP suite with the official Python MCP client (tests/mcp/run.sh)
#   web page in headless Chromium with playwright-core and axe-core (tests/browser/run.sh; needs
#                                       Node.js 20+, installs Debian's chromium when missing)
#   schemathesis (PyPI, pinned) against /api/v1/openapi.json on SQLite and PostgreSQL
#   cargo-fuzz targets for the parsers that take outside input (nightly toolchain, bounded time)
#   Helm chart checks (tests/helm/run.sh: helm built from the Go module proxy, kubernetes-validate)
#   end-to-end: every role its own process on PostgreSQL, Kafka-direct and through daprd
#                                       sidecars, steady state and faults
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

# A stack of its own (never the developer's default one in /tmp/tickler-stack; ports chosen
# free), stopped and deleted however this script ends. The end-to-end suite runs last and may stop
# and restart its services.
export TICKLER_STACK_DIR="${TICKLER_TEST_STACK_DIR:-/tmp/tickler-test-stack}"
export TICKLER_E2E_STACK_DIR="$TICKLER_STACK_DIR"
cleanup() { scripts/dev-stack down --purge >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "services: PostgreSQL, Kafka, SMTP sink, Redis, Dapr Scheduler (scripts/dev-stack, in $TICKLER_STACK_DIR)"
# The Dapr tests (tests/dapr.rs, the dapr_* contract modules) start their own daprd sidecars
# on this stack's Scheduler, PostgreSQL, Kafka and Redis; daprd is built once and cached.
scripts/dev-stack up postgres kafka smtp redis dapr
eval "$(scripts/dev-stack env)"
export TICKLER_TEST_PG_URL="$TICKLER_STACK_PG_ADMIN_URL"
export TICKLER_TEST_KAFKA_BROKERS="$TICKLER_KAFKA__BROKERS"
# The tests build their own configuration; nothing of the stack's env may leak into the apps
# they start.
unset TICKLER_DATABASE_URL TICKLER_KAFKA__BROKERS TICKLER_SMTP__HOST TICKLER_SMTP__PORT \
      TICKLER_SMTP__TLS TICKLER_AUTH__SECRET

# Dependencies are shared through the cache, but Tickler itself is always rebuilt: cargo may judge
# a crate built from another checkout at another path "fresh", and tests must run this tree's code.
cargo clean --quiet -p tickler

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --all-features --locked -- -D warnings

step "build"
cargo build --locked --bin tickler

step "Rust tests (unit, property, contract on every adapter, API on the memory adapters, flow)"
cargo test --locked --no-fail-fast

step "REST API suite again, on the SQLite adapters"
TICKLER_TEST_BACKEND=sqlite cargo test --locked --test api

step "REST API suite again, on the PostgreSQL adapters"
TICKLER_TEST_BACKEND=postgres cargo test --locked --test api

step "MCP suite (official Python client against the real binary)"
TICKLER_BIN="$CARGO_TARGET_DIR/debug/tickler" bash tests/mcp/run.sh

step "web page in headless Chromium (playwright-core, axe-core) against the real binary"
TICKLER_BIN="$CARGO_TARGET_DIR/debug/tickler" bash tests/browser/run.sh

step "schemathesis against the OpenAPI document (every check, stateful phase), SQLite and PostgreSQL"
TICKLER_BIN="$CARGO_TARGET_DIR/debug/tickler" TICKLER_TEST_PG_URL="$TICKLER_TEST_PG_URL" \
    bash tests/schemathesis/run.sh

step "fuzz targets (cargo-fuzz on nightly, bounded time): CloudEvent, JWT, list query, recurrence"
bash tests/fuzz/run.sh

step "Helm chart: lint, every combination rendered, strict Kubernetes and Dapr CRD schemas, chart-binary contract"
TICKLER_BIN="$CARGO_TARGET_DIR/debug/tickler" bash tests/helm/run.sh

step "end-to-end: split roles as processes, Kafka-direct and Dapr (Kafka, Redis), steady state, faults, bad input, mixed roll-out"
cargo test --locked --features e2e --test e2e -- --test-threads=1
