"""set_reminder: persisted, fires at its time (the seed stored nothing and e-mailed at once)."""

from datetime import datetime, timedelta, timezone

import pytest
from conftest import ok, structured

pytestmark = pytest.mark.anyio


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def failed(result, code):
    assert result.is_error, result.structured_content
    body = structured(result)
    assert body["success"] is False and body["status"] == "error" and body["code"] == code, body
    assert body["remind_at"] is None and body["message"]
    return body


async def test_reminder_before_due_date_is_stored(server, user):
    async with server.client(user) as c:
        t = ok(await c.call_tool("add_task", {"title": "Dentist", "due_date": "2030-06-01T15:00:00Z"}))
        r = ok(await c.call_tool("set_reminder", {"task_id": t["task_id"], "remind_before_minutes": 1440}))
        got = ok(await c.call_tool("get_task", {"task_id": t["task_id"]}))
    assert r["success"] is True and r["task_id"] == t["task_id"]
    assert r["remind_at"] == "2030-05-31T15:00:00Z"
    assert "Dentist" in r["message"]
    assert {x["remind_at"] for x in got["reminders"]} == {"2030-05-31T15:00:00Z", "2030-06-01T14:00:00Z"}
    assert r["reminder_id"] in {x["id"] for x in got["reminders"]}


async def test_reminder_at_an_instant_needs_no_due_date(server, user):
    async with server.client(user) as c:
        t = ok(await c.call_tool("add_task", {"title": "Call mum"}))
        r = ok(await c.call_tool("set_reminder", {"task_id": t["task_id"], "remind_at": "2030-06-01T08:30:00+02:00"}))
    assert r["remind_at"] == "2030-06-01T06:30:00Z"
    assert [x["minutes_before"] for x in r["reminders"]] == [None]


async def test_reminder_errors(server, user):
    past = iso(datetime.now(timezone.utc) - timedelta(hours=1))
    async with server.client(user) as c:
        undated = ok(await c.call_tool("add_task", {"title": "no due date"}))
        tid = undated["task_id"]
        body = failed(await c.call_tool("set_reminder", {"task_id": tid}), "INVALID_REMINDER")
        assert body["message"] == "Must provide either remind_before_minutes OR remind_at (not both, not neither)"
        assert body["task_id"] == tid
        failed(
            await c.call_tool("set_reminder", {"task_id": tid, "remind_before_minutes": 5, "remind_at": "2030-01-01T00:00:00Z"}),
            "INVALID_REMINDER",
        )
        failed(await c.call_tool("set_reminder", {"task_id": tid, "remind_before_minutes": 30}), "INVALID_REMINDER")
        failed(await c.call_tool("set_reminder", {"task_id": tid, "remind_before_minutes": -5}), "INVALID_REMINDER")
        failed(await c.call_tool("set_reminder", {"task_id": tid, "remind_at": past}), "INVALID_REMINDER")
        failed(await c.call_tool("set_reminder", {"task_id": tid, "remind_at": "in an hour"}), "VALIDATION_ERROR")
        body = failed(await c.call_tool("set_reminder", {"task_id": 987654321, "remind_before_minutes": 5}), "TASK_NOT_FOUND")
        assert body["task_id"] == 987654321
        assert body["details"]["suggestions"] == [{"id": tid, "title": "no due date"}]
        body = failed(await c.call_tool("set_reminder", {"task_id": "x", "remind_before_minutes": 5}), "VALIDATION_ERROR")
        assert body["task_id"] is None
        got = ok(await c.call_tool("get_task", {"task_id": tid}))
    assert got["reminders"] == []


async def test_reminder_fires_at_its_time(server, user):
    """The notification role publishes reminder.due at the reminder's instant, not before."""
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=3)
    async with server.client(user) as c:
        t = ok(await c.call_tool("add_task", {"title": "Stand up"}))
        seq = server.outbox_seq()
        r = ok(await c.call_tool("set_reminder", {"task_id": t["task_id"], "remind_at": iso(at)}))

    def due(e):
        return e["event"]["type"] == "reminder.due" and e["event"]["data"]["reminder_id"] == r["reminder_id"]

    events = server.wait_events(seq, due, timeout=15)
    fired = [e for e in events if due(e)]
    assert len(fired) == 1, events
    e = fired[0]
    assert e["topic"] == "task-reminders" and e["key"] == str(t["task_id"])
    data = e["event"]["data"]
    assert data["task_title"] == "Stand up" and parse(data["remind_at"]) == at
    fired_at = parse(data["fired_at"])
    assert at <= fired_at < at + timedelta(seconds=2), (at, fired_at)
    assert data["late"] is False
