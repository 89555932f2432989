"""Fixtures for the MCP suite: the real `tickler` binary, driven by the official MCP Python SDK.

The server runs as `tickler --role all` on the embedded default (SQLite file in a temporary data
directory), exactly as a user would start it. Tokens come from `tickler token`. Events are read
from the SQLite outbox the server writes them to.

Environment:
  TICKLER_BIN        path of the binary (default: $CARGO_TARGET_DIR or <repo>/target, debug/tickler)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
SECRET = "mcp-suite-secret-" + "x" * 24


def tickler_bin() -> Path:
    explicit = os.environ.get("TICKLER_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "tickler"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `tickler --role all` and what the tests need to talk to it."""

    bin: Path
    data_dir: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tickler.db"

    def token(self, sub: str) -> str:
        """A token minted by `tickler token` for user `sub` (cached)."""
        if sub not in self.tokens:
            out = subprocess.run(
                [str(self.bin), "token", "--sub", sub, "--email", f"{sub}@example.com"],
                env=self.env,
                capture_output=True,
                check=True,
                timeout=60,
            )
            self.tokens[sub] = out.stdout.decode().strip()
        return self.tokens[sub]

    # --- the outbox -------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        db.execute("PRAGMA busy_timeout = 10000")
        return db

    def outbox_seq(self) -> int:
        """The newest outbox row's position: events after it are the ones a test causes."""
        with contextlib.closing(self._db()) as db:
            (seq,) = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM outbox").fetchone()
        return int(seq)

    def events_after(self, seq: int) -> list[dict[str, Any]]:
        """Outbox rows written after `seq`: topic, key and the CloudEvent (payload)."""
        with contextlib.closing(self._db()) as db:
            rows = db.execute(
                "SELECT topic, key, payload FROM outbox WHERE rowid > ? ORDER BY rowid", (seq,)
            ).fetchall()
        out = []
        for topic, key, payload in rows:
            if isinstance(payload, bytes | bytearray | memoryview):
                payload = bytes(payload).decode()
            out.append({"topic": topic, "key": key, "event": json.loads(payload)})
        return out

    def wait_events(self, seq: int, pred, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Polls the outbox until an event after `seq` satisfies `pred`."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events_after(seq)
            if any(pred(e) for e in events):
                return events
            if time.monotonic() > deadline:
                return events
            time.sleep(0.1)

    # --- clients ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def client(self, sub: str | None = None, *, token: str | None = None) -> AsyncIterator[Client]:
        """An MCP client over streamable HTTP for user `sub` (or with an explicit token)."""
        headers = {}
        tok = token if token is not None else (self.token(sub) if sub else None)
        if tok is not None:
            headers["Authorization"] = f"Bearer {tok}"
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(self.mcp_url, http_client=http)) as client:
                yield client

    def rest(self, sub: str) -> httpx2.Client:
        return httpx2.Client(
            base_url=f"{self.base}/api/v1",
            headers={"Authorization": f"Bearer {self.token(sub)}"},
            timeout=30,
        )


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            r = httpx2.get(f"{server.base}/healthz", timeout=2)
            if r.status_code == 200:
                return
            last = r.status_code
        except httpx2.HTTPError as e:  # not listening yet
            last = e
        time.sleep(0.1)
    log = server.log_path.read_text(errors="replace")[-4000:]
    raise RuntimeError(f"tickler did not become ready ({last}); exit={server.proc.poll()}\n{log}")


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> Server:
    binary = tickler_bin()
    if not binary.exists():
        pytest.exit(f"tickler binary not found at {binary}; run `cargo build` or set TICKLER_BIN", 2)
    # Tickler refuses unknown TICKLER_* variables (typos in configuration), so pass none of the
    # caller's (TICKLER_BIN, ...) through.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKLER_")}
    env["TICKLER_AUTH__SECRET"] = SECRET
    env.setdefault("RUST_LOG", "info")
    env.update(extra_env or {})
    port = free_port()
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(binary), "--role", "all", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(bin=binary, data_dir=data_dir, port=port, env=env, proc=proc, log_path=log_path)
    try:
        _wait_ready(server)
    except Exception:
        proc.kill()
        raise
    return server


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="tickler-mcp-") as d:
        s = start_server(Path(d))
        try:
            yield s
        finally:
            stop_server(s)
            if os.environ.get("TICKLER_MCP_SHOW_LOG"):
                sys.stderr.write(s.log_path.read_text(errors="replace"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def user() -> str:
    """A fresh user per test, so tests never see each other's data on the shared server."""
    return f"u-{uuid.uuid4().hex[:12]}"


# --- helpers shared by the test modules ---------------------------------------------------------


def structured(result) -> Any:
    """The structured content of a tool result (checked against its text content)."""
    assert result.structured_content is not None, result
    return result.structured_content


def ok(result) -> dict[str, Any]:
    assert not result.is_error, f"unexpected error: {result.structured_content or result.content}"
    return structured(result)


def err(result, code: str) -> dict[str, Any]:
    assert result.is_error, f"expected {code}, got success: {result.structured_content}"
    body = structured(result)
    assert body.get("code") == code, body
    assert body.get("message"), body
    return body


def items(result) -> list[dict[str, Any]]:
    """A list tool's items, checking the seed's contract: the first text block is the bare array."""
    body = ok(result)
    assert isinstance(body.get("result"), list), body
    text = result.content[0].text
    assert json.loads(text) == body["result"]
    return body["result"]
