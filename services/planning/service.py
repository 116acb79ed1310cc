"""The planning service: goals, strategy, topics, calendar, campaigns, team."""

from __future__ import annotations

from services.planning.api import routers
from services.planning.handlers import EVENT_HANDLERS
from services.planning.tables import metadata
from shared.service import ServiceSpec

SERVICE = ServiceSpec(
    name="planning",
    title="mediaops planning",
    description="Goals and their progress, strategy, topics (选题), the editorial calendar "
    "(排期), campaigns (活动策划) and the team.",
    metadata=metadata,
    routers=routers,
    event_handlers=EVENT_HANDLERS,
)
