"""Task tools with good and bad arguments: add, list, get, update, complete, delete, search."""

from datetime import datetime, timedelta, timezone

import pytest
from conftest import err, items, ok

pytestmark = pytest.mark.anyio


async def add(c, title, **kw):
    return ok(await c.call_tool("add_task", {"title": title, **kw}))


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- add_task -------------------------------------------------------------------------------


async def test_add_minimal_task(server, user):
    async with server.client(user) as c:
        t = await add(c, "  Buy milk  ")
    assert t["status"] == "created"
    assert isinstance(t["task_id"], int)
    assert t["title"] == "Buy milk"
    assert t["priority"] == "medium"
    assert t["completed"] is False
    assert t["description"] is None and t["due_date"] is None
    assert t["category"] is None and t["tags"] == [] and t["recurrence_rule"] is None
    assert t["deduplicated"] is False
    assert t["created_at"].endswith("Z")


async def test_add_full_task_with_labels_dates_and_recurrence(server, user):
    async with server.client(user) as c:
        cat = ok(await c.call_tool("create_category", {"name": "Work", "color": "#3B82F6"}))
        tag = ok(await c.call_tool("create_tag", {"name": "meeting"}))
        t = await add(
            c,
            "Weekly sync",
            description="Agenda in the doc",
            priority="HIGH",
            category_id=cat["category_id"],
            tag_ids=[tag["tag_id"], tag["tag_id"]],
            due_date="2030-01-14T09:00:00+01:00",
            recurrence_rule="every monday",
        )
    assert t["priority"] == "high"
    assert t["description"] == "Agenda in the doc"
    assert t["category"] == {"id": cat["category_id"], "name": "Work", "color": "#3B82F6"}
    assert t["tags"] == [{"id": tag["tag_id"], "name": "meeting", "color": None}]
    assert t["due_date"] == "2030-01-14T08:00:00Z"
    # The alias is translated before it is stored (the seed stored "every monday" as is).
    assert t["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO"
    # The default reminder: an hour before the due date.
    assert [r["remind_at"] for r in t["reminders"]] == ["2030-01-14T07:00:00Z"]


@pytest.mark.parametrize(
    "given,stored",
    [
        ("2030-01-15", "2030-01-15T23:59:59Z"),
        ("2030-01-15T00:00:00", "2030-01-15T23:59:59Z"),
        ("2030-01-15T00:00:00-05:00", "2030-01-16T04:59:59Z"),
        ("2030-01-15T17:30:00Z", "2030-01-15T17:30:00Z"),
    ],
)
async def test_date_only_due_date_means_end_of_day(server, user, given, stored):
    async with server.client(user) as c:
        t = await add(c, f"due {given}", due_date=given)
    assert t["due_date"] == stored


@pytest.mark.parametrize("rule,canonical", [("daily", "FREQ=DAILY"), ("weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"), ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2")])
async def test_recurrence_aliases_are_translated(server, user, rule, canonical):
    async with server.client(user) as c:
        t = await add(c, f"recurring {rule}", recurrence_rule=rule, due_date="2030-01-15T09:00:00Z")
    assert t["recurrence_rule"] == canonical


async def test_duplicate_add_within_a_minute_returns_the_same_task(server, user):
    async with server.client(user) as c:
        seq = server.outbox_seq()
        first = await add(c, "Pay rent", recurrence_rule="monthly")
        again = await add(c, "  Pay rent ", recurrence_rule="monthly")
        other_rule = await add(c, "Pay rent")
        tasks = items(await c.call_tool("list_tasks", {}))
    assert again["task_id"] == first["task_id"] and again["deduplicated"] is True
    assert other_rule["task_id"] != first["task_id"] and other_rule["deduplicated"] is False
    assert len(tasks) == 2
    created = [e for e in server.events_after(seq) if e["event"]["type"] == "task.created"]
    assert sorted(int(e["key"]) for e in created) == sorted([first["task_id"], other_rule["task_id"]])


@pytest.mark.parametrize(
    "args,code",
    [
        ({"title": "x", "priority": "critical"}, "INVALID_PRIORITY"),
        ({"title": "x", "tag_ids": list(range(1, 12))}, "TOO_MANY_TAGS"),
        ({"title": "x", "recurrence_rule": "every blue moon"}, "INVALID_RECURRENCE_RULE"),
        ({"title": "x", "due_date": "next friday"}, "INVALID_DUE_DATE"),
        ({"title": "   "}, "VALIDATION_ERROR"),
        ({"title": "x" * 201}, "VALIDATION_ERROR"),
        ({"title": "x", "category_id": 987654321}, "CATEGORY_NOT_FOUND"),
        ({"title": "x", "tag_ids": [987654321]}, "TAG_NOT_FOUND"),
        ({}, "VALIDATION_ERROR"),
        ({"title": 42}, "VALIDATION_ERROR"),
        ({"title": "x", "due": "2030-01-01"}, "VALIDATION_ERROR"),
    ],
)
async def test_add_task_errors_change_nothing(server, user, args, code):
    seq = server.outbox_seq()
    async with server.client(user) as c:
        body = err(await c.call_tool("add_task", args), code)
        assert body["status"] == "error"
        assert items(await c.call_tool("list_tasks", {})) == []
    assert server.events_after(seq) == []


async def test_user_id_argument_is_refused(server, user):
    async with server.client(user) as c:
        body = err(await c.call_tool("add_task", {"title": "x", "user_id": "someone-else"}), "VALIDATION_ERROR")
    assert body["details"]["field"] == "user_id"
    assert "token" in body["message"]


async def test_priority_message_is_the_seeds(server, user):
    async with server.client(user) as c:
        body = err(await c.call_tool("add_task", {"title": "x", "priority": "p0"}), "INVALID_PRIORITY")
    assert body["message"] == "Priority must be one of: low, medium, high, urgent"


# --- list_tasks -----------------------------------------------------------------------------


async def test_list_filters_and_sorts(server, user):
    async with server.client(user) as c:
        cat = ok(await c.call_tool("create_category", {"name": "Home"}))
        tag = ok(await c.call_tool("create_tag", {"name": "errand"}))
        a = await add(c, "A low", priority="low", due_date="2030-03-01T10:00:00Z")
        b = await add(c, "B urgent", priority="urgent", due_date="2030-02-01T10:00:00Z", category_id=cat["category_id"])
        d = await add(c, "D high undated", priority="high", tag_ids=[tag["tag_id"]])
        ok(await c.call_tool("complete_task", {"task_id": a["task_id"]}))

        def ids(r):
            return [t["id"] for t in items(r)]

        assert ids(await c.call_tool("list_tasks", {})) == [d["task_id"], b["task_id"], a["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"status": "pending"})) == [d["task_id"], b["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"status": "completed"})) == [a["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"priority": "URGENT"})) == [b["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"category_id": cat["category_id"]})) == [b["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"tag_ids": [tag["tag_id"]]})) == [d["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"due_before": "2030-02-15T00:00:00Z"})) == [b["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"due_after": "2030-02-15T00:00:00Z"})) == [a["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"sort_by": "due_date"})) == [b["task_id"], a["task_id"], d["task_id"]]
        assert ids(await c.call_tool("list_tasks", {"sort_by": "priority"})) == [b["task_id"], d["task_id"], a["task_id"]]
        full = items(await c.call_tool("list_tasks", {"category_id": cat["category_id"]}))[0]
    assert set(full) == {
        "id", "title", "description", "completed", "priority", "due_date", "category", "tags",
        "recurrence_rule", "created_at", "updated_at",
    }
    assert full["category"]["name"] == "Home"


