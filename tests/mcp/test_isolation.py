"""Isolation: two users never see or touch each other's tasks, categories or tags; a request
without a valid token is refused with HTTP 401 before any tool runs, and changes nothing."""

import base64
import hashlib
import hmac
import json
import time

import httpx2
import pytest
from conftest import SECRET, err, items, ok
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict, secret: str = SECRET, alg: str = "HS256") -> str:
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signing = f"{head}.{body}".encode()
    sig = b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest()) if alg == "HS256" else ""
    return f"{head}.{body}.{sig}"


async def test_users_never_see_each_other(server, user):
    alice, bob = f"{user}-alice", f"{user}-bob"
    async with server.client(alice) as a, server.client(bob) as b:
        cat = ok(await a.call_tool("create_category", {"name": "Work"}))
        tag = ok(await a.call_tool("create_tag", {"name": "secret"}))
        t = ok(await a.call_tool("add_task", {
            "title": "Alice's plan", "category_id": cat["category_id"], "tag_ids": [tag["tag_id"]],
            "due_date": "2030-01-01T10:00:00Z",
        }))
        tid, cid, gid = t["task_id"], cat["category_id"], tag["tag_id"]
        seq = server.outbox_seq()

        # Bob sees nothing of Alice's.
        assert items(await b.call_tool("list_tasks", {})) == []
        assert items(await b.call_tool("list_categories", {})) == []
        assert items(await b.call_tool("list_tags", {})) == []
        assert items(await b.call_tool("search_tasks", {"query": "plan"})) == []
        body = err(await b.call_tool("get_task", {"task_id": tid}), "NOT_FOUND")
        assert body["details"]["suggestions"] == []

        # Bob cannot touch Alice's task...
        for tool, args in [
            ("update_task", {"task_id": tid, "title": "hacked"}),
            ("complete_task", {"task_id": tid}),
            ("delete_task", {"task_id": tid}),
            ("add_tag_to_task", {"task_id": tid, "tag_id": gid}),
            ("set_reminder", {"task_id": tid, "remind_before_minutes": 5}),
        ]:
            r = await b.call_tool(tool, args)
            assert r.is_error and r.structured_content["code"] == "TASK_NOT_FOUND", (tool, r.structured_content)
            assert "Alice" not in json.dumps(r.structured_content)

        # ...nor her categories and tags, not even by reference.
        mine = ok(await b.call_tool("add_task", {"title": "Bob's"}))
        err(await b.call_tool("add_task", {"title": "x", "category_id": cid}), "CATEGORY_NOT_FOUND")
        err(await b.call_tool("add_task", {"title": "x", "tag_ids": [gid]}), "TAG_NOT_FOUND")
        err(await b.call_tool("update_task", {"task_id": mine["task_id"], "category_id": cid}), "CATEGORY_NOT_FOUND")
        err(await b.call_tool("add_tag_to_task", {"task_id": mine["task_id"], "tag_id": gid}), "TAG_NOT_FOUND")
        err(await b.call_tool("remove_tag_from_task", {"task_id": mine["task_id"], "tag_id": gid}), "TAG_NOT_FOUND")
        err(await b.call_tool("list_tasks", {"category_id": cid}), "CATEGORY_NOT_FOUND")
        err(await b.call_tool("list_tasks", {"tag_ids": [gid]}), "TAG_NOT_FOUND")
        err(await b.call_tool("update_category", {"category_id": cid, "name": "Mine"}), "CATEGORY_NOT_FOUND")
        err(await b.call_tool("delete_category", {"category_id": cid}), "CATEGORY_NOT_FOUND")
        err(await b.call_tool("update_tag", {"tag_id": gid, "color": "#000000"}), "TAG_NOT_FOUND")
        err(await b.call_tool("delete_tag", {"tag_id": gid}), "TAG_NOT_FOUND")
        # Names are per user.
        ok(await b.call_tool("create_category", {"name": "Work"}))

        # Alice's data is as she left it, and nothing was recorded for her task.
        got = ok(await a.call_tool("get_task", {"task_id": tid}))
        assert got["title"] == "Alice's plan" and got["completed"] is False
        assert got["category"]["name"] == "Work" and [x["name"] for x in got["tags"]] == ["secret"]
        assert len(got["reminders"]) == 1
        assert [x["name"] for x in items(await a.call_tool("list_categories", {}))] == ["Work"]
        assert [x["name"] for x in items(await a.call_tool("list_tags", {}))] == ["secret"]
    assert [e for e in server.events_after(seq) if e["key"] == str(tid)] == []
    bob_events = server.events_after(seq)
    assert all(e["event"]["data"]["user_id"] == bob for e in bob_events)


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "add_task", "arguments": {"title": "sneaky"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def bad_authorizations(sub: str) -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing": None,
        "not bearer": f"Basic {b64(b'alice:pw')}",
        "garbage": "Bearer not-a-jwt",
        "forged": "Bearer " + jwt({"sub": sub, "exp": now + 600}, secret="someone-elses-secret"),
        "expired": "Bearer " + jwt({"sub": sub, "exp": now - 3600}),
        "alg none": "Bearer " + jwt({"sub": sub, "exp": now + 600}, alg="none"),
        "no sub": "Bearer " + jwt({"exp": now + 600}),
    }


@pytest.mark.parametrize("case", list(bad_authorizations("x")))
def test_bad_token_is_401_and_changes_nothing(server, user, case):
    auth = bad_authorizations(user)[case]
    seq = server.outbox_seq()
    for body in (INIT, CALL):
        headers = dict(HEADERS)
        if auth is not None:
            headers["Authorization"] = auth
        r = httpx2.post(server.mcp_url, json=body, headers=headers, timeout=10)
        assert r.status_code == 401, (case, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        error = r.json()["error"]
        assert error["message"].startswith("Unauthorized"), error
    assert server.events_after(seq) == []


async def test_mcp_client_without_valid_token_fails_and_nothing_changes(server, user):
    forged = jwt({"sub": user, "exp": int(time.time()) + 600}, secret="nope")
    seq = server.outbox_seq()
    for token in (None, forged):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        with pytest.raises(Exception):
            async with httpx2.AsyncClient(headers=headers) as http:
                async with Client(streamable_http_client(server.mcp_url, http_client=http)) as c:
                    await c.call_tool("add_task", {"title": "should not exist"})
    assert server.events_after(seq) == []
    async with server.client(user) as c:
        assert items(await c.call_tool("list_tasks", {})) == []


def test_valid_token_passes_raw_http(server, user):
    headers = dict(HEADERS, Authorization=f"Bearer {server.token(user)}")
    r = httpx2.post(server.mcp_url, json=INIT, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["serverInfo"]["name"] == "tickler"
