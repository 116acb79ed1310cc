"""The rollup worker: applies the queued observations to the rollups, totals, latest levels
and engagements (`warehouse.roll_up_pending`), workspace by workspace, in chunks.

Several tasks and replicas are safe: a chunk's rows are claimed with `SKIP LOCKED` and a
workspace shard's chunks are applied under its advisory lock (a task that finds it held
moves on to the next shard), so two tasks apply one workspace on two cores. Its lag
(rows waiting, age of the oldest) is a Prometheus gauge and `GET /v1/ops/rollups`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import Gauge, Histogram

from services.metrics.config import config_of
from services.metrics.warehouse import (
    BACKLOG,
    PENDING_WORKSPACES,
    ROLLUP_SHARDS,
    driver,
    roll_up_pending,
)
from shared.service import ServiceContext

log = logging.getLogger("mediaops.metrics.rollup")

PENDING = Gauge(
    "mediaops_metrics_rollup_pending", "Stored observations not yet in the daily rollups"
)
OLDEST = Gauge(
    "mediaops_metrics_rollup_oldest_age_seconds",
    "Age of the oldest stored observation not yet in the daily rollups",
)
LAG = Histogram(
    "mediaops_metrics_rollup_lag_seconds",
    "Time from a chunk's oldest observation being stored to its rollups committed",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class Roller:
    def __init__(self, ctx: ServiceContext, task: int = 0) -> None:
        self.ctx = ctx
        self.task = task  # which shard this task tries first

    async def run(self) -> None:
        while True:
            try:
                applied = await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rollup pass failed; the rows stay queued for the next pass")
                applied = 0
            if not applied:
                await asyncio.sleep(config_of(self.ctx).rollup_interval_s)

    async def run_pass(self) -> int:
        """Every workspace with queued rows, shard by shard (starting at this task's own),
        chunk after chunk until the shard's queue is empty or another transaction holds it.
        Returns rows applied."""
        async with self.ctx.db.session() as session:
            pg = await driver(session)
            workspaces = [r["ws"] for r in await pg.fetch(PENDING_WORKSPACES)]
            await session.rollback()
        applied = 0
        for workspace_id in workspaces:
            for i in range(ROLLUP_SHARDS):
                shard = (self.task + i) % ROLLUP_SHARDS
                while True:
                    n = await self.apply_chunk(workspace_id, shard)
                    if n is None:
                        break
                    applied += n
                    if n < config_of(self.ctx).rollup_batch:
                        break
        return applied

    async def apply_chunk(self, workspace_id: str, shard: int, *, wait: bool = False) -> int | None:
        """One chunk in one transaction; None when another transaction holds the shard."""
        limit = config_of(self.ctx).rollup_batch
        async with self.ctx.db.session() as session, session.begin():
            rolled = await roll_up_pending(session, workspace_id, limit, shard, wait=wait)
        if rolled is None:
            return None
        if rolled.oldest is not None:
            LAG.observe(max((self.ctx.clock() - rolled.oldest).total_seconds(), 0.0))
        return rolled.claimed

    async def settle(self, workspace_id: str) -> int:
        """Apply everything queued for a workspace now, waiting for its locks (tests, tools)."""
        applied = 0
        for shard in range(ROLLUP_SHARDS):
            while (n := await self.apply_chunk(workspace_id, shard, wait=True)) and n > 0:
                applied += n
        return applied


async def backlog(ctx: ServiceContext) -> dict[str, Any]:
    """Rows waiting for the rollup worker and the age of the oldest; sets the gauges."""
    pool = await ctx.db.pool()
    row = await pool.fetchrow(BACKLOG)
    oldest = row["oldest"]
    age = max((ctx.clock() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    PENDING.set(row["pending"])
    OLDEST.set(age)
    return {
        "pending": int(row["pending"]),
        "oldest_queued_at": oldest.isoformat() if oldest is not None else None,
        "oldest_age_s": round(age, 3),
    }


def install_metrics_hook(ctx: ServiceContext) -> None:
    """Refresh the backlog gauges on each /metrics scrape."""

    async def refresh() -> None:
        await backlog(ctx)

    ctx.add_metrics_hook("metrics.rollup_backlog", refresh)


def rollup_tasks(ctx: ServiceContext) -> list[Any]:
    """`rollup_concurrency` tasks per process (one transaction each at a time)."""
    return [Roller(ctx, task).run for task in range(config_of(ctx).rollup_concurrency)]