async def test_list_pages_with_a_cursor(server, user):
    async with server.client(user) as c:
        for i in range(5):
            await add(c, f"task {i}")
        first = await c.call_tool("list_tasks", {"limit": 3})
        page1 = items(first)
        cursor = first.structured_content["next_cursor"]
        assert len(page1) == 3 and cursor
        assert cursor in first.content[1].text  # the note tells the model how to continue
        page2 = await c.call_tool("list_tasks", {"limit": 3, "cursor": cursor})
        rest = items(page2)
        assert "next_cursor" not in page2.structured_content
    assert [t["title"] for t in page1 + rest] == [f"task {i}" for i in range(4, -1, -1)]


@pytest.mark.parametrize(
    "args,code",
    [
        ({"status": "done"}, "VALIDATION_ERROR"),
        ({"priority": "critical"}, "INVALID_PRIORITY"),
        ({"sort_by": "colour"}, "VALIDATION_ERROR"),
        ({"due_before": "soon"}, "VALIDATION_ERROR"),
        ({"limit": 0}, "VALIDATION_ERROR"),
        ({"limit": 101}, "VALIDATION_ERROR"),
        ({"cursor": "garbage!"}, "INVALID_CURSOR"),
        ({"category_id": 987654321}, "CATEGORY_NOT_FOUND"),
        ({"tag_ids": [987654321]}, "TAG_NOT_FOUND"),
    ],
)
async def test_list_errors_are_reported_not_an_empty_list(server, user, args, code):
    async with server.client(user) as c:
        await add(c, "something")
        err(await c.call_tool("list_tasks", args), code)


# --- get_task -------------------------------------------------------------------------------


