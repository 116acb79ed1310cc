"""The metrics service: ingestion, the warehouse, goal progress, reports, insights."""

from __future__ import annotations

from services.metrics.analyst import analyst_tasks
from services.metrics.api import routers
from services.metrics.handlers import EVENT_HANDLERS
from services.metrics.rollup import install_metrics_hook, rollup_tasks
from services.metrics.tables import metadata
from shared.service import ServiceContext, ServiceSpec, Worker


async def _setup(ctx: ServiceContext) -> None:
    install_metrics_hook(ctx)


SERVICE = ServiceSpec(
    name="metrics",
    title="mediaops metrics",
    description="Metric ingestion and history, goal progress, reports with causes, and "
    "insights that feed the next plan.",
    metadata=metadata,
    routers=routers,
    event_handlers=EVENT_HANDLERS,
    workers={
        # Goal progress, insights, the weekly report, partitions ahead and the raw purge.
        "analyst": Worker(name="analyst", tasks=analyst_tasks),
        # Stored observations -> daily rollups, totals, latest levels, engagements.
        "rollup": Worker(name="rollup", tasks=rollup_tasks),
    },
    large_body_paths=("/v1/points/csv",),
    setup=_setup,
)
