"""From a publication to a goal's progress on real RabbitMQ: events in through the broker,
the analyst worker, events out through the outbox and the relay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.config import MetricsConfig
from shared.bus import Message
from shared.events import new_event
from tests.conftest import settings_for_tests
from tests.integration.metrics.support import new_id, published, rows, stats, wait_for

pytestmark = pytest.mark.infra

GOAL_CREATED = "mediaops.planning.goal.created"
PUBLISHED = "mediaops.publisher.publication.published"
STATS = "mediaops.publisher.publication.stats_captured"


async def test_publication_stats_drive_goal_progress_insights_and_the_weekly_report(
    pg_url, amqp_url, make_runtime
):
    settings = settings_for_tests(pg_url, amqp_url)
    config = MetricsConfig(
        analyst_interval_s=0.2, goal_emit_min_interval_s=0, rollup_interval_s=0.05
    )
    runtime = await make_runtime(
        settings,
        ["metrics"],
        roles=["api", "consumers", "relay", "metrics.analyst", "metrics.rollup"],
        extras={"metrics_config": config},
    )
    ctx = runtime.contexts["metrics"]
    ws = f"ws-{uuid.uuid4().hex[:8]}"

    async def send(type_: str, data: dict) -> None:
        event = new_event(type_, data, workspace_id=ws, source="/tests")
        await runtime.bus.publish(
            [Message("events", type_, event.model_dump_json().encode(), event.id)]
        )

    async def outbox(type_: str, subject: str | None = None) -> list:
        return await rows(
            ctx,
            "SELECT envelope, sent_at FROM metrics.outbox WHERE routing_key = :t "
            "AND envelope->>'workspaceid' = :ws "
            "AND (CAST(:s AS text) IS NULL OR envelope->>'subject' = :s) ORDER BY seq",
            t=type_,
            ws=ws,
            s=subject,
        )

    now = datetime.now(UTC)
    reads_goal, likes_goal = new_id("goal"), new_id("goal")
    for goal_id, metric, target, start, end in (
        (reads_goal, "reads", 1000, now - timedelta(days=1), now + timedelta(days=6)),
        (likes_goal, "likes", 10000, now - timedelta(days=6), now + timedelta(days=1)),
    ):
        await send(GOAL_CREATED, {
            "goal_id": goal_id, "name": f"{metric} goal", "metric": metric, "target": target,
            "period_start": start.isoformat(), "period_end": end.isoformat(),
        })  # fmt: skip
    pid = new_id()
    published_at = now - timedelta(hours=2)
    await send(PUBLISHED, published(pid, published_at))
    await send(
        STATS, stats(pid, published_at, now - timedelta(hours=1), "1h", {"reads": 300, "likes": 4})
    )
    # An older post gives last week data, so the weekly report has something to say.
    old = new_id()
    old_at = now - timedelta(days=10)
    await send(PUBLISHED, published(old, old_at))
    await send(STATS, stats(old, old_at, old_at + timedelta(hours=24), "24h", {"reads": 50}))

    async def progressed_to(value: float) -> list:
        found = await outbox("mediaops.metrics.goal.progressed", reads_goal)
        return [r for r in found if r.envelope["data"]["current"] == value and r.sent_at]

    first = (await wait_for(lambda: progressed_to(300)))[0].envelope
    assert first["type"] == "mediaops.metrics.goal.progressed"
    assert first["workspaceid"] == ws
    data = first["data"]
    assert data["goal_id"] == reads_goal and data["metric"] == "reads"
    assert data["target"] == 1000 and data["ratio"] == pytest.approx(0.3)
    assert data["expected"] == pytest.approx(1000 / 7, rel=0.01)
    assert data["on_track"] is True

    # The likes goal is far behind its pace: one goal_at_risk insight, announced once.
    async def at_risk() -> list:
        found = await outbox("mediaops.metrics.insight.generated")
        return [
            r
            for r in found
            if r.envelope["data"]["kind"] == "goal_at_risk"
            and r.envelope["data"]["scope"] == {"goal_id": likes_goal}
        ]

    insight = (await wait_for(at_risk))[0].envelope["data"]
    assert insight["evidence"]["target"] == 10000 and insight["evidence"]["ratio"] < 0.01
    assert insight["confidence"] == "high" and insight["key"]

    report = (await wait_for(lambda: outbox("mediaops.metrics.report.ready")))[0]
    assert report.envelope["data"]["period"] == "week"

    # Several more passes: nothing changed, nothing announced again.
    marks = await rows(
        ctx, "SELECT measured_at FROM metrics.goals WHERE goal_id = :g", g=reads_goal
    )

    async def passes_later() -> bool:
        now_marks = await rows(
            ctx, "SELECT measured_at FROM metrics.goals WHERE goal_id = :g", g=reads_goal
        )
        return now_marks[0].measured_at > marks[0].measured_at + timedelta(seconds=0.5)

    await wait_for(passes_later)
    assert len(await at_risk()) == 1
    announced = await outbox("mediaops.metrics.goal.progressed", reads_goal)
    # 0 (if a pass ran before the stats arrived), then 300 once.
    assert [r.envelope["data"]["current"] for r in announced][-1:] == [300]
    assert len(announced) <= 2 and announced[0].envelope["data"]["current"] in (0, 300)
    assert len(await outbox("mediaops.metrics.report.ready")) == 1

    # New numbers: the goal moves and is announced again.
    await send(STATS, stats(pid, published_at, now - timedelta(minutes=1), "6h", {"reads": 500}))
    moved = (await wait_for(lambda: progressed_to(500)))[0].envelope["data"]
    assert moved["ratio"] == pytest.approx(0.5)

    # The API reads the same progress and lists the insight.
    from services.metrics.app import create_app
    from tests.conftest import client_for, make_token

    app = create_app(ctx)
    async with client_for(app, make_token(settings, ws, "planner")) as c:
        goal = (await c.get(f"/v1/goals/{reads_goal}")).json()
        assert goal["progress"]["current"] == 500 and goal["progress"]["on_track"] is True
        listed = (await c.get("/v1/goals", params={"limit": 1})).json()
        assert len(listed["items"]) == 1 and listed["next_cursor"]
        rest = (await c.get("/v1/goals", params={"cursor": listed["next_cursor"]})).json()
        assert {g["id"] for g in listed["items"] + rest["items"]} == {reads_goal, likes_goal}
        kinds = (await c.get("/v1/insights", params={"kind": "goal_at_risk"})).json()["items"]
        assert [i["scope"] for i in kinds] == [{"goal_id": likes_goal}]
        assert kinds[0]["evidence"]["current"] == 4  # refreshed, not announced again
    assert len(await at_risk()) == 1