async def test_get_task(server, user):
    async with server.client(user) as c:
        t = await add(c, "Read book", due_date="2030-05-01T12:00:00Z")
        got = ok(await c.call_tool("get_task", {"task_id": t["task_id"]}))
    assert got["status"] == "success"
    assert got["id"] == t["task_id"] and got["title"] == "Read book"
    assert got["due_date"] == "2030-05-01T12:00:00Z"
    assert got["completed_at"] is None
    assert got["reminders"][0]["minutes_before"] == 60


async def test_get_unknown_task_is_not_found_with_suggestions(server, user):
    async with server.client(user) as c:
        t = await add(c, "Only task")
        body = err(await c.call_tool("get_task", {"task_id": 987654321}), "NOT_FOUND")
    assert body["message"] == "Task not found: 987654321"
    assert body["details"]["suggestions"] == [{"id": t["task_id"], "title": "Only task"}]


# --- update_task ----------------------------------------------------------------------------


async def test_update_changes_only_given_fields(server, user):
    async with server.client(user) as c:
        t = await add(c, "Draft", description="v1", priority="low", due_date="2030-01-10T10:00:00Z")
        u = ok(await c.call_tool("update_task", {"task_id": t["task_id"], "title": "Final", "priority": "urgent"}))
    assert u["status"] == "updated" and u["task_id"] == t["task_id"]
    assert u["title"] == "Final" and u["priority"] == "urgent"
    assert u["description"] == "v1" and u["due_date"] == "2030-01-10T10:00:00Z"
    assert u["updated_at"].endswith("Z")


@pytest.mark.parametrize("clear", [None, ""])
async def test_update_can_clear_fields(server, user, clear):
    async with server.client(user) as c:
        cat = ok(await c.call_tool("create_category", {"name": "Errands"}))
        t = await add(
            c,
            "Clear me",
            description="details",
            due_date="2030-01-10T10:00:00Z",
            recurrence_rule="daily",
            category_id=cat["category_id"],
        )
        u = ok(
            await c.call_tool(
                "update_task",
                {
                    "task_id": t["task_id"],
                    "description": clear,
                    "due_date": clear,
                    "recurrence_rule": clear,
                    "category_id": None,
                },
            )
        )
        got = ok(await c.call_tool("get_task", {"task_id": t["task_id"]}))
    for body in (u, got):
        assert body["description"] is None
        assert body["due_date"] is None
        assert body["recurrence_rule"] is None
        assert body["category"] is None
    # The reminder relative to the due date went with it.
    assert got["reminders"] == []


async def test_update_due_date_alone_is_end_of_day_and_moves_reminder(server, user):
    async with server.client(user) as c:
        t = await add(c, "Move me", due_date="2030-01-10T10:00:00Z")
        u = ok(await c.call_tool("update_task", {"task_id": t["task_id"], "due_date": "2030-02-01"}))
    assert u["due_date"] == "2030-02-01T23:59:59Z"
    assert [r["remind_at"] for r in u["reminders"]] == ["2030-02-01T22:59:59Z"]


async def test_update_errors(server, user):
    async with server.client(user) as c:
        t = await add(c, "Target")
        tid = t["task_id"]
        body = err(await c.call_tool("update_task", {"task_id": tid}), "INVALID_REQUEST")
        assert body["message"] == (
            "Must provide at least one field to update (title, description, completed, "
            "priority, category_id, due_date, recurrence_rule)"
        )
        err(await c.call_tool("update_task", {"task_id": tid, "priority": "asap"}), "INVALID_PRIORITY")
        err(await c.call_tool("update_task", {"task_id": tid, "due_date": "tomorrow"}), "INVALID_DUE_DATE")
        err(await c.call_tool("update_task", {"task_id": tid, "recurrence_rule": "sometimes"}), "INVALID_RECURRENCE_RULE")
        err(await c.call_tool("update_task", {"task_id": tid, "title": ""}), "VALIDATION_ERROR")
        err(await c.call_tool("update_task", {"task_id": tid, "category_id": 987654321}), "CATEGORY_NOT_FOUND")
        got = ok(await c.call_tool("get_task", {"task_id": tid}))
    assert got["title"] == "Target" and got["priority"] == "medium"


async def test_update_unknown_task_suggests_five_recent_tasks(server, user):
    async with server.client(user) as c:
        made = [await add(c, f"task {i}") for i in range(6)]
        body = err(await c.call_tool("update_task", {"task_id": 987654321, "title": "x"}), "TASK_NOT_FOUND")
    newest = [{"id": t["task_id"], "title": t["title"]} for t in reversed(made)][:5]
    assert body["details"] == {"requested_task_id": 987654321, "suggestions": newest}
    assert body["message"].startswith("Task #987654321 not found.\n\nYour recent tasks:\n  - Task #")
    assert body["message"].count("\n  - Task #") == 5


# --- complete_task --------------------------------------------------------------------------


