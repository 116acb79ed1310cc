"""Planning on real RabbitMQ: what metrics, content and the publisher announce changes what
planning answers, and what planning decides reaches the bus."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.planning.app import create_app
from shared.bus import Delivery, Message, Subscription
from shared.events import CloudEvent, new_event
from tests.conftest import settings_for_tests

from .support import Clock, Planning

pytestmark = pytest.mark.infra


@pytest.fixture
async def live(pg_url, amqp_url, make_runtime) -> Planning:  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url, amqp_url)
    clock = Clock()
    runtime = await make_runtime(
        settings, ["planning"], roles=["api", "consumers", "relay"], clock=clock
    )
    return Planning(settings, create_app(runtime.contexts["planning"]), runtime, clock)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll until `check` returns something truthy (and return it), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def send(live: Planning, type_: str, data: dict, source: str, **kw: Any) -> CloudEvent:
    """Publish an event as the other service would (the envelope its outbox would build)."""
    event = new_event(type_, data, workspace_id=live.workspace, source=source, **kw)
    await live.runtime.bus.publish(
        [Message("events", type_, event.model_dump_json().encode(), event.id)]
    )
    return event


async def handled(live: Planning, event: CloudEvent) -> bool:
    db = live.runtime.contexts["planning"].db
    async with db.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT 1 FROM planning.inbox WHERE consumer = 'planning' AND event_id = :e"),
            {"e": uuid.UUID(event.id)},
        )
    return found is not None


async def tap(live: Planning) -> list[CloudEvent]:
    """Everything planning publishes, as a subscriber on the broker sees it."""
    seen: list[CloudEvent] = []

    async def on(delivery: Delivery) -> None:
        seen.append(CloudEvent.model_validate_json(delivery.body))

    await live.runtime.bus.subscribe(
        Subscription("planning-tap", "events", ("mediaops.planning.#",), on, prefetch=50)
    )
    return seen


def of_type(seen: list[CloudEvent], type_: str, subject: str | None = None) -> list[CloudEvent]:
    """Events of a type (and subject). The session database is shared, so the relay may also
    publish rows other tests left unsent: always narrow to this test's entity."""
    return [
        e
        for e in seen
        if e.type == type_ and e.workspaceid and (subject is None or e.subject == subject)
    ]


async def test_goal_progressed_feeds_progress_and_status(live: Planning) -> None:
    seen = await tap(live)
    now = datetime.now(UTC)
    async with live.client("manager") as c:
        goal = (
            await c.post(
                "/v1/goals",
                json={
                    "name": "Followers",
                    "metric": "followers",
                    "target": 100,
                    "period_start": (now - timedelta(days=10)).isoformat(),
                    "period_end": (now + timedelta(days=10)).isoformat(),
                },
            )
        ).json()
        created = await eventually(
            lambda: _async(of_type(seen, "mediaops.planning.goal.created", goal["id"]))
        )
        assert created[0].data["goal_id"] == goal["id"] and created[0].data["target"] == 100

        def progressed(current: float, at: datetime) -> dict:
            return {
                "goal_id": goal["id"],
                "metric": "followers",
                "current": current,
                "target": 100,
                "ratio": current / 100,
                "on_track": current >= 45,
                "measured_at": at.isoformat(),
            }

        first = await send(
            live, "mediaops.metrics.goal.progressed", progressed(60, now), "/mediaops/metrics"
        )
        # The same event delivered twice has one effect (the inbox).
        await live.runtime.bus.publish(
            [Message("events", first.type, first.model_dump_json().encode(), first.id)]
        )

        async def progress() -> dict:
            return (await c.get(f"/v1/goals/{goal['id']}")).json()

        body = await eventually(lambda: _when(progress(), lambda g: g["progress"]["current"] == 60))
        assert body["progress"]["ratio"] == pytest.approx(0.6)
        assert body["progress"]["on_track"] is True and body["progress"]["updated_at"]
        assert body["status"] == "active" and body["version"] == 1
        assert [g["id"] for g in (await c.get("/v1/goals/at-risk")).json()["items"]] == []

        # An older measurement arriving late changes nothing.
        late = await send(
            live,
            "mediaops.metrics.goal.progressed",
            progressed(10, now - timedelta(hours=5)),
            "/mediaops/metrics",
        )
        await eventually(lambda: handled(live, late))
        assert (await progress())["progress"]["current"] == 60

        # Reaching the target: achieved, announced as goal.updated on the bus.
        await send(
            live,
            "mediaops.metrics.goal.progressed",
            progressed(101, now + timedelta(minutes=1)),
            "/mediaops/metrics",
        )
        body = await eventually(lambda: _when(progress(), lambda g: g["status"] == "achieved"))
        assert body["progress"]["current"] == 101 and body["version"] == 2
        updated = await eventually(
            lambda: _async(of_type(seen, "mediaops.planning.goal.updated", goal["id"]))
        )
        assert updated[0].data["status"] == "achieved" and updated[0].data["goal_id"] == goal["id"]


