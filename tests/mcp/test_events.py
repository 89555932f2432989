"""Every write made through a tool records its CloudEvent in the outbox, and the same write
through REST records the same event (modulo ids and times)."""

import copy

import pytest
from conftest import ok

pytestmark = pytest.mark.anyio

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def types(events):
    return [(e["topic"], e["event"]["type"]) for e in events]


def normalise(event: dict) -> dict:
    """The event without what differs between two writes by nature: ids, times, span ids."""
    e = copy.deepcopy(event)
    for k in ("id", "time", "subject"):
        e.pop(k, None)
    if "traceparent" in e:
        # Same trace, a fresh span per request.
        e["traceparent"] = e["traceparent"].split("-")[1]
    task = e.get("data", {}).get("task", {})
    for k in ("id", "created_at", "updated_at", "completed_at", "series_start"):
        task.pop(k, None)
    for r in task.get("reminders", []):
        for k in ("id", "task_id", "created_at"):
            r.pop(k, None)
    rec = task.get("recurrence") or {}
    for k in ("series_start", "previous_task_id"):
        rec.pop(k, None)
    return e


async def test_each_write_records_its_event(server, user):
    async with server.client(user) as c:
        tag = ok(await c.call_tool("create_tag", {"name": "t"}))
        seq = server.outbox_seq()
        t = ok(await c.call_tool("add_task", {"title": "Evented", "due_date": "2030-01-01T10:00:00Z", "recurrence_rule": "daily"}))
        tid = t["task_id"]
        ok(await c.call_tool("update_task", {"task_id": tid, "priority": "high"}))
        ok(await c.call_tool("add_tag_to_task", {"task_id": tid, "tag_id": tag["tag_id"]}))
        ok(await c.call_tool("remove_tag_from_task", {"task_id": tid, "tag_id": tag["tag_id"]}))
        ok(await c.call_tool("set_reminder", {"task_id": tid, "remind_before_minutes": 15}))
        ok(await c.call_tool("complete_task", {"task_id": tid}))
        ok(await c.call_tool("delete_task", {"task_id": tid}))
        mine = [e for e in server.events_after(seq) if e["key"] == str(tid)]
        # Reads and label tools record nothing.
        before = server.outbox_seq()
        ok(await c.call_tool("list_tasks", {}))
        ok(await c.call_tool("search_tasks", {"query": "evented"}))
        ok(await c.call_tool("list_tags", {}))
        ok(await c.call_tool("create_category", {"name": "quiet"}))
        assert server.events_after(before) == []

    assert types(mine) == [
        ("task-events", "task.created"),
        ("task-events", "task.updated"),
        ("task-events", "task.updated"),
        ("task-events", "task.updated"),
        ("task-events", "task.updated"),
        ("task-events", "task.completed"),
        # A completed recurring task also goes to the recurring role.
        ("task-recurrence", "task.completed"),
        ("task-events", "task.deleted"),
    ]
    changed = [e["event"]["data"].get("changed_fields") for e in mine[1:5]]
    assert changed == [["priority"], ["tag_ids"], ["tag_ids"], ["reminders"]]
    for e in mine:
        ev = e["event"]
        assert ev["specversion"] == "1.0" and ev["source"] == "tickler" and ev["id"]
        assert ev["subject"] == str(tid) and ev["time"].endswith("Z")
        assert ev["data"]["user_id"] == user
        assert ev["data"]["task"]["id"] == tid
    assert len({e["event"]["id"] for e in mine if e["topic"] == "task-events"}) == 7


async def test_same_events_as_rest(server, user):
    """The same writes through MCP and through REST produce the same events."""
    with server.rest(user) as rest:
        probe = rest.get("/tasks")
        if probe.status_code == 404:
            pytest.skip("REST API not served by this build")
        assert probe.status_code == 200, probe.text
        async with server.client(user) as c:
            cat = ok(await c.call_tool("create_category", {"name": "Both"}))
            tag = ok(await c.call_tool("create_tag", {"name": "both"}))
            create = {
                "title": "Same everywhere",
                "description": "compare me",
                "priority": "urgent",
                "due_date": "2030-04-01",
                "category_id": cat["category_id"],
                "tag_ids": [tag["tag_id"]],
                "recurrence_rule": "every monday",
            }
            update = {"title": "Renamed", "due_date": None, "description": ""}

            seq = server.outbox_seq()
            via_mcp = ok(await c.call_tool("add_task", create))["task_id"]
            ok(await c.call_tool("update_task", {"task_id": via_mcp, **update}))
            ok(await c.call_tool("set_reminder", {"task_id": via_mcp, "remind_at": "2030-03-30T08:00:00Z"}))
            ok(await c.call_tool("complete_task", {"task_id": via_mcp}))
            ok(await c.call_tool("delete_task", {"task_id": via_mcp}))
            mcp_events = [e for e in server.events_after(seq) if e["key"] == str(via_mcp)]

        headers = {"traceparent": TRACE}
        seq = server.outbox_seq()
        r = rest.post("/tasks", json=create, headers=headers)
        assert r.status_code == 201, r.text
        via_rest = r.json()["id"]
        assert rest.patch(f"/tasks/{via_rest}", json=update, headers=headers).status_code == 200
        r = rest.post(f"/tasks/{via_rest}/reminders", json={"remind_at": "2030-03-30T08:00:00Z"}, headers=headers)
        assert r.status_code in (200, 201), r.text
        assert rest.post(f"/tasks/{via_rest}/complete", headers=headers).status_code == 200
        assert rest.delete(f"/tasks/{via_rest}", headers=headers).status_code in (200, 204)
        rest_events = [e for e in server.events_after(seq) if e["key"] == str(via_rest)]

    assert types(mcp_events) == types(rest_events)
    for m, r in zip(mcp_events, rest_events):
        m_ev, r_ev = normalise(m["event"]), normalise(r["event"])
        # Both carry a trace context; the values differ (different requests).
        assert ("traceparent" in m_ev) == ("traceparent" in r_ev), (m_ev, r_ev)
        m_ev.pop("traceparent", None)
        r_ev.pop("traceparent", None)
        assert m_ev == r_ev


async def test_trace_context_travels_into_the_event(server, user):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {server.token(user)}", "traceparent": TRACE}
    seq = server.outbox_seq()
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(server.mcp_url, http_client=http)) as c:
            t = ok(await c.call_tool("add_task", {"title": "traced"}))
    (created,) = [e for e in server.events_after(seq) if e["key"] == str(t["task_id"])]
    tp = created["event"]["traceparent"]
    assert tp.split("-")[1] == TRACE.split("-")[1]
