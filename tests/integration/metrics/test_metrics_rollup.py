"""The rollup worker: points are stored and queued by the API (202), their rollups applied
later. A crash between the two loses nothing; several replicas applying the queue at once
end with what a rebuild from the observations gives."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.metrics.config import MetricsConfig
from services.metrics.rollup import Roller
from services.metrics.warehouse import ROLLUP_SHARDS, rebuild_rollups, roll_up_pending
from shared.db import plain_url
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.metrics.support import (
    assert_totals_match_rollups,
    deliver,
    new_id,
    published,
    rows,
)

pytestmark = pytest.mark.infra

PUBLISHED = "mediaops.publisher.publication.published"
ACCOUNT_STATS = "mediaops.publisher.account.stats_captured"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def _runtime(pg_url, make_runtime, **config):  # type: ignore[no-untyped-def]
    """The API without the rollup worker: the test applies the queue itself."""
    from services.metrics.app import create_app

    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(
        settings, ["metrics"], roles=["api"], extras={"metrics_config": MetricsConfig(**config)}
    )
    ctx = runtime.contexts["metrics"]
    return settings, ctx, create_app(ctx)


async def _count(ctx, table: str, ws: str) -> int:  # type: ignore[no-untyped-def]
    found = await rows(
        ctx, f"SELECT count(*) AS n FROM metrics.{table} WHERE workspace_id = :ws", ws=ws
    )
    return int(found[0].n)


async def test_a_crash_between_store_and_rollup_loses_nothing(pg_url, make_runtime):
    settings, ctx, app = await _runtime(pg_url, make_runtime)
    ws, pid = f"ws-{uuid.uuid4().hex[:8]}", new_id()
    await deliver(ctx, PUBLISHED, published(pid, T0), ws)

    def point(metric: str, value: float, at: str) -> dict:
        return {"publication_id": pid, "metric": metric, "value": value, "observed_at": at}

    batch = [
        point("reads", 10, "2026-03-02T12:00:00+08:00"),
        point("reads", 40, "2026-03-03T12:00:00+08:00"),
        point("likes", 5, "2026-03-03T12:00:00+08:00"),
    ]
    async with client_for(app, make_token(settings, ws, "analyst", "ana")) as c:
        r = await c.post("/v1/points", json={"points": batch})
        assert r.status_code == 202 and r.json()["stored"] == 3
        r = await c.post("/v1/points", json={"points": batch[:1]})  # a duplicate: not queued
        assert r.json()["duplicates"] == 1
        assert await _count(ctx, "rollup_queue", ws) == 3
        assert await _count(ctx, "daily_rollups", ws) == 0
        lag = (await c.get("/v1/ops/rollups")).json()
        assert lag["pending"] >= 3 and lag["oldest_age_s"] >= 0
        scraped = (await c.get("/metrics")).text  # the scrape refreshes the backlog gauge
        gauge = next(
            f.samples[0].value
            for f in text_string_to_metric_families(scraped)
            if f.name == "mediaops_metrics_rollup_pending"
        )
        assert gauge == lag["pending"]

    # The worker's connection dies after applying the chunk, before its commit.
    async with ctx.db.session() as session:
        await session.begin()
        shard = (await rows(ctx, "SELECT hashtext(:s) & :m AS k", s=f"p:{pid}",
                            m=ROLLUP_SHARDS - 1))[0].k  # fmt: skip
        rolled = await roll_up_pending(session, ws, 1000, shard)
        assert rolled is not None and rolled.claimed == 3
        assert await _count_in(session, "daily_rollups", ws) > 0  # applied, not committed
        pg = (await (await session.connection()).get_raw_connection()).driver_connection
        backend = await pg.fetchval("SELECT pg_backend_pid()")
        killer = await asyncpg.connect(plain_url(ctx.db.url))
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", backend)
        finally:
            await killer.close()
        with pytest.raises(Exception):  # noqa: B017 (whatever the driver raises for it)
            await session.commit()
    assert await _count(ctx, "rollup_queue", ws) == 3  # still queued: nothing lost
    assert await _count(ctx, "daily_rollups", ws) == 0

    assert await Roller(ctx).settle(ws) == 3  # the next pass
    assert await _count(ctx, "rollup_queue", ws) == 0
    daily = await rows(
        ctx,
        "SELECT metric, day, level, value FROM metrics.daily_rollups WHERE workspace_id = :ws "
        "ORDER BY metric, day",
        ws=ws,
    )
    assert [(d.metric, str(d.day), d.level, d.value) for d in daily] == [
        ("likes", "2026-03-03", 5.0, 5.0),
        ("reads", "2026-03-02", 10.0, 10.0),
        ("reads", "2026-03-03", 40.0, 30.0),
    ]
    await assert_totals_match_rollups(ctx, ws)
    eng = await rows(
        ctx,
        "SELECT engagements FROM metrics.publications WHERE workspace_id = :ws",
        ws=ws,
    )
    assert [e.engagements for e in eng] == [5.0]


async def _count_in(session, table: str, ws: str) -> int:  # type: ignore[no-untyped-def]
    pg = (await (await session.connection()).get_raw_connection()).driver_connection
    return int(
        await pg.fetchval(f"SELECT count(*) FROM metrics.{table} WHERE workspace_id = $1", ws)
    )


SNAPSHOT = {
    "daily_rollups": "SELECT series, metric, day, publication_id, account_id, channel, format, "
    "pillar, campaign_id, level, level_at, value FROM metrics.daily_rollups "
    "WHERE workspace_id = :ws ORDER BY 1, 2, 3",
    "daily_totals": "SELECT day, dimension, key, metric, value FROM metrics.daily_totals "
    "WHERE workspace_id = :ws AND value <> 0 ORDER BY 1, 2, 3, 4",
    "latest_levels": "SELECT series, metric, level, level_at FROM metrics.latest_levels "
    "WHERE workspace_id = :ws ORDER BY 1, 2",
    "engagements": "SELECT publication_id, engagements FROM metrics.publications "
    "WHERE workspace_id = :ws ORDER BY 1",
}


async def _snapshot(ctx, ws: str) -> dict[str, list]:  # type: ignore[no-untyped-def]
    return {name: [tuple(r) for r in await rows(ctx, sql, ws=ws)] for name, sql in SNAPSHOT.items()}


async def test_replicas_share_the_queue_and_agree_with_a_rebuild(pg_url, make_runtime):
    # Chunks of 7 rows: many transactions, replicas interleaving on two workspaces.
    settings, ctx, app = await _runtime(pg_url, make_runtime, rollup_batch=7)
    rnd = random.Random(6)
    workspaces = [f"ws-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for ws in workspaces:
        pids = [new_id() for _ in range(4)]
        for i, pid in enumerate(pids):
            await deliver(ctx, PUBLISHED, published(pid, T0, format=("article", "video")[i % 2],
                                                   pillar=f"p{i % 3}"), ws)  # fmt: skip
        await deliver(
            ctx, ACCOUNT_STATS,
            {"account_id": "acc-1", "channel": "sandbox", "captured_at": T0.isoformat(),
             "followers": 100},
            ws,
        )  # fmt: skip
        points = []
        for pid in pids:
            for metric in ("reads", "likes", "impressions"):
                level = 0.0
                for hour in sorted(rnd.sample(range(0, 24 * 6), 8)):
                    level += rnd.randrange(0, 50)
                    at = T0 + timedelta(hours=hour)
                    points.append({"publication_id": pid, "metric": metric, "value": level,
                                   "observed_at": at.isoformat()})  # fmt: skip
        for day in range(1, 6):
            at = T0 + timedelta(days=day, hours=3)
            points.append({"account_id": "acc-1", "metric": "followers", "value": 100 + day * 7,
                           "observed_at": at.isoformat()})  # fmt: skip
        rnd.shuffle(points)  # out of order, across batches
        async with client_for(app, make_token(settings, ws, "analyst", "ana")) as c:
            for start in range(0, len(points), 25):
                r = await c.post("/v1/points", json={"points": points[start : start + 25]})
                assert r.status_code == 202 and r.json()["rejected"] == 0, r.text

    replicas = [Roller(ctx, task) for task in range(3)]  # shards of a workspace at once
    await asyncio.gather(*(r.run_pass() for r in replicas))
    for ws in workspaces:
        await replicas[0].settle(ws)  # anything a replica skipped while another held it
        assert await _count(ctx, "rollup_queue", ws) == 0
        await assert_totals_match_rollups(ctx, ws)
        incremental = await _snapshot(ctx, ws)
        assert len(incremental["daily_rollups"]) > 50
        async with ctx.db.session() as session, session.begin():
            await rebuild_rollups(session, ws, "Asia/Shanghai")
        assert incremental == await _snapshot(ctx, ws)
