"""The stdio transport (`tickler mcp --stdio`), as a desktop agent launches it: the user is the
one whose token is in TICKLER_TOKEN."""

import pytest
from conftest import err, items, ok
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


def stdio(server, token: str) -> StdioServerParameters:
    env = {k: v for k, v in server.env.items() if k.startswith(("TICKLER_", "RUST_", "PATH", "HOME"))}
    env["TICKLER_TOKEN"] = token
    env["TICKLER_DATA_DIR"] = str(server.data_dir)
    env["RUST_LOG"] = "warn"
    return StdioServerParameters(command=str(server.bin), args=["mcp", "--stdio"], env=env)


async def test_stdio_serves_the_tools_for_the_token_user(server, user):
    seq = server.outbox_seq()
    async with Client(stdio(server, server.token(user))) as c:
        tools = (await c.list_tools()).tools
        assert len(tools) == 18
        t = ok(await c.call_tool("add_task", {"title": "From the desktop", "due_date": "2030-02-02"}))
        assert t["due_date"] == "2030-02-02T23:59:59Z"
        assert [x["id"] for x in items(await c.call_tool("list_tasks", {}))] == [t["task_id"]]
        err(await c.call_tool("get_task", {"task_id": 987654321}), "NOT_FOUND")
        err(await c.call_tool("add_task", {"title": "x", "user_id": "other"}), "VALIDATION_ERROR")

    # Same store, same user as over HTTP; the write recorded its event.
    async with server.client(user) as h:
        assert [x["title"] for x in items(await h.call_tool("list_tasks", {}))] == ["From the desktop"]
    created = [e for e in server.events_after(seq) if e["key"] == str(t["task_id"])]
    assert [e["event"]["type"] for e in created] == ["task.created"]
    assert created[0]["event"]["data"]["user_id"] == user


async def test_stdio_refuses_to_start_without_a_valid_token(server, user):
    with pytest.raises(Exception):
        async with Client(stdio(server, "forged.token.value")) as c:
            await c.list_tools()
