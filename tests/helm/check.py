#!/usr/bin/env python3
"""Checks of the rendered Helm chart, called by tests/helm/run.sh (in its venv).

  check.py schemas  --k8s 1.37.0 [--k8s 1.31.0] --crds DIR  RENDERED.yaml...
      every Kubernetes object against the API schemas of each pinned version (strict: unknown
      fields are errors); every dapr.io object against its CRD's openAPIV3Schema (strict too).
  check.py contract --bin TICKLER --containerfile deploy/Containerfile  RENDERED.yaml...
      chart <-> binary: every container's args and environment (ConfigMap and Secret keys
      included, secrets as placeholders, plus the image's ENV and what the Dapr injector adds)
      are accepted by `tickler ... check-config`; the Dapr wiring is consistent.
  check.py containerfile deploy/Containerfile
      static checks of the image recipe.
Exit status 1 with one line per problem.
"""

import argparse
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import yaml

problems = []


def problem(msg):
    problems.append(msg)
    print(f"  FAIL {msg}", file=sys.stderr)


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ident(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------- schemas

def strict_schema(node):
    """An OpenAPI v3 (CRD structural) schema as a JSON schema that refuses unknown fields
    wherever the CRD does not say x-kubernetes-preserve-unknown-fields."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {name: strict_schema(s) for name, s in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = strict_schema(v)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = strict_schema(v)
        elif k.startswith("x-kubernetes-") or k == "nullable":
            continue
        else:
            out[k] = v
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and "properties" in out
    ):
        out["additionalProperties"] = False
    return out


OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def load_crds(crd_dir):
    crds = {}
    for name in sorted(os.listdir(crd_dir)):
        if not name.endswith((".yaml", ".yml")):
            continue
        for crd in load_docs(os.path.join(crd_dir, name)):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for ver in spec["versions"]:
                if not ver.get("served"):
                    continue
                schema = ver["schema"]["openAPIV3Schema"]
                key = (f"{spec['group']}/{ver['name']}", spec["names"]["kind"])
                crds[key] = schema
    return crds


def check_crd_object(doc, crds, where):
    import jsonschema

    key = (doc.get("apiVersion"), doc.get("kind"))
    schema = crds.get(key)
    if schema is None:
        problem(f"{where}: {ident(doc)}: no Dapr CRD serves {key[0]} {key[1]}")
        return
    s = strict_schema(copy.deepcopy(schema))
    # The CRD says only `metadata: {type: object}`; the API server checks ObjectMeta.
    s.setdefault("properties", {})["metadata"] = OBJECT_META
    validator = jsonschema.Draft7Validator(s)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        path = "/".join(str(p) for p in err.absolute_path)
        problem(f"{where}: {ident(doc)}: {path}: {err.message}")


def cmd_schemas(args):
    import kubernetes_validate

    crds = load_crds(args.crds)
    if not crds:
        problem(f"no CRDs in {args.crds}")
    for path in args.files:
        where = os.path.basename(path)
        for doc in load_docs(path):
            api = doc.get("apiVersion", "")
            if api.split("/")[0].endswith("dapr.io"):
                check_crd_object(doc, crds, where)
                continue
            for version in args.k8s:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    path_ = "/".join(str(p) for p in e.path)
                    problem(f"{where}: {ident(doc)} (k8s {version}): {path_}: {e.message}")
                except Exception as e:  # SchemaNotFoundError, InvalidSchemaError, …
                    problem(f"{where}: {ident(doc)} (k8s {version}): {type(e).__name__}: {e}")


# ---------------------------------------------------------------- contract

def image_env(containerfile):
    """ENV of the final stage of the Containerfile (KEY=VALUE form)."""
    stages = parse_containerfile(containerfile)
    env = {}
    for instr, rest in stages[-1]["lines"]:
        if instr == "ENV":
            for tok in shlex.split(rest):
                k, _, v = tok.partition("=")
                env[k] = v
    return env


# What the Dapr sidecar injector (v1.18, pkg/injector/patcher) adds to every app container.
INJECTOR_ENV = {"DAPR_HTTP_PORT": "3500", "DAPR_GRPC_PORT": "50001", "APP_PROTOCOL": "http"}


def placeholder(env_name, secret, key):
    if env_name.endswith("DATABASE_URL"):
        return "postgres://tickler:placeholder@postgres.invalid:5432/tickler"
    if env_name in ("DAPR_API_TOKEN", "APP_API_TOKEN"):
        return "placeholder-token-0123456789"
    return f"placeholder-{secret}-{key}-0123456789"


def pod_containers(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        tmpl = doc["spec"]["template"]
    else:
        return None, []
    return tmpl, tmpl["spec"].get("containers", []) + tmpl["spec"].get("initContainers", [])


def container_env(c, configmaps, where, name, base):
    env = dict(base)
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            cm = src["configMapRef"]["name"]
            if cm not in configmaps:
                problem(f"{where}: {name}: envFrom names ConfigMap {cm}, which the chart does not render")
                continue
            env.update({k: str(v) for k, v in (configmaps[cm].get("data") or {}).items()})
        elif "secretRef" in src:
            problem(f"{where}: {name}: envFrom secretRef hides which keys the binary gets; use secretKeyRef")
        else:
            problem(f"{where}: {name}: unexpected envFrom {src}")
    for e in c.get("env", []):
        n = e["name"]
        if "value" in e:
            env[n] = str(e["value"])
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            if "secretKeyRef" in vf:
                ref = vf["secretKeyRef"]
                if not ref.get("name") or not ref.get("key"):
                    problem(f"{where}: {name}: {n} names no Secret/key")
                env[n] = placeholder(n, ref.get("name"), ref.get("key"))
            elif "configMapKeyRef" in vf:
                ref = vf["configMapKeyRef"]
                data = (configmaps.get(ref["name"]) or {}).get("data") or {}
                if ref["key"] not in data:
                    problem(f"{where}: {name}: {n} names {ref['name']}/{ref['key']}, not rendered")
                env[n] = str(data.get(ref["key"], ""))
            else:
                env[n] = "placeholder"
        else:
            env[n] = ""
    return env


def run_tickler(binary, argv, env, cwd):
    full = {"PATH": "/usr/bin:/bin", "HOME": cwd}
    full.update(env)
    p = subprocess.run([binary, *argv], env=full, cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def cmd_contract(args):
    base = image_env(args.containerfile)
    checked = refused = 0
    for path in args.files:
        where = os.path.basename(path)
        docs = load_docs(path)
        configmaps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
        components = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Component"}
        configurations = {d["metadata"]["name"] for d in docs if d.get("kind") == "Configuration"}
        for doc in docs:
            tmpl, containers = pod_containers(doc)
            if tmpl is None:
                continue
            ann = tmpl.get("metadata", {}).get("annotations", {}) or {}
            dapr_on = ann.get("dapr.io/enabled") == "true"
            for c in containers:
                name = f"{ident(doc)}[{c['name']}]"
                env = container_env(c, configmaps, where, name, base)
                if dapr_on:
                    for k, v in INJECTOR_ENV.items():
                        env.setdefault(k, v)
                argv = list(c.get("command", [])[1:] if c.get("command") else []) + list(c.get("args", []))
                with tempfile.TemporaryDirectory() as tmp:
                    env["TICKLER_DATA_DIR"] = tmp  # the pod's emptyDir
                    if argv[-1:] == ["migrate"]:
                        # The Job's command itself, on a throw-away SQLite file: the configuration
                        # is loaded exactly as in the cluster; only the database differs.
                        env["TICKLER_DATABASE_URL"] = f"sqlite://{tmp}/migrate.db?mode=rwc"
                        rc, out = run_tickler(args.bin, argv, env, tmp)
                    else:
                        rc, out = run_tickler(args.bin, [*argv, "check-config"], env, tmp)
                checked += 1
                if rc != 0:
                    refused += 1
                    problem(f"{where}: {name}: `tickler {' '.join(argv)}` refused its configuration: {out}")
                elif args.verbose:
                    print(f"  ok   {where}: {name}: {out.splitlines()[-1] if out else ''}")
                check_dapr_wiring(where, name, doc, c, env, ann, dapr_on, components, configurations)
        check_exposure(where, docs)
    print(f"  {checked - refused} of {checked} containers accepted by the binary")


def envref_names(components):
    names = set()
    for comp in components.values():
        for m in comp.get("spec", {}).get("metadata", []) or []:
            if "envRef" in m:
                names.add(m["envRef"])
    return names


def check_dapr_wiring(where, name, doc, c, env, ann, dapr_on, components, configurations):
    use_dapr = env.get("USE_DAPR", "false").lower() in ("1", "true", "yes", "on")
    if doc["kind"] == "Job":
        if dapr_on:
            problem(f"{where}: {name}: a Job with a Dapr sidecar never completes")
        return
    if use_dapr != dapr_on:
        problem(f"{where}: {name}: USE_DAPR={env.get('USE_DAPR')} but dapr.io/enabled={ann.get('dapr.io/enabled')}")
    if not dapr_on:
        return
    listen = env.get("TICKLER_DAPR__APP_LISTEN") or f"127.0.0.1:{env.get('APP_PORT', '8090')}"
    host, _, port = listen.rpartition(":")
    if host != "127.0.0.1":
        problem(f"{where}: {name}: the Dapr-facing listener {listen} is not loopback-only")
    if ann.get("dapr.io/app-port") != port:
        problem(f"{where}: {name}: dapr.io/app-port {ann.get('dapr.io/app-port')} is not dapr.app_listen's port {port}")
    if ann.get("dapr.io/config") not in configurations:
        problem(f"{where}: {name}: dapr.io/config {ann.get('dapr.io/config')} is not a rendered Configuration")
    for key, prefix in (("TICKLER_DAPR__PUBSUB", "pubsub."), ("TICKLER_DAPR__STATESTORE", "state.")):
        comp = components.get(env.get(key, ""))
        if comp is None or not comp["spec"]["type"].startswith(prefix):
            problem(f"{where}: {name}: {key}={env.get(key)} names no rendered {prefix}* component")
        elif ann.get("dapr.io/app-id") not in (comp.get("scopes") or [ann.get("dapr.io/app-id")]):
            problem(f"{where}: {name}: component {comp['metadata']['name']} is not scoped to {ann.get('dapr.io/app-id')}")
    store = env.get("TICKLER_DAPR__SECRETSTORE")
    if store and store not in components:
        problem(f"{where}: {name}: dapr.secretstore {store} is not a rendered component")
    # Every envRef of the rendered components is given to the sidecar (dapr.io/env or
    # dapr.io/env-from-secret: the injector allows exactly those names).
    given = set()
    for a in ("dapr.io/env", "dapr.io/env-from-secret"):
        for part in re.split(r",\s*(?=[A-Za-z_][A-Za-z0-9_]*=)", ann.get(a, "")):
            if "=" in part:
                given.add(part.split("=", 1)[0].strip())
    for missing in sorted(envref_names(components) - given):
        problem(f"{where}: {name}: the sidecar is not given {missing} (an envRef of a rendered component)")
    for bad in sorted(n for n in given if n.upper().startswith("DAPR_")):
        problem(f"{where}: {name}: daprd refuses envRef names starting with DAPR_: {bad}")
    for tok, secret in (("DAPR_API_TOKEN", "dapr.io/api-token-secret"), ("APP_API_TOKEN", "dapr.io/app-token-secret")):
        if ann.get(secret) and tok not in {e["name"] for e in c.get("env", [])}:
            problem(f"{where}: {name}: {secret} is set but the app is not given {tok} from it")


def check_exposure(where, docs):
    """The Dapr-facing port is never in a Service, an Ingress or a NetworkPolicy's allow-list."""
    dapr_ports = set()
    for d in docs:
        tmpl, _ = pod_containers(d)
        if tmpl:
            p = (tmpl.get("metadata", {}).get("annotations") or {}).get("dapr.io/app-port")
            if p:
                dapr_ports.add(int(p))
    for d in docs:
        if d.get("kind") == "Service":
            for p in d["spec"].get("ports", []):
                if p.get("targetPort") in dapr_ports or p.get("port") in dapr_ports:
                    problem(f"{where}: {ident(d)} exposes the Dapr-facing port")
            comp = d["spec"].get("selector", {}).get("app.kubernetes.io/component")
            if comp != "backend":
                problem(f"{where}: {ident(d)} selects {comp}: only the backend has a Service")
        if d.get("kind") == "NetworkPolicy":
            for rule in d["spec"].get("ingress", []):
                if not rule.get("ports"):
                    problem(f"{where}: {ident(d)} allows every port")
                for p in rule.get("ports", []):
                    if p.get("port") in dapr_ports:
                        problem(f"{where}: {ident(d)} opens the Dapr-facing port")
    pods = [d for d in docs if d.get("kind") == "Deployment"]
    policies = {tuple(sorted(d["spec"]["podSelector"].get("matchLabels", {}).items())) for d in docs if d.get("kind") == "NetworkPolicy"}
    if policies:
        for d in pods:
            sel = tuple(sorted(d["spec"]["selector"]["matchLabels"].items()))
            if sel not in policies:
                problem(f"{where}: {ident(d)} has no NetworkPolicy")


# ---------------------------------------------------------------- containerfile

def parse_containerfile(path):
    text = open(path).read()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    args = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
            continue
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            image = re.sub(r"\$\{(\w+)\}", lambda mm: args.get(mm.group(1), mm.group(0)), m.group(1))
            stages.append({"image": image, "name": m.group(2), "lines": []})
            continue
        if stages:
            stages[-1]["lines"].append((instr, rest.strip()))
    return stages


def cmd_containerfile(args):
    stages = parse_containerfile(args.file)
    names = [s["name"] for s in stages]
    if len(stages) < 2:
        problem("Containerfile: not multi-stage")
        return
    final = stages[-1]
    lines = final["lines"]

    def all_of(instr, st=final):
        return [r for i, r in st["lines"] if i == instr]

    # The runtime stage: no compiler, no package manager run, no shell needed.
    if re.search(r"(^|/)(rust|golang|gcc|buildpack-deps)(:|$)", final["image"]):
        problem(f"Containerfile: the runtime stage starts FROM {final['image']}, a toolchain image")
    final_text = " ".join(r for _, r in lines)
    for tool in ("cargo", "rustc", "rustup", "gcc", "cc ", "apt-get", "apk "):
        if tool in final_text:
            problem(f"Containerfile: the runtime stage mentions {tool.strip()}")
    if all_of("RUN"):
        problem("Containerfile: the runtime stage RUNs commands (it has no shell to run them)")
    if any(i == "HEALTHCHECK" for s in stages for i, _ in s["lines"]):
        problem("Containerfile: HEALTHCHECK found; the chart's probes are the health checks")
    users = all_of("USER")
    if not users or not re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]):
        problem(f"Containerfile: the runtime stage's USER is {users[-1:] or 'unset'}, not a numeric non-root uid")
    elif args.uid and users[-1].split(":")[0] != str(args.uid):
        problem(f"Containerfile: USER {users[-1]} differs from the chart's runAsUser {args.uid}")
    ep = all_of("ENTRYPOINT")
    try:
        ep_list = json.loads(ep[-1]) if ep else None
    except json.JSONDecodeError:
        ep_list = None
    if not ep_list or ep_list[0] != "/usr/local/bin/tickler":
        problem(f"Containerfile: ENTRYPOINT is not the exec form [\"/usr/local/bin/tickler\"]: {ep}")
    elif not any("target/production/tickler" in r and "usr/local/bin/tickler" in r for s in stages[:-1] for _, r in s["lines"]):
        problem("Containerfile: no stage puts target/production/tickler at the ENTRYPOINT's path")
    # The binary: built with --bin tickler in a named build stage and copied from it.
    build_stages = [s for s in stages if any("cargo build" in r and "--bin tickler" in r and "--profile production" in r and "--locked" in r for i, r in s["lines"] if i == "RUN")]
    if not build_stages:
        problem("Containerfile: no stage runs `cargo build --profile production --locked --bin tickler`")
    else:
        b = build_stages[0]
        if not re.search(r"(^|/)rust:", b["image"]) and b["name"] not in names:
            problem(f"Containerfile: the build stage starts FROM {b['image']}, not a rust image")
        # Dependencies in a layer of their own: the manifests are copied (and built) before the sources.
        copies = [r for i, r in b["lines"] if i == "COPY"]
        first_src = next((n for n, r in enumerate(copies) if re.search(r"(^|\s)src(/|\s)", r)), None)
        first_lock = next((n for n, r in enumerate(copies) if "Cargo.lock" in r), None)
        if first_lock is None or first_src is None or first_lock > first_src:
            problem("Containerfile: Cargo.toml/Cargo.lock are not copied before the sources (no dependency layer)")
        runs = [r for i, r in b["lines"] if i == "RUN" and "cargo build" in r]
        if len(runs) < 2:
            problem("Containerfile: expected a dependency-only cargo build before the real one")
    copies = [r for s in stages for i, r in s["lines"] if i == "COPY"]
    final_copies = all_of("COPY")
    if not any(re.search(r"--from=\S+", r) for r in final_copies):
        problem("Containerfile: the runtime stage copies nothing from a build stage")
    text = open(args.file).read()
    if "target/production/tickler" not in text:
        problem("Containerfile: target/production/tickler is never copied")
    for r in copies:
        if re.fullmatch(r"(--\S+\s+)*\.\s+\.", r):
            problem("Containerfile: COPY . . sends the whole context (target/, .git) into the build")
    desc = ", ".join(f"{st['name'] or '-'} FROM {st['image']}" for st in stages)
    print(f"  stages: {desc}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schemas")
    s.add_argument("--k8s", action="append", required=True)
    s.add_argument("--crds", required=True)
    s.add_argument("files", nargs="+")
    c = sub.add_parser("contract")
    c.add_argument("--bin", required=True)
    c.add_argument("--containerfile", required=True)
    c.add_argument("-v", "--verbose", action="store_true")
    c.add_argument("files", nargs="+")
    f = sub.add_parser("containerfile")
    f.add_argument("--uid", type=int)
    f.add_argument("file")
    a = ap.parse_args()
    {"schemas": cmd_schemas, "contract": cmd_contract, "containerfile": cmd_containerfile}[a.cmd](a)
    if problems:
        print(f"{a.cmd}: {len(problems)} problem(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
