"""The publisher service: accounts, publications, scheduler, dispatch workers, connectors."""

from __future__ import annotations

from services.publisher.api import routers
from services.publisher.handlers import EVENT_HANDLERS
from services.publisher.tables import metadata
from shared.service import ServiceSpec

SERVICE = ServiceSpec(
    name="publisher",
    title="mediaops publisher",
    description="Channel accounts, scheduled publications, the scheduler and dispatch workers "
    "that post exactly once through each platform's connector.",
    metadata=metadata,
    routers=routers,
    event_handlers=EVENT_HANDLERS,
)
