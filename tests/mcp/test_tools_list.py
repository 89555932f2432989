"""tools/list: the seed's 18 names, schemas a model can use, no user_id anywhere, annotations."""

import json

import pytest

pytestmark = pytest.mark.anyio

SEED_TOOLS = {
    "add_task",
    "list_tasks",
    "complete_task",
    "get_task",
    "delete_task",
    "update_task",
    "create_category",
    "list_categories",
    "update_category",
    "delete_category",
    "create_tag",
    "list_tags",
    "update_tag",
    "delete_tag",
    "add_tag_to_task",
    "remove_tag_from_task",
    "search_tasks",
    "set_reminder",
}

READ_ONLY = {"list_tasks", "get_task", "list_categories", "list_tags", "search_tasks"}
DESTRUCTIVE = {
    "delete_task",
    "update_task",
    "update_category",
    "delete_category",
    "update_tag",
    "delete_tag",
    "remove_tag_from_task",
}


async def test_exactly_the_seed_tools(server, user):
    async with server.client(user) as c:
        tools = (await c.list_tools()).tools
    assert len(tools) == 18
    assert {t.name for t in tools} == SEED_TOOLS


async def test_no_user_id_in_any_schema(server, user):
    async with server.client(user) as c:
        tools = (await c.list_tools()).tools
    for t in tools:
        text = json.dumps(t.input_schema) + json.dumps(t.output_schema)
        assert "user_id" not in text, t.name
        # Arguments outside the schema are refused, so nothing can smuggle a user in.
        assert t.input_schema.get("additionalProperties") is False, t.name


async def test_schemas_are_objects_with_descriptions(server, user):
    async with server.client(user) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    for name, t in tools.items():
        assert t.input_schema["type"] == "object", name
        assert t.output_schema and t.output_schema["type"] == "object", name
        assert t.description and len(t.description) > 60, name
        for prop, schema in t.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{name}.{prop} has no description"
    add = tools["add_task"].input_schema
    assert add["required"] == ["title"]
    assert set(add["properties"]) == {
        "title",
        "description",
        "priority",
        "category_id",
        "tag_ids",
        "due_date",
        "recurrence_rule",
    }
    # The model learns the formats from the description.
    d = tools["add_task"].description
    for phrase in ("every monday", "weekdays", "every 2 weeks", "FREQ=", "2026-03-15", "end of that day"):
        assert phrase.lower() in d.lower(), phrase
    assert tools["search_tasks"].input_schema["required"] == ["query"]
    assert set(tools["set_reminder"].input_schema["properties"]) == {
        "task_id",
        "remind_before_minutes",
        "remind_at",
    }


async def test_annotations(server, user):
    async with server.client(user) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    for name, t in tools.items():
        a = t.annotations
        assert a is not None and a.title, name
        assert a.read_only_hint is (name in READ_ONLY), name
        if name not in READ_ONLY:
            assert a.destructive_hint is (name in DESTRUCTIVE), name
            assert a.idempotent_hint is not None, name
        assert a.open_world_hint is False, name
    assert tools["add_task"].annotations.idempotent_hint is False
    assert tools["delete_task"].annotations.idempotent_hint is True


async def test_unknown_tool_is_a_protocol_error(server, user):
    from mcp import MCPError

    async with server.client(user) as c:
        with pytest.raises(MCPError):
            await c.call_tool("drop_database", {})
