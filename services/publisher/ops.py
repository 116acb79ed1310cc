"""Is work flowing? Dispatch queue depth, live consumers, overdue and stuck publications.

The same numbers back `GET /v1/ops/queue` and the Prometheus gauges (refreshed on scrape
through `ctx.extras["metrics_hooks"]`, and by the scheduler as it runs), so a process that
is up but consumes nothing shows as consumers = 0 with a growing queue and overdue count.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import text

from services.publisher.config import publisher_config
from shared.service import ServiceContext

DISPATCH_QUEUE = "publisher.dispatch"

QUEUE_DEPTH = Gauge("mediaops_publisher_dispatch_queue_depth", "Dispatch commands waiting")
CONSUMERS = Gauge("mediaops_publisher_dispatch_consumers", "Live consumers of the dispatch queue")
OVERDUE = Gauge(
    "mediaops_publisher_overdue_publications",
    "Publications due and not dispatched within the overdue threshold",
)
OLDEST_DUE = Gauge(
    "mediaops_publisher_oldest_due_age_seconds", "Age of the oldest due, undispatched publication"
)
BY_STATUS = Gauge("mediaops_publisher_publications", "Publications by status", ["status"])


async def queue_snapshot(ctx: ServiceContext) -> dict[str, Any]:
    cfg = publisher_config(ctx)
    now = ctx.clock()
    schema = ctx.spec.schema
    depth: int | None
    consumers: int | None
    broker_error = None
    try:
        depth, consumers = await asyncio.wait_for(ctx.bus.queue_depth(DISPATCH_QUEUE), 3)
    except Exception as exc:
        depth, consumers, broker_error = None, None, f"{type(exc).__name__}: {exc}"[:200]
    async with ctx.db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    f"""
                    SELECT
                      count(*) FILTER (WHERE due_at <= :overdue) AS overdue,
                      min(due_at) AS oldest_due,
                      count(*) AS due
                    FROM "{schema}".publications
                    WHERE status = 'scheduled' AND NOT waiting_reauth AND due_at <= :now
                    """
                ),
                {"now": now, "overdue": now - timedelta(seconds=cfg.overdue_after_s)},
            )
        ).one()
        statuses = dict(
            (
                await conn.execute(
                    text(
                        f"""SELECT status, count(*) FROM "{schema}".publications
                        WHERE status IN ('scheduled', 'dispatching', 'unknown') GROUP BY status"""
                    )
                )
            ).all()
        )
    oldest_age = (now - row.oldest_due).total_seconds() if row.oldest_due else 0.0
    snapshot = {
        "queue": DISPATCH_QUEUE,
        "depth": depth,
        "consumers": consumers,
        "broker_error": broker_error,
        "due_not_dispatched": int(row.due),
        "overdue": int(row.overdue),
        "overdue_after_s": cfg.overdue_after_s,
        "oldest_due_age_s": round(max(oldest_age, 0.0), 3),
        "dispatching": int(statuses.get("dispatching", 0)),
        "unknown": int(statuses.get("unknown", 0)),
        "scheduled": int(statuses.get("scheduled", 0)),
        "flowing": bool(consumers) or (row.due == 0 and not depth),
    }
    set_gauges(snapshot)
    return snapshot


def set_gauges(snapshot: dict[str, Any]) -> None:
    if snapshot["depth"] is not None:
        QUEUE_DEPTH.set(snapshot["depth"])
        CONSUMERS.set(snapshot["consumers"])
    OVERDUE.set(snapshot["overdue"])
    OLDEST_DUE.set(snapshot["oldest_due_age_s"])
    for status in ("scheduled", "dispatching", "unknown"):
        BY_STATUS.labels(status).set(snapshot[status])


def install_metrics_hook(ctx: ServiceContext) -> None:
    async def refresh() -> None:
        await queue_snapshot(ctx)

    ctx.add_metrics_hook("publisher.queue_snapshot", refresh)
