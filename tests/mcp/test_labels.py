"""Category and tag tools, and tagging tasks, with good and bad arguments."""

import pytest
from conftest import err, items, ok

pytestmark = pytest.mark.anyio

KINDS = [
    # tool suffix, id field, name limit
    ("category", "category_id", 50),
    ("tag", "tag_id", 30),
]


def plural(kind):
    return "categories" if kind == "category" else "tags"


@pytest.mark.parametrize("kind,id_field,limit", KINDS)
async def test_label_lifecycle(server, user, kind, id_field, limit):
    async with server.client(user) as c:
        made = ok(await c.call_tool(f"create_{kind}", {"name": " Work ", "color": "#aabbcc"}))
        assert made["status"] == "created" and made["name"] == "Work" and made["color"] == "#aabbcc"
        assert made["created_at"].endswith("Z")
        lid = made[id_field]
        other = ok(await c.call_tool(f"create_{kind}", {"name": "work"}))  # case-sensitive names
        assert other["color"] is None

        listed = items(await c.call_tool(f"list_{plural(kind)}", {}))
        assert [(x["id"], x["name"], x["task_count"]) for x in listed] == [(lid, "Work", 0), (other[id_field], "work", 0)]

        renamed = ok(await c.call_tool(f"update_{kind}", {id_field: lid, "name": "Office"}))
        assert renamed == {"status": "updated", id_field: lid, "name": "Office", "color": "#aabbcc"}
        recolored = ok(await c.call_tool(f"update_{kind}", {id_field: lid, "color": None}))
        assert recolored["color"] is None and recolored["name"] == "Office"

        label_arg = {"category_id": lid} if kind == "category" else {"tag_ids": [lid]}
        t = ok(await c.call_tool("add_task", {"title": "labelled", **label_arg}))
        listed = items(await c.call_tool(f"list_{plural(kind)}", {}))
        assert listed[0]["task_count"] == 1

        gone = ok(await c.call_tool(f"delete_{kind}", {id_field: lid}))
        assert gone == {"status": "deleted", id_field: lid, "name": "Office", "tasks_affected": 1}
        task = ok(await c.call_tool("get_task", {"task_id": t["task_id"]}))
        assert task["category"] is None and task["tags"] == []
        assert [x["id"] for x in items(await c.call_tool(f"list_{plural(kind)}", {}))] == [other[id_field]]


@pytest.mark.parametrize("kind,id_field,limit", KINDS)
async def test_label_errors(server, user, kind, id_field, limit):
    not_found = "CATEGORY_NOT_FOUND" if kind == "category" else "TAG_NOT_FOUND"
    async with server.client(user) as c:
        made = ok(await c.call_tool(f"create_{kind}", {"name": "Dup"}))
        lid = made[id_field]
        body = err(await c.call_tool(f"create_{kind}", {"name": "Dup"}), "DUPLICATE_NAME")
        assert "already exists" in body["message"]
        err(await c.call_tool(f"create_{kind}", {"name": "Bad", "color": "blue"}), "INVALID_COLOR")
        err(await c.call_tool(f"create_{kind}", {"name": ""}), "VALIDATION_ERROR")
        err(await c.call_tool(f"create_{kind}", {"name": "n" * (limit + 1)}), "VALIDATION_ERROR")
        assert ok(await c.call_tool(f"create_{kind}", {"name": "n" * limit}))["status"] == "created"
        body = err(await c.call_tool(f"update_{kind}", {id_field: lid}), "INVALID_REQUEST")
        assert body["message"] == "Must provide name or color to update"
        body = err(await c.call_tool(f"update_{kind}", {id_field: 987654321, "name": "x"}), not_found)
        assert body["message"] == f"{kind.capitalize()} #987654321 not found"
        err(await c.call_tool(f"delete_{kind}", {id_field: 987654321}), not_found)
        ok(await c.call_tool(f"create_{kind}", {"name": "Other"}))
        err(await c.call_tool(f"update_{kind}", {id_field: lid, "name": "Other"}), "DUPLICATE_NAME")


async def test_category_limit(server, user):
    async with server.client(user) as c:
        for i in range(50):
            ok(await c.call_tool("create_category", {"name": f"c{i}"}))
        body = err(await c.call_tool("create_category", {"name": "one too many"}), "LIMIT_EXCEEDED")
    assert "50" in body["message"]


async def test_tagging_a_task(server, user):
    async with server.client(user) as c:
        t = ok(await c.call_tool("add_task", {"title": "tag me"}))
        tag = ok(await c.call_tool("create_tag", {"name": "urgent-ish"}))
        args = {"task_id": t["task_id"], "tag_id": tag["tag_id"]}
        seq = server.outbox_seq()
        assert ok(await c.call_tool("add_tag_to_task", args)) == {"status": "added", **args}
        assert ok(await c.call_tool("add_tag_to_task", args)) == {"status": "already_assigned", **args}
        got = ok(await c.call_tool("get_task", {"task_id": t["task_id"]}))
        assert got["tags"] == [{"id": tag["tag_id"], "name": "urgent-ish", "color": None}]
        assert ok(await c.call_tool("remove_tag_from_task", args)) == {"status": "removed", **args}
        assert ok(await c.call_tool("remove_tag_from_task", args)) == {"status": "not_assigned", **args}
        # Only the two real changes produced events.
        types = [e["event"]["type"] for e in server.events_after(seq)]
        assert types == ["task.updated", "task.updated"]

        err(await c.call_tool("add_tag_to_task", {"task_id": t["task_id"], "tag_id": 987654321}), "TAG_NOT_FOUND")
        err(await c.call_tool("remove_tag_from_task", {"task_id": t["task_id"], "tag_id": 987654321}), "TAG_NOT_FOUND")
        body = err(await c.call_tool("add_tag_to_task", {"task_id": 987654321, "tag_id": tag["tag_id"]}), "TASK_NOT_FOUND")
        assert body["details"]["suggestions"] == [{"id": t["task_id"], "title": "tag me"}]
        err(await c.call_tool("remove_tag_from_task", {"task_id": 987654321, "tag_id": tag["tag_id"]}), "TASK_NOT_FOUND")


async def test_at_most_ten_tags_but_re_adding_is_fine(server, user):
    async with server.client(user) as c:
        tags = [ok(await c.call_tool("create_tag", {"name": f"t{i}"}))["tag_id"] for i in range(11)]
        t = ok(await c.call_tool("add_task", {"title": "many tags", "tag_ids": tags[:10]}))
        body = err(await c.call_tool("add_tag_to_task", {"task_id": t["task_id"], "tag_id": tags[10]}), "TOO_MANY_TAGS")
        assert "10" in body["message"]
        # The seed checked the limit first, so this failed there.
        again = ok(await c.call_tool("add_tag_to_task", {"task_id": t["task_id"], "tag_id": tags[0]}))
    assert again["status"] == "already_assigned"


async def test_list_tools_take_no_arguments(server, user):
    async with server.client(user) as c:
        err(await c.call_tool("list_tags", {"user_id": "x"}), "VALIDATION_ERROR")
        assert items(await c.call_tool("list_categories", {})) == []
