"""The content service: items, production tasks, versions, assets, review, variants."""

from __future__ import annotations

from services.content.api import routers
from services.content.handlers import EVENT_HANDLERS
from services.content.reviews_worker import tasks as review_tasks
from services.content.tables import metadata
from shared.service import ServiceSpec, Worker

SERVICE = ServiceSpec(
    name="content",
    title="mediaops content",
    description="Content items of every format, production tasks, immutable versions, assets, "
    "multi-stage review with compliance, and per-platform variants.",
    metadata=metadata,
    routers=routers,
    event_handlers=EVENT_HANDLERS,
    workers={"reviews": Worker("reviews", tasks=review_tasks)},
    large_body_paths=("/assets",),
)
