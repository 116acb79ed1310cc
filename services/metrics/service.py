"""The metrics service: ingestion, the warehouse, goal progress, reports, insights."""

from __future__ import annotations

from services.metrics.analyst import analyst_tasks
from services.metrics.api import routers
from services.metrics.handlers import EVENT_HANDLERS
from services.metrics.tables import metadata
from shared.service import ServiceSpec, Worker

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
    },
    large_body_paths=("/v1/points/csv",),
)
