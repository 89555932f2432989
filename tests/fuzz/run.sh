#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (FUZZ_SECONDS each, default 22 s: four
# targets, under two minutes in all), seeded from the corpus kept in fuzz/corpus/<target>.
#   tests/fuzz/run.sh [target...]
# Installs what it needs: the nightly toolchain (rustup) and cargo-fuzz (crates.io, --locked).
# New inputs libFuzzer finds go to a temporary directory, so the repo's corpus stays small;
# a crash is kept under <target dir>/fuzz/artifacts/<target>/ and its path printed, and the
# script exits non-zero. Turn each crash into a regression test (see fuzz/README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
seconds="${FUZZ_SECONDS:-22}"
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}/fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "==> installing the nightly toolchain (libFuzzer needs it)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [[ ${#targets[@]} == 0 ]]; then
    mapfile -t targets < <(cd "$repo/fuzz" && cargo +nightly fuzz list)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="$target_dir/artifacts"
cd "$repo"
# Safe Rust throughout, so no AddressSanitizer (it would only slow the run down): libFuzzer's
# coverage guidance finds the panics, hangs and memory blow-ups these targets look for.
echo "==> building the fuzz targets (${targets[*]})"
cargo +nightly fuzz build --sanitizer none --target-dir "$target_dir"
status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "$artifacts/$t"
    echo "==> fuzzing $t for ${seconds}s"
    if ! cargo +nightly fuzz run --sanitizer none --target-dir "$target_dir" "$t" \
        "$work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -artifact_prefix="$artifacts/$t/" -print_final_stats=1 2>"$work/$t.log"; then
        status=1
        echo "!! $t failed; the reproducing input is in $artifacts/$t/:" >&2
        grep -E "panicked|ERROR|Test unit written|SUMMARY" "$work/$t.log" >&2 || tail -n 30 "$work/$t.log" >&2
    fi
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$t.log" | sed "s/^/   $t /" || true
done
exit "$status"
