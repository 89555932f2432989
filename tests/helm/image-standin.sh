#!/usr/bin/env bash
# Builds deploy/Containerfile with buildah on a machine that cannot pull base images (no
# container registry is reachable here), then runs the image. Not part of run.sh: it installs
# Debian packages and takes a few minutes.
#
# What is real: buildah (Debian's), the Containerfile unchanged, its stage layout, the rootfs
# stage's ldd-based assembly, the FROM scratch runtime image, USER/ENTRYPOINT/CMD, and
# `tickler --version` / `check-config` / a short `--role all` run inside the image.
# What is a stand-in: the image named docker.io/library/rust:$RUST_VERSION-bookworm is a
# debootstrap'd Debian bookworm (the same release as the rust image) whose `cargo` copies a
# binary compiled outside ($TICKLER_BIN) instead of compiling: the Rust toolchain image cannot
# be pulled, and a release build is not run here. So the size printed is the image with THAT
# binary (a debug build is ~10x a release one); the rest of the image is printed separately.
#
# Needs root (buildah with chroot isolation, vfs storage under $CACHE/image-standin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
CACHE="${TICKLER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tickler}"
TICKLER_BIN="${TICKLER_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}/debug/tickler}"
RUST_VERSION="$(sed -n 's/^ARG RUST_VERSION=//p' "$repo/deploy/Containerfile")"
W="$CACHE/image-standin"
B=(buildah --root "$W/storage" --runroot "$W/run" --storage-driver vfs)
[ -x "$TICKLER_BIN" ] || { echo "no tickler binary at $TICKLER_BIN" >&2; exit 1; }
command -v buildah >/dev/null && command -v debootstrap >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq buildah debootstrap >/dev/null; }

base="docker.io/library/rust:$RUST_VERSION-bookworm"
if ! "${B[@]}" inspect --type image "$base" >/dev/null 2>&1; then
    rootfs="$W/bookworm"
    if [ ! -x "$rootfs/usr/bin/ldd" ]; then
        rm -rf "$rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
        chroot "$rootfs" apt-get install -y -qq libssl3 ca-certificates >/dev/null
    fi
    mkdir -p "$rootfs/usr/local/bin"
    cat >"$rootfs/usr/local/bin/cargo" <<'EOF'
#!/bin/sh
# STAND-IN cargo (tests/helm/image-standin.sh): copies /prebuilt/tickler instead of compiling.
set -eu
case " $* " in *" build "*"--profile production"*"--locked"*"--bin tickler"*) ;; *) echo "stand-in cargo: unsupported: $*" >&2; exit 2 ;; esac
mkdir -p target/production
if grep -qx 'fn main() {}' src/bin/tickler.rs; then echo "stand-in cargo: dependency layer"; exit 0; fi
[ -f src/lib.rs ] && [ -d migrations ] && [ -d assets ] || { echo "stand-in cargo: sources missing" >&2; exit 1; }
cp /prebuilt/tickler target/production/tickler
EOF
    chmod +x "$rootfs/usr/local/bin/cargo"
    printf 'FROM scratch\nCOPY . /\nENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' >"$W/standin.Containerfile"
    "${B[@]}" bud --isolation chroot -q -f "$W/standin.Containerfile" -t "$base" "$rootfs" >/dev/null
fi
# The binary goes in through a layer on top of the stand-in base, so the base stays cached.
mkdir -p "$W/prebuilt" && cp "$TICKLER_BIN" "$W/prebuilt/tickler"
printf 'FROM %s\nCOPY tickler /prebuilt/tickler\n' "$base" >"$W/prebuilt/Containerfile"
"${B[@]}" bud --isolation chroot -q -f "$W/prebuilt/Containerfile" -t "$base" "$W/prebuilt" >/dev/null

"${B[@]}" bud --isolation chroot --pull-never -f "$repo/deploy/Containerfile" -t localhost/tickler:standin "$repo"
c="$("${B[@]}" from localhost/tickler:standin)"
trap '"${B[@]}" rm "$c" >/dev/null 2>&1 || true' EXIT
echo "== in the image:"
"${B[@]}" run --isolation chroot "$c" -- /usr/local/bin/tickler --version
"${B[@]}" run --isolation chroot "$c" -- /usr/local/bin/tickler --role all check-config
if "${B[@]}" run --isolation chroot "$c" -- /bin/sh -c true 2>/dev/null; then echo "the image has a shell" >&2; exit 1; fi
echo "no /bin/sh in the image (as intended)"
echo "user: $("${B[@]}" inspect --format '{{.OCIv1.Config.User}}' localhost/tickler:standin)"
m="$("${B[@]}" mount "$c")"
bin="$(du -sm "$m/usr/local/bin/tickler" | cut -f1)"
rest="$(find "$m" -type f ! -path '*/usr/local/bin/tickler' ! -path '*/etc/hosts' ! -path '*/etc/hostname' ! -path '*/etc/resolv.conf' -print0 | du -cm --files0-from=- | tail -1 | cut -f1)"
"${B[@]}" umount "$c" >/dev/null
"${B[@]}" images localhost/tickler:standin
echo "image: the binary ${bin} MB ($TICKLER_BIN) + everything else ${rest} MB (libraries, CA bundle, passwd)"
