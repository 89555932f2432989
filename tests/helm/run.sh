#!/usr/bin/env bash
# Checks of deploy/ that need no cluster and no container engine (issue 11):
#   - helm lint and helm template of the chart for every combination in tests/helm/combos/
#     (Dapr off / on / mixed, Kafka or Redis pub/sub, Ingress on/off, HPA on/off, a managed setup),
#     plus renders that must be refused;
#   - the chart's dapr/ is deploy/dapr itself (symlink), also inside `helm package`'s archive;
#   - every rendered Kubernetes object against the API schemas of pinned Kubernetes versions and
#     every Dapr object against the Dapr CRDs of the pinned Dapr version, strictly;
#   - the chart <-> binary contract: each container's args and environment are accepted by
#     `tickler check-config` (the Job's by `tickler migrate` on a scratch SQLite file);
#   - deploy/Containerfile statically;
#   - each check's self-test: a deliberately wrong input must fail it.
# Prints the manifest counts per combination.
#
# Needs: go (to build helm once), python3, the tickler binary ($TICKLER_BIN, default
# ${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}/debug/tickler). Installs helm and a venv under
# the cache directory (${TICKLER_CACHE_DIR:-$HOME/.cache/tickler}) when they are missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
chart="$repo/deploy/helm/tickler"

HELM_VERSION=v3.22.0
DAPR_VERSION=v1.18.3
K8S_VERSIONS=(1.37.0 1.31.0)   # the newest schemas kubernetes-validate ships, and the chart's kubeVersion floor
CACHE="${TICKLER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tickler}"
HELM="$CACHE/helm-$HELM_VERSION/helm"
VENV="$CACHE/venv-helm"
TICKLER_BIN="${TICKLER_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/tickler/target}/debug/tickler}"