async def test_insight_changes_topic_score_and_suggestions(live: Planning) -> None:
    async with live.client("manager") as c:
        await c.post("/v1/pillars", json={"name": "tips", "target_share": 0.5})
        topic = (
            await c.post(
                "/v1/topics", json={"title": "Unboxing", "format": "short_video", "pillar": "tips"}
            )
        ).json()

        async def performance() -> dict:
            score = (await c.get(f"/v1/topics/{topic['id']}/score")).json()
            return next(p for p in score["parts"] if p["name"] == "performance")

        before = await performance()
        assert before["value"] == 0.5 and "no performance data" in before["reason"]
        kinds = {s["kind"] for s in (await c.get("/v1/suggestions")).json()["items"]}
        assert "best_format" not in kinds and "under_served_pillar" in kinds

        await send(
            live,
            "mediaops.metrics.insight.generated",
            {
                "insight_id": "ins-1",
                "kind": "format_performance",
                "scope": {},
                "recommendation": "Short video does best",
                "evidence": {
                    "measure": "per_post",
                    "groups": [
                        {"value": "short_video", "posts": 10, "results": 3000, "per_post": 300},
                        {"value": "article", "posts": 10, "results": 1000, "per_post": 100},
                    ],
                },
                "confidence": "medium",
            },
            "/mediaops/metrics",
        )
        after = await eventually(lambda: _when(performance(), lambda p: p["value"] != 0.5))
        assert after["value"] == pytest.approx(0.75)
        assert "'short_video' does 1.50x the workspace average" in after["reason"]
        suggestions = (await c.get("/v1/suggestions")).json()["items"]
        best = next(s for s in suggestions if s["kind"] == "best_format")
        assert best["title"] == "Favour short_video" and best["evidence"]["index"] == 1.5
        weak = next(s for s in suggestions if s["kind"] == "weak_format")
        assert weak["evidence"]["format"] == "article" and weak["evidence"]["posts"] == 10
        ranked = (await c.get("/v1/topics", params={"sort": "score"})).json()["items"]
        assert ranked[0]["score"]["total"] > 50


async def test_approve_reaches_the_bus_and_lifecycle_tolerates_disorder(live: Planning) -> None:
    seen = await tap(live)
    slot = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with live.client("planner", sub="pat") as c:
        first = (
            await c.post(
                "/v1/topics",
                json={
                    "title": "Launch recap",
                    "format": "article",
                    "planned_for": slot.isoformat(),
                    "channels": ["wechat_mp"],
                },
            )
        ).json()
        second = (await c.post("/v1/topics", json={"title": "Teaser", "format": "gif"})).json()
        for topic in (first, second):
            assert (await c.post(f"/v1/topics/{topic['id']}/approve")).status_code == 200

        approved = await eventually(
            lambda: _async(
                [
                    e
                    for e in of_type(seen, "mediaops.planning.topic.approved")
                    if e.subject == first["id"]
                ]
            )
        )
        assert approved[0].data["format"] == "article"
        assert approved[0].data["channels"] == ["wechat_mp"]
        assert approved[0].workspaceid == live.workspace
        scheduled = await eventually(
            lambda: _async(
                [
                    e
                    for e in of_type(seen, "mediaops.planning.calendar.entry_scheduled")
                    if e.data.get("topic_id") == first["id"]
                ]
            )
        )
        assert scheduled[0].data["topic_id"] == first["id"]
        assert datetime.fromisoformat(scheduled[0].data["starts_at"]) == slot

        async def topic(tid: str) -> dict:
            return (await c.get(f"/v1/topics/{tid}")).json()

        # Content approved for the second topic: it goes into production.
        await send(
            live,
            "mediaops.content.item.approved",
            {
                "item_id": "item-2",
                "version": 1,
                "content_hash": "h",
                "title": "Teaser",
                "format": "gif",
                "topic_id": second["id"],
            },
            "/mediaops/content",
        )
        await eventually(
            lambda: _when(topic(second["id"]), lambda t: t["status"] == "in_production")
        )

        # Published arrives before item.approved for the first topic.
        published_at = slot + timedelta(minutes=1)
        await send(
            live,
            "mediaops.publisher.publication.published",
            {
                "publication_id": "pub-1",
                "item_id": "item-1",
                "topic_id": first["id"],
                "account_id": "acc-1",
                "channel": "wechat_mp",
                "external_id": "x1",
                "url": "https://example.com/p/1",
                "published_at": published_at.isoformat(),
            },
            "/mediaops/publisher",
        )
        body = await eventually(
            lambda: _when(topic(first["id"]), lambda t: t["status"] == "published")
        )
        assert body["publication_url"] == "https://example.com/p/1"
        late = await send(
            live,
            "mediaops.content.item.approved",
            {
                "item_id": "item-1",
                "version": 1,
                "content_hash": "h",
                "title": "Launch recap",
                "format": "article",
                "topic_id": first["id"],
            },
            "/mediaops/content",
        )
        await eventually(lambda: handled(live, late))
        body = await topic(first["id"])
        assert body["status"] == "published" and body["content_item_id"] == "item-1"
        entries = (await c.get("/v1/calendar/entries", params={"kind": "publication"})).json()[
            "items"
        ]
        assert [(e["topic_id"], e["status"]) for e in entries] == [(first["id"], "published")]
        # Output now counts toward the pillar-less share; the event for an unknown topic is a no-op.
        ghost = await send(
            live,
            "mediaops.content.item.approved",
            {
                "item_id": "i",
                "version": 1,
                "content_hash": "h",
                "title": "t",
                "format": "gif",
                "topic_id": str(uuid.uuid4()),
            },
            "/mediaops/content",
        )
        await eventually(lambda: handled(live, ghost))


async def _async(value: Any) -> Any:
    return value


async def _when(coro: Awaitable[Any], predicate: Callable[[Any], bool]) -> Any:
    value = await coro
    return value if predicate(value) else None
