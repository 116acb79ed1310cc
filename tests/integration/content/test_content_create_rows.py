"""POST /v1/items writes its rows in one statement (alone on the asyncpg pool, or in the
request's transaction when an Idempotency-Key row is written too); the topic.approved handler keeps the ORM
path (`create_item`). Both must store exactly the same rows and outbox envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from services.content.api.items import create_item as orm_create_item
from services.content.api.schemas import ItemIn

from .support import Content

BODY: dict[str, Any] = {
    "title": "短视频：新品开箱",
    "format": "short_video",
    "body": "开箱视频脚本见下。",
    "summary": "三款新品",
    "tags": ["#新品", "开箱"],
    "important": True,
    "link": "https://example.com/a",
    "pillar": "产品",
    "planned_for": "2026-05-01T08:00:00+00:00",
    "account_ids": ["acc-1"],
    "title_alternatives": ["三分钟开箱新品"],
    "script": {"scenes": [{"title": "开场", "shots": [{"description": "特写", "duration_s": 3}]}]},
}


async def rows(content: Content, item_id: str) -> dict[str, Any]:
    async with content.ctx.db.engine.connect() as conn:

        async def fetch(sql: str) -> list[dict[str, Any]]:
            res = await conn.execute(text(sql), {"id": uuid.UUID(item_id), "s": item_id})
            return [dict(r._mapping) for r in res]

        item = (await fetch("SELECT * FROM content.items WHERE id = :id"))[0]
        kinds = await fetch(
            "SELECT jsonb_typeof(script) AS script, jsonb_typeof(media) AS media "
            "FROM content.items WHERE id = :id"
        )
        tasks = await fetch("SELECT * FROM content.tasks WHERE item_id = :id ORDER BY position")
        versions = await fetch("SELECT * FROM content.item_versions WHERE item_id = :id")
        outbox = await fetch(
            "SELECT kind, routing_key, envelope, sent_at, attempts FROM content.outbox "
            "WHERE envelope->>'subject' = :s"
        )
    item.pop("id")
    for task in tasks:
        assert isinstance(task.pop("id"), uuid.UUID)
        task.pop("item_id")
    for v in versions:
        v.pop("item_id")
    for o in outbox:
        env = o["envelope"]
        uuid.UUID(env.pop("id"))
        env.pop("time")
        env.pop("subject")
        env.pop("requestid", None)
        env["data"].pop("item_id")
    return {"item": item, "kinds": kinds, "tasks": tasks, "versions": versions, "outbox": outbox}


async def orm_create(content: Content, body: dict[str, Any]) -> str:
    """The handler's path: `create_item` through the ORM, values built as POST builds them."""
    model = ItemIn.model_validate(body)
    values = model.model_dump(exclude={"cover_asset_id", "asset_ids", "script"})
    values["script"] = model.script.model_dump(mode="json") if model.script else None
    values["cover_asset_id"] = None
    values["media"] = []
    ctx = content.ctx
    async with ctx.db.session() as session, session.begin():

        async def emit(type_: str, data: Any, subject: str | None) -> Any:
            return await ctx.outbox.emit(
                session, type_, data, workspace_id=content.workspace, subject=subject
            )

        item = await orm_create_item(
            session, content.workspace, "alice", values, content.clock(), emit
        )
        return str(item.id)


async def test_post_stores_the_same_rows_as_the_orm_path(content: Content):
    content.clock.pinned = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    # without an Idempotency-Key the statement runs alone on the asyncpg pool, with one in
    # the request's transaction: both write what the ORM path writes
    for script, headers in (
        (BODY["script"], {}),
        (None, {}),
        (BODY["script"], {"Idempotency-Key": "rows-1"}),
        (None, {"Idempotency-Key": "rows-2"}),
    ):
        body = {**BODY, "script": script}
        async with content.client(sub="alice") as c:
            r = await c.post("/v1/items", json=body, headers=headers)
        assert r.status_code == 201, r.text
        posted = r.json()

        orm_id = await orm_create(content, body)

        fast, orm = await rows(content, posted["id"]), await rows(content, orm_id)
        assert fast == orm
        assert len(fast["tasks"]) == 4 and len(fast["outbox"]) == 1
        assert fast["versions"][0]["content_hash"] == posted["content_hash"]
        assert fast["item"]["content_hash"] == posted["content_hash"]
        assert fast["kinds"][0]["script"] == ("object" if script else "null")
        async with content.client(sub="alice") as c:
            read = await c.get(f"/v1/items/{posted['id']}")
        # the create's answer (rendered from the plain row) is what a read of the row answers
        assert read.status_code == 200 and read.json() == posted
        assert read.headers["etag"] == r.headers["etag"] == '"1"'
