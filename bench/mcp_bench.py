#!/usr/bin/env python3
"""MCP benchmark: `add_task` over streamable HTTP with the official MCP Python SDK.

Not a test. Starts `tickler --role all` on the embedded default (SQLite in a temporary directory),
then measures:

  1. 500 sequential `add_task` calls from one session;
  2. 1,000 `add_task` calls from 20 concurrent sessions (50 each, one user);
  3. `list_tasks` and `search_tasks` for that user, who now has 1,000 tasks;
  4. the reads again, and sequential `add_task`, as bare JSON-RPC POSTs from a light HTTP client,
     whose latency is much closer to the server's own.

For each: calls/s, client-side latency p50/p95/p99, and the server's CPU time per call (utime +
stime of the server process from /proc/<pid>/stat, before and after). The Python client costs far
more CPU than the server, so the server's CPU per call is the fair figure; latencies include the
client. Prints a markdown table and the machine it ran on.

    python bench/mcp_bench.py            # uses $TICKLER_BIN, else target/release/tickler
    python bench/mcp_bench.py --sequential 200 --concurrent 400 --sessions 10

Runs in the MCP suite's venv (tests/mcp/run.sh creates it): mcp==2.3.0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "b" * 32
CLK_TCK = os.sysconf("SC_CLK_TCK")
WORDS = ["report", "meeting", "invoice", "groceries", "dentist", "budget", "review", "call", "deploy", "garden"]


def default_bin() -> Path:
    if os.environ.get("TICKLER_BIN"):
        return Path(os.environ["TICKLER_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    release = target / "release" / "tickler"
    return release if release.exists() else target / "debug" / "tickler"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the whole process (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14, stime 15 (1-based) -> 11, 12 here.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def settle(pid: int, timeout: float = 60.0) -> None:
    """Waits until the server is idle (the relay and the background roles have caught up with the
    previous phase's events), so a phase is charged only for its own work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - c0 <= 0.01:
            return


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    return f"{nproc} CPUs (nproc), {model}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


class Server:
    def __init__(self, binary: Path, data_dir: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # Tickler refuses unknown TICKLER_* variables, so none of the caller's are passed on.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TICKLER_")}
        self.env.update(TICKLER_AUTH__SECRET=SECRET, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.binary = binary
        self.log = open(data_dir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--role", "all", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"tickler did not start; see {data_dir / 'server.log'}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def token(self, sub: str) -> str:
        out = subprocess.run(
            [str(self.binary), "token", "--sub", sub, "--email", f"{sub}@example.com"],
            env=self.env, capture_output=True, check=True, text=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@asynccontextmanager
async def session(url: str, token: str):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            # Warm the client's tool cache (it lists tools to validate the first result).
            await c.list_tools()
            yield c


async def timed_calls(c: Client, calls: list[tuple[str, dict]], out: list[float]) -> None:
    for name, args in calls:
        t0 = time.perf_counter()
        r = await c.call_tool(name, args)
        out.append((time.perf_counter() - t0) * 1000)
        if r.is_error:
            raise SystemExit(f"{name} failed: {r.structured_content}")


def add_calls(prefix: str, n: int) -> list[tuple[str, dict]]:
    return [
        (
            "add_task",
            {
                "title": f"{prefix} {i} {WORDS[i % len(WORDS)]}",
                "description": f"bench task {i} about the {WORDS[(i * 7) % len(WORDS)]}",
                "priority": ["low", "medium", "high", "urgent"][i % 4],
                "due_date": f"2030-{1 + i % 12:02d}-{1 + i % 28:02d}T09:00:00Z",
            },
        )
        for i in range(n)
    ]


async def phase(server: Server, name: str, sessions: list[tuple[str, list[tuple[str, dict]]]]) -> dict:
    """Runs each session's calls concurrently (one client per session)."""
    clients = []
    stack = []
    for token, _ in sessions:
        cm = session(server.url, token)
        clients.append(await cm.__aenter__())
        stack.append(cm)
    latencies: list[float] = []
    settle(server.proc.pid)
    cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
    await asyncio.gather(*(timed_calls(c, calls, latencies) for c, (_, calls) in zip(clients, sessions)))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
    for cm in reversed(stack):
        await cm.__aexit__(None, None, None)
    n = len(latencies)
    return {
        "name": name,
        "calls": n,
        "rate": n / wall,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "cpu_ms": cpu * 1000 / n,
    }


def raw_phase(server: Server, name: str, token: str, calls: list[tuple[str, dict]]) -> dict:
    """The same tool calls as bare JSON-RPC POSTs from a light HTTP client (no SDK, no schema
    validation): closer to the server's own latency."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    latencies: list[float] = []
    with httpx2.Client(headers=headers, timeout=60) as http:
        http.post(server.url, json={"jsonrpc": "2.0", "id": 0, "method": "ping"})
        settle(server.proc.pid)
        cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
        for i, (tool, args) in enumerate(calls):
            body = {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}
            s0 = time.perf_counter()
            r = http.post(server.url, json=body)
            latencies.append((time.perf_counter() - s0) * 1000)
            if r.status_code != 200 or r.json()["result"].get("isError"):
                raise SystemExit(f"{tool} failed: {r.status_code} {r.text[:300]}")
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
    n = len(latencies)
    return {
        "name": name,
        "calls": n,
        "rate": n / wall,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "cpu_ms": cpu * 1000 / n,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=default_bin())
    ap.add_argument("--sequential", type=int, default=500)
    ap.add_argument("--concurrent", type=int, default=1000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--reads", type=int, default=200, help="list_tasks and search_tasks calls each")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    a = ap.parse_args()
    if not a.bin.exists():
        raise SystemExit(f"no binary at {a.bin}; `cargo build --release` or set TICKLER_BIN")

    data_dir = Path(tempfile.mkdtemp(prefix="tickler-mcp-bench-"))
    server = Server(a.bin, data_dir)
    try:
        seq_user, many_user = server.token("bench-seq"), server.token("bench-many")
        rows = []
        rows.append(await phase(server, f"add_task, {a.sequential} sequential (1 session)",
                                [(seq_user, add_calls("seq", a.sequential))]))
        per = a.concurrent // a.sessions
        rows.append(await phase(
            server,
            f"add_task, {per * a.sessions} from {a.sessions} concurrent sessions",
            [(many_user, add_calls(f"s{s}", per)) for s in range(a.sessions)],
        ))
        n_tasks = per * a.sessions
        list_calls = [("list_tasks", {"status": "pending", "sort_by": "due_date"})] * a.reads
        search_calls = [("search_tasks", {"query": WORDS[i % len(WORDS)], "limit": 20}) for i in range(a.reads)]
        rows.append(await phase(server, f"list_tasks (user with {n_tasks} tasks, page of 50)",
                                [(many_user, list_calls)]))
        rows.append(await phase(server, f"search_tasks (user with {n_tasks} tasks, 20 hits)",
                                [(many_user, search_calls)]))
        rows.append(raw_phase(server, f"list_tasks, bare JSON-RPC client ({n_tasks} tasks)", many_user, list_calls))
        rows.append(raw_phase(server, f"search_tasks, bare JSON-RPC client ({n_tasks} tasks)", many_user, search_calls))
        rows.append(raw_phase(server, "add_task, bare JSON-RPC client, sequential", seq_user,
                              add_calls("raw", a.sequential)))
        rss = rss_mib(server.proc.pid)
    finally:
        server.stop()
        if not a.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    print(f"\nMCP benchmark — tickler {a.bin} (`--role all`, embedded SQLite), client: official MCP Python SDK")
    print(f"Machine: {machine()}\n")
    print("| workload | calls | calls/s | p50 ms | p95 ms | p99 ms | server CPU ms/call |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['calls']} | {r['rate']:.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['cpu_ms']:.3f} |")
    print(f"\nServer resident memory at the end: {rss:.1f} MiB. Latencies are measured in the client: "
          f"the SDK rows include the Python SDK's own work (JSON-RPC, pydantic, output-schema "
          f"validation), the bare rows only an HTTP round trip. CPU is the server process's "
          f"utime+stime ({1000 / CLK_TCK:.0f} ms ticks) over the phase divided by its calls, after "
          f"waiting for the previous phase's background work (relay, reminders) to finish.")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
