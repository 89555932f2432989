#!/usr/bin/env bash
# Builds daprd and the Dapr Scheduler v1.18.3 from the Go module proxy, cached by version under
# $TICKLER_CACHE_DIR/dapr-<version>/ (recipe: ../shared/reference/dapr-verified.md):
# - the version is pinned: this proxy serves nothing newer, and "latest" resolves wrongly;
# - durabletask-go v0.12.4 (which 1.18.3 requires) is refused by the proxy: v0.12.1 has the same
#   go.mod and only affects workflows, which Tickler does not use;
# - a slim daprd (`-tags stablecomponents`) with only the components Tickler uses, and WITHOUT
#   the mDNS name resolver, which would announce the sidecar by multicast on every interface;
# - the Scheduler's health server is bound to 127.0.0.1 (upstream binds every interface).
# Prints the directory holding the binaries. Takes about 6 minutes on 2 cores when nothing is
# cached, nothing when the binaries are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

V=v1.18.3
DURABLETASK=v0.12.1
KEEP='^(pubsub_kafka|pubsub_redis|pubsub_in-memory|state_postgres|state_in-memory|secretstores_local_file|secretstores_local_env|secretstores_kubernetes|zz_notag)\.go$'
# Part of the cache key: a change to the recipe rebuilds.
RECIPE="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
OUT="$CACHE_DIR/dapr-$V"
STAMP="$OUT/.built-$RECIPE"

if [ -f "$STAMP" ] && [ -x "$OUT/daprd" ] && [ -x "$OUT/scheduler" ]; then
    echo "$OUT"; exit 0
fi
command -v go >/dev/null || die "go is needed to build daprd (Go module proxy)"

export GOTOOLCHAIN=auto CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false"
export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build"
W="$CACHE_DIR/dapr-src"
mkdir -p "$W" "$OUT"
cd "$W"   # outside any go.mod
log "building daprd and scheduler $V (about 6 minutes when nothing is cached)"
go mod download -json "github.com/dapr/dapr@$V" >dapr-mod.json
SRC="$(python3 -c 'import json;print(json.load(open("dapr-mod.json"))["Dir"])')"
rm -rf dapr && cp -r "$SRC" dapr && chmod -R u+w dapr && cd dapr
(cd cmd/daprd/components && ls ./*.go | sed 's|^\./||' | grep -vE "$KEEP" | xargs rm -f)
[ ! -e cmd/daprd/components/nameresolution_mdns.go ] || die "mDNS resolver still in the build"

# The Scheduler's health server listens on ":<port>" (every interface) and has no listen-address
# option (its --healthz-listen-address flag is never passed on); this build is only ever run on
# one machine, so bind it to loopback.
hs=pkg/healthz/server/server.go
grep -q 'fmt.Sprintf(":%d", s.port)' "$hs" || die "unexpected $hs: cannot bind the Scheduler's health server to loopback"
sed -i 's|fmt.Sprintf(":%d", s.port)|fmt.Sprintf("127.0.0.1:%d", s.port)|' "$hs"

go mod edit -replace "github.com/dapr/durabletask-go=github.com/dapr/durabletask-go@$DURABLETASK"
go mod download "github.com/dapr/durabletask-go@$DURABLETASK"
LD="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=${V#v} -X github.com/dapr/kit/logger.DaprVersion=${V#v}"
go build -trimpath -tags stablecomponents -ldflags "$LD" -o "$OUT/daprd" ./cmd/daprd
go build -trimpath -ldflags "$LD" -o "$OUT/scheduler" ./cmd/scheduler
[ "$("$OUT/daprd" --version)" = "${V#v}" ] || die "daprd --version is not ${V#v}"
# The CRDs the Helm chart's Dapr resources are validated against.
rm -rf "$OUT/crds" && cp -r charts/dapr/crds "$OUT/crds"
rm -f "$OUT"/.built-*
touch "$STAMP"
echo "$OUT"
