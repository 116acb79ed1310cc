"""Helpers of the metrics integration tests: an app on the session database, and events
delivered through the service's real consumer (inbox, handlers, one transaction)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text

from shared.bus import Delivery
from shared.consumer import EventConsumer
from shared.events import new_event
from shared.service import ServiceContext


async def deliver(ctx: ServiceContext, type_: str, data: dict[str, Any], workspace: str) -> str:
    event = new_event(type_, data, workspace_id=workspace, source="/tests")
    await EventConsumer(ctx)(
        Delivery(ctx.spec.queue, type_, event.model_dump_json().encode(), event.id, {}, 1)
    )
    return event.id


def published(
    publication_id: str,
    published_at: datetime,
    *,
    channel: str = "sandbox",
    account_id: str = "acc-1",
    format: str | None = "article",
    pillar: str | None = "tips",
    title: str | None = None,
    item_id: str | None = None,
    campaign_id: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    return {
        "publication_id": publication_id,
        "item_id": item_id or f"item-{publication_id}",
        "account_id": account_id,
        "channel": channel,
        "external_id": external_id or f"ext-{publication_id}",
        "published_at": published_at.isoformat(),
        "format": format,
        "pillar": pillar,
        "title": title or f"Post {publication_id}",
        "campaign_id": campaign_id,
    }


def stats(
    publication_id: str,
    published_at: datetime,
    captured_at: datetime,
    checkpoint: str,
    values: dict[str, float],
    *,
    channel: str = "sandbox",
    account_id: str = "acc-1",
) -> dict[str, Any]:
    return {
        "publication_id": publication_id,
        "item_id": f"item-{publication_id}",
        "account_id": account_id,
        "channel": channel,
        "external_id": f"ext-{publication_id}",
        "checkpoint": checkpoint,
        "published_at": published_at.isoformat(),
        "captured_at": captured_at.isoformat(),
        "values": values,
        "raw": {"platform": channel, **values},
    }


def new_id(prefix: str = "pub") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def rows(ctx: ServiceContext, sql: str, **params: Any) -> list[Any]:
    async with ctx.db.engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 15.0, step: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(step)
    raise AssertionError("condition not met in time")


async def settled(ctx: ServiceContext, workspace: str, timeout: float = 15.0) -> None:
    """Wait until the rollup worker (running beside the test) has applied every stored point
    of the workspace: its queue is empty (rows leave it with the commit of their rollups)."""

    async def empty() -> bool:
        left = await rows(
            ctx, "SELECT count(*) AS n FROM metrics.rollup_queue WHERE workspace_id = :ws",
            ws=workspace,
        )  # fmt: skip
        return left[0].n == 0

    await wait_for(empty, timeout, step=0.02)


async def assert_totals_match_rollups(ctx: ServiceContext, workspace: str) -> None:
    """daily_totals, kept by deltas, equals the rollups summed per day and dimension."""
    sql = """
        SELECT day, x.dimension, x.key, metric, sum(value) AS v
        FROM metrics.daily_rollups
        CROSS JOIN LATERAL (VALUES ('all', ''), ('channel', coalesce(channel, '')),
            ('format', coalesce(format, '')), ('pillar', coalesce(pillar, '')),
            ('campaign', coalesce(campaign_id, '')), ('account', coalesce(account_id, '')))
            AS x(dimension, key)
        WHERE workspace_id = :ws AND metric NOT IN ('followers', 'completion_rate')
        GROUP BY 1, 2, 3, 4
    """
    expected = {tuple(r[:4]): r.v for r in await rows(ctx, sql, ws=workspace)}
    kept = {
        tuple(r[:4]): r.value
        for r in await rows(
            ctx,
            "SELECT day, dimension, key, metric, value FROM metrics.daily_totals "
            "WHERE workspace_id = :ws AND value <> 0",
            ws=workspace,
        )
    }
    assert kept == {k: v for k, v in expected.items() if v != 0}
    assert expected, "no rollups to compare"