say() { printf '== %s\n' "$*"; }
die() { printf 'tests/helm: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

# ---- tools (cached outside the repository)
if [ ! -x "$HELM" ] || [[ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" != "${HELM_VERSION%.*}"* ]]; then
    command -v go >/dev/null || die "go is needed to build helm $HELM_VERSION"
    say "building helm $HELM_VERSION (go install, once)"
    (cd "$CACHE" 2>/dev/null || mkdir -p "$CACHE" && cd "$CACHE"
     GOBIN="$CACHE/helm-$HELM_VERSION" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
     GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=auto \
        go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
fi
stamp="$VENV/.requirements-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    say "creating the venv $VENV (once)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$here/requirements.txt"
    "$VENV/bin/python" -c 'import kubernetes_validate, jsonschema, yaml'
    touch "$stamp"
fi
PY="$VENV/bin/python"

# The Dapr CRDs: copied by scripts/stack/dapr-build.sh next to daprd, or straight from the Go
# module it builds daprd from; built when neither is there.
crds="$CACHE/dapr-$DAPR_VERSION/crds"
[ -d "$crds" ] || crds="$CACHE/go/mod/github.com/dapr/dapr@$DAPR_VERSION/charts/dapr/crds"
if [ ! -d "$crds" ]; then
    say "no Dapr $DAPR_VERSION CRDs cached: running scripts/stack/dapr-build.sh"
    crds="$("$repo/scripts/stack/dapr-build.sh" | tail -1)/crds"
fi
[ -f "$crds/components.yaml" ] || die "no Dapr CRDs in $crds"
[ -x "$TICKLER_BIN" ] || die "no tickler binary at $TICKLER_BIN (cargo build, or set TICKLER_BIN)"
say "helm $("$HELM" version --template '{{.Version}}'), kubernetes-validate $("$PY" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))') (k8s ${K8S_VERSIONS[*]}), Dapr CRDs $crds, $TICKLER_BIN"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rendered" "$work/bad"

# helm prints a note for the symbolic link on every load; nothing else is filtered. The filter runs
# after helm has exited, not in a process substitution: `2> >(grep ...)` returns before grep has
# written, so a caller reading the redirected stderr right away could find it empty (a CI run
# failed on exactly that in `refuse`).
helm_() {
    local rc=0
    "$HELM" "$@" 2>"$work/helm.stderr" || rc=$?
    grep -v 'found symbolic link in path' "$work/helm.stderr" >&2 || true
    return "$rc"
}
template() { helm_ template tickler "$chart" --namespace tickler --kube-version "${K8S_VERSIONS[0]}" "$@"; }

# ---- the one copy of the Dapr resources
say "dapr/ in the chart is deploy/dapr"
[ -L "$chart/dapr" ] && [ "$(readlink "$chart/dapr")" = "../../dapr" ] \
    || die "deploy/helm/tickler/dapr must be the symbolic link ../../dapr (git config core.symlinks=true)"
helm_ package "$chart" --destination "$work" >/dev/null
tgz="$(ls "$work"/tickler-*.tgz)"
mkdir -p "$work/pkg" && tar -xzf "$tgz" -C "$work/pkg"
n=0
for f in $(cd "$repo/deploy/dapr" && find . -type f | sort); do
    cmp -s "$repo/deploy/dapr/$f" "$work/pkg/tickler/dapr/$f" || die "helm package: dapr/$f differs from deploy/dapr/$f"
    n=$((n + 1))
done
[ "$(cd "$work/pkg/tickler/dapr" && find . -type f | wc -l)" -eq "$n" ] || die "helm package: dapr/ has files deploy/dapr lacks"
echo "  $n files, byte for byte, also in $(basename "$tgz")"

# ---- lint and render every combination
combos=()
for f in "$here"/combos/*.yaml; do combos+=("$(basename "$f" .yaml)"); done
say "helm lint --strict and helm template: ${#combos[@]} combinations"
for c in "${combos[@]}"; do
    helm_ lint --strict --quiet "$chart" --kube-version "${K8S_VERSIONS[0]}" -f "$here/combos/$c.yaml" >"$work/lint.out" \
        || { cat "$work/lint.out"; die "helm lint failed for $c"; }
    template -f "$here/combos/$c.yaml" >"$work/rendered/$c.yaml" || die "helm template failed for $c"
done
# The packaged chart renders the same as the directory.
helm_ template tickler "$tgz" --namespace tickler --kube-version "${K8S_VERSIONS[0]}" -f "$here/combos/managed.yaml" >"$work/from-tgz.yaml"
cmp -s "$work/from-tgz.yaml" "$work/rendered/managed.yaml" || die "the packaged chart renders differently from deploy/helm/tickler"

# Renders the chart must refuse, with a message naming what is missing.
refuse() {
    local want="$1"; shift
    if template "$@" >/dev/null 2>"$work/refused.err"; then die "helm template accepted $* (expected: $want)"; fi
    grep -q -- "$want" "$work/refused.err" || { cat "$work/refused.err"; die "helm template $*: the error does not say '$want'"; }
}
refuse "set config.kafka.brokers"                                   # defaults: no broker, no Dapr
refuse "set config.kafka.brokers" --set dapr.enabled=true --set dapr.pubsub.type=redis --set roles.backend.dapr=false
refuse "no Dapr component file" --set dapr.enabled=true --set dapr.pubsub.type=nats --set config.kafka.brokers=k:9092
refuse "secrets.database.name is required" --set config.kafka.brokers=k:9092 --set secrets.database.name=
refuse "secrets.kafkaSasl.name is required" --set config.kafka.brokers=k:9092 --set config.kafka.securityProtocol=sasl_ssl
refuse "additional properties 'replica' not allowed" --set config.kafka.brokers=k:9092 --set roles.backend.replica=3   # values.schema.json
echo "  6 bad value sets refused"

# ---- schemas
say "schemas: Kubernetes ${K8S_VERSIONS[*]} (strict) and Dapr $DAPR_VERSION CRDs (strict)"
k8s_args=(); for v in "${K8S_VERSIONS[@]}"; do k8s_args+=(--k8s "$v"); done
"$PY" "$here/check.py" schemas "${k8s_args[@]}" --crds "$crds" "$work"/rendered/*.yaml
# Self-test: an unknown field in a Deployment and in a Component must be caught.
"$PY" - "$work/rendered/dapr-kafka.yaml" "$work/bad/unknown-fields.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment":
        d["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    if d["kind"] == "Component":
        d["spec"]["metadata"][0]["envref"] = "X"
    if d["kind"] == "Resiliency":
        d["spec"]["policies"]["retries"]["inboundEvents"]["initialInterval"] = "1s"
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
if "$PY" "$here/check.py" schemas "${k8s_args[@]}" --crds "$crds" "$work/bad/unknown-fields.yaml" 2>"$work/bad.err"; then
    die "self-test: the schema check accepted unknown fields"
fi
for w in livenessprobe envref initialInterval; do
    grep -q "$w" "$work/bad.err" || { cat "$work/bad.err"; die "self-test: the schema check missed $w"; }
done
echo "  self-test: unknown fields in a Deployment, a Component and a Resiliency are refused"

# ---- chart <-> binary
say "contract: every container's args and environment accepted by $(basename "$TICKLER_BIN") check-config"
"$PY" "$here/check.py" contract --bin "$TICKLER_BIN" --containerfile "$repo/deploy/Containerfile" "$work"/rendered/*.yaml
# Self-test: a key the binary does not know, and a flag it does not know, must fail the contract.
template -f "$here/combos/kafka-direct.yaml" --set config.extraEnv.TICKLER_BOGUS__KEY=1 >"$work/bad/bogus-env.yaml"
template -f "$here/combos/dapr-kafka.yaml" --set 'roles.recurring.extraArgs={--no-such-flag}' >"$work/bad/bogus-arg.yaml"
for case in "bogus-env.yaml:bogus" "bogus-arg.yaml:no-such-flag"; do
    f="${case%%:*}" word="${case#*:}"
    if "$PY" "$here/check.py" contract --bin "$TICKLER_BIN" --containerfile "$repo/deploy/Containerfile" "$work/bad/$f" >/dev/null 2>"$work/bad.err"; then
        die "self-test: the contract accepted $f"
    fi
    grep -q -- "$word" "$work/bad.err" || { cat "$work/bad.err"; die "self-test: the contract's error for $f does not name $word"; }
done
echo "  self-test: an unknown TICKLER_ key and an unknown flag are refused by the binary"

# ---- the image recipe
say "Containerfile (static)"
uid="$("$PY" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["podSecurityContext"]["runAsUser"])' "$chart/values.yaml")"
"$PY" "$here/check.py" containerfile --uid "$uid" "$repo/deploy/Containerfile"
cat >"$work/bad/Containerfile" <<'BAD'
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile production --locked --bin tickler
FROM rust:1.95.0-slim-bookworm
RUN apt-get update
COPY --from=build /src/target/production/tickler /usr/local/bin/tickler
HEALTHCHECK CMD curl -f http://localhost:8080/healthz
ENTRYPOINT /usr/local/bin/tickler
BAD
if "$PY" "$here/check.py" containerfile --uid "$uid" "$work/bad/Containerfile" >/dev/null 2>"$work/bad.err"; then
    die "self-test: the Containerfile check accepted a root, toolchain-based runtime stage"
fi
echo "  self-test: a bad recipe is refused ($(grep -c FAIL "$work/bad.err") problems found)"

# ---- counts
say "rendered manifests per combination"
"$PY" - "$work"/rendered/*.yaml <<'PY'
import collections, os, sys, yaml
total = 0
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    kinds = collections.Counter(d["kind"] for d in docs)
    total += len(docs)
    detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(f"  {os.path.basename(path)[:-5]:<26} {len(docs):>3}  ({detail})")
print(f"  {'all':<26} {total:>3}")
PY
echo "tests/helm: all checks passed in $((SECONDS - start)) s"
