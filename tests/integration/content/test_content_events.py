"""Content on real RabbitMQ: a topic approved in planning becomes a draft item with tasks
(once), an approval reaches the bus with the variants' text, a publication publishes the item."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.content.app import create_app
from shared.bus import Delivery, Message, Subscription
from shared.events import CloudEvent, new_event
from tests.conftest import settings_for_tests

from .support import Clock, Content, create_item

pytestmark = pytest.mark.infra


@pytest.fixture
async def live(pg_url, amqp_url, make_runtime, tmp_path) -> Content:  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url, amqp_url, MEDIAOPS_STORAGE_DIR=str(tmp_path))
    clock = Clock()
    runtime = await make_runtime(
        settings, ["content"], roles=["api", "consumers", "relay"], clock=clock
    )
    return Content(settings, create_app(runtime.contexts["content"]), runtime, clock, tmp_path)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def send(live: Content, type_: str, data: dict, source: str) -> CloudEvent:
    event = new_event(type_, data, workspace_id=live.workspace, source=source)
    await live.runtime.bus.publish(
        [Message("events", type_, event.model_dump_json().encode(), event.id)]
    )
    return event


async def tap(live: Content) -> list[CloudEvent]:
    seen: list[CloudEvent] = []

    async def on(delivery: Delivery) -> None:
        seen.append(CloudEvent.model_validate_json(delivery.body))

    sub = Subscription("content-tap", "events", ("mediaops.content.#",), on, prefetch=50)
    await live.runtime.bus.declare([sub])
    await live.runtime.bus.subscribe(sub)
    return seen


async def test_topic_approved_creates_one_draft_item_with_tasks(live: Content):
    topic_id = f"topic-{uuid.uuid4().hex[:8]}"
    data = {
        "topic_id": topic_id,
        "title": "开箱：春季新品",
        "format": "short_video",
        "pillar": "产品",
        "planned_for": "2026-04-01T02:00:00Z",
        "campaign_id": "camp-1",
        "assignee": "vic",
    }
    first = await send(live, "mediaops.planning.topic.approved", data, "/mediaops/planning")
    # a second approval event of the same topic (e.g. re-approved) adds nothing
    second = await send(live, "mediaops.planning.topic.approved", data, "/mediaops/planning")
    async with live.client(sub="vic") as c:

        async def items() -> list:
            found = (await c.get("/v1/items", params={"topic_id": topic_id})).json()["items"]
            return found

        found = await eventually(items)
        await eventually(lambda: _handled(live, [first.id, second.id]))
        found = await items()
        assert len(found) == 1
        item = found[0]
        assert (item["status"], item["format"], item["owner"]) == ("draft", "short_video", "vic")
        assert item["campaign_id"] == "camp-1" and item["pillar"] == "产品"
        assert item["planned_for"] == "2026-04-01T02:00:00Z"
        tasks = (await c.get(f"/v1/items/{item['id']}/tasks")).json()["items"]
        assert [t["role"] for t in tasks] == ["brief", "video_script", "shoot", "edit"]


async def _handled(live: Content, ids: list[str]) -> bool:
    from sqlalchemy import text

    async with live.ctx.db.engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM content.inbox WHERE consumer = 'content' "
                "AND event_id = ANY(:ids)"
            ),
            {"ids": [uuid.UUID(i) for i in ids]},
        )
    return count == len(ids)


async def test_approval_reaches_the_bus_with_variant_text_then_publication(live: Content):
    seen = await tap(live)
    async with (
        live.client(sub="alice") as a,
        live.client(roles="reviewer", sub="bob") as b,
    ):
        item = await create_item(
            a,
            body="三款新品，今天上市。",
            link="https://example.com/spring",
            tags=["新品"],
            title_alternatives=["今天上市的三款新品"],
            account_ids=["acc-1"],
            planned_for="2026-04-01T02:00:00Z",
        )
        iid = item["id"]
        r = await a.post(f"/v1/items/{iid}/variants/draft", params={"channels": "weibo,mastodon"})
        assert r.status_code == 201, r.text
        texts = {v["channel"]: v["body"] for v in r.json()["items"]}
        assert (await a.post(f"/v1/items/{iid}/submit")).status_code == 200
        r = await b.post(f"/v1/items/{iid}/reviews", json={"decision": "approve"})
        assert r.json()["status"] == "approved"
        final = r.json()["item"]

        def approved() -> list[CloudEvent]:
            return [
                e for e in seen if e.type == "mediaops.content.item.approved" and e.subject == iid
            ]

        async def got() -> list[CloudEvent]:
            return approved()

        events = await eventually(got)
        data = events[0].data
        assert events[0].workspaceid == live.workspace
        assert data["content_hash"] == final["content_hash"]
        assert data["version"] == final["version"]
        assert data["title_alternatives"] == ["今天上市的三款新品"]
        assert data["account_ids"] == ["acc-1"]
        assert data["planned_for"].startswith("2026-04-01T02:00:00")
        assert {v["channel"]: v["body"] for v in data["variants"]} == texts
        assert all(v["variant_id"] for v in data["variants"])
        assert "https://example.com/spring" in texts["weibo"]
        types = [e.type for e in seen if e.subject == iid]
        for t in (
            "mediaops.content.item.created",
            "mediaops.content.item.submitted",
            "mediaops.content.review.decided",
        ):
            assert t in types

        # the publisher reports the post live: the item is published, refs kept
        pub = {
            "publication_id": "pub-1",
            "item_id": iid,
            "account_id": "acc-1",
            "channel": "weibo",
            "external_id": "w-123",
            "url": "https://weibo.com/1/w-123",
            "published_at": datetime(2026, 4, 1, 2, 0, 5, tzinfo=UTC).isoformat(),
        }
        await send(live, "mediaops.publisher.publication.published", pub, "/mediaops/publisher")

        async def published() -> dict | None:
            cur = (await a.get(f"/v1/items/{iid}")).json()
            return cur if cur["status"] == "published" else None

        cur = await eventually(published)
        assert cur["publications"][0]["external_id"] == "w-123"
        assert cur["publications"][0]["url"] == "https://weibo.com/1/w-123"

        async def item_published() -> list:
            return [e for e in seen if e.type == "mediaops.content.item.published"]

        ev = await eventually(item_published)
        assert ev[0].data["publication_id"] == "pub-1"