async def test_complete_task_and_again(server, user):
    async with server.client(user) as c:
        t = await add(c, "Finish report", priority="high", due_date="2030-01-10T10:00:00Z")
        seq = server.outbox_seq()
        done = ok(await c.call_tool("complete_task", {"task_id": t["task_id"]}))
        again = ok(await c.call_tool("complete_task", {"task_id": t["task_id"]}))
        got = ok(await c.call_tool("get_task", {"task_id": t["task_id"]}))
    assert done["status"] == "completed" and done["completed"] is True
    assert done["task_id"] == t["task_id"] and done["title"] == "Finish report"
    assert done["priority"] == "high" and done["due_date"] == "2030-01-10T10:00:00Z"
    assert again["status"] == "completed"
    assert got["completed"] is True and got["completed_at"] and got["reminders"] == []
    completed = [e for e in server.events_after(seq) if e["event"]["type"] == "task.completed"]
    assert len(completed) == 1  # the seed published again on every call


async def test_complete_unknown_task_suggests_pending_tasks(server, user):
    async with server.client(user) as c:
        pending = await add(c, "still to do")
        done = await add(c, "already done")
        ok(await c.call_tool("complete_task", {"task_id": done["task_id"]}))
        body = err(await c.call_tool("complete_task", {"task_id": 987654321}), "TASK_NOT_FOUND")
    assert body["details"]["suggestions"] == [{"id": pending["task_id"], "title": "still to do"}]
    assert "Your pending tasks:" in body["message"]


# --- delete_task ----------------------------------------------------------------------------


async def test_delete_task(server, user):
    async with server.client(user) as c:
        t = await add(c, "Throw away")
        gone = ok(await c.call_tool("delete_task", {"task_id": t["task_id"]}))
        assert gone == {"status": "deleted", "task_id": t["task_id"], "title": "Throw away"}
        body = err(await c.call_tool("delete_task", {"task_id": t["task_id"]}), "TASK_NOT_FOUND")
        assert body["details"]["suggestions"] == []
        err(await c.call_tool("get_task", {"task_id": t["task_id"]}), "NOT_FOUND")
        err(await c.call_tool("delete_task", {"task_id": "seven"}), "VALIDATION_ERROR")


# --- search_tasks ---------------------------------------------------------------------------


async def test_search_is_ranked_and_matches_prefixes(server, user):
    async with server.client(user) as c:
        in_desc = await add(c, "Call Bob", description="about the budget meeting")
        in_title = await add(c, "Budget review meeting")
        await add(c, "Unrelated")
        hits = items(await c.call_tool("search_tasks", {"query": "budget meet"}))
        none = items(await c.call_tool("search_tasks", {"query": "zebra"}))
        limited = items(await c.call_tool("search_tasks", {"query": "budget", "limit": 1}))
    assert [h["id"] for h in hits] == [in_title["task_id"], in_desc["task_id"]]
    assert hits[0]["search_rank"] > hits[1]["search_rank"] > 0
    assert hits[0]["title"] == "Budget review meeting" and "tags" in hits[0]
    assert none == []
    assert [h["id"] for h in limited] == [in_title["task_id"]]


@pytest.mark.parametrize("query", ["", "   ", "!!!", "x" * 201])
async def test_search_rejects_bad_queries(server, user, query):
    async with server.client(user) as c:
        await add(c, "something")
        body = err(await c.call_tool("search_tasks", {"query": query}), "VALIDATION_ERROR")
    assert body["details"]["field"] == "query"


async def test_overdue_dates_are_utc_z(server, user):
    now = datetime.now(timezone.utc)
    async with server.client(user) as c:
        t = await add(c, "late", due_date=iso(now - timedelta(days=1)))
    assert t["due_date"].endswith("Z")


async def test_completing_a_recurring_task_creates_the_next_occurrence(server, user):
    """The phrase is stored as an RRULE the recurring role can expand (the seed's never recurred)."""
    import anyio

    async with server.client(user) as c:
        tag = ok(await c.call_tool("create_tag", {"name": "habit"}))
        t = await add(c, "Water plants", recurrence_rule="every 2 days", due_date="2030-01-10T08:00:00Z", tag_ids=[tag["tag_id"]])
        ok(await c.call_tool("complete_task", {"task_id": t["task_id"]}))
        pending = []
        for _ in range(50):
            pending = items(await c.call_tool("list_tasks", {"status": "pending"}))
            if pending:
                break
            await anyio.sleep(0.1)
    assert len(pending) == 1, pending
    nxt = pending[0]
    assert nxt["id"] != t["task_id"] and nxt["title"] == "Water plants"
    assert nxt["due_date"] == "2030-01-12T08:00:00Z"
    assert nxt["recurrence_rule"] == "FREQ=DAILY;INTERVAL=2"
    assert [x["name"] for x in nxt["tags"]] == ["habit"]
