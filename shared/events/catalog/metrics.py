from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.events.catalog.base import Payload


class GoalProgressed(Payload):
    goal_id: str
    metric: str
    current: float
    target: float
    ratio: float
    expected: float | None = None
    on_track: bool
    measured_at: datetime


class InsightGenerated(Payload):
    insight_id: str
    # Stable identity of the recommendation (kind + scope): a newer event with the same key
    # replaces the older one.
    key: str | None = None
    kind: str
    scope: dict[str, Any] = {}
    recommendation: str
    evidence: dict[str, Any] = {}
    confidence: str | None = None


class ReportReady(Payload):
    report_id: str
    period: str
    start: str
    end: str
    url: str | None = None


EVENTS: dict[str, tuple[type[Payload], str]] = {
    "mediaops.metrics.goal.progressed": (GoalProgressed, "A goal's measured value changed."),
    "mediaops.metrics.insight.generated": (InsightGenerated, "A new recommendation."),
    "mediaops.metrics.report.ready": (ReportReady, "A scheduled report was generated."),
}
