"""Insights learned by the metrics service, read into typed evidence for planning.

`mediaops.metrics.insight.generated` carries `{kind, scope, recommendation, evidence,
confidence}` as built by `services/metrics/domain/insights.py`. Planning reads:

- `format_performance` / `pillar_performance` / `topic_performance`: evidence
  `{"measure": "per_post" | "per_effort_hour", "groups": [{"value", "posts", "results",
  "per_post", "effort_hours", "per_effort_hour"}, ...]}`. A group's index is its measure
  divided by the pooled measure of all groups (1.0 = the workspace average).
- `best_hours`: scope `{"channel", "account_id"}`, evidence `{"timezone", "slots": [{"weekday",
  "hour", "label", "median", "n", ...}], "posts", ...}`.
- `channel_weights`: evidence `{"channels": [{"channel", "posts", "weight_ratio", ...}]}`.
- `goal_at_risk`: scope `{"goal_id"}`, evidence `{"metric", "current", "expected", "target",
  "ratio", ...}`.

Malformed groups are skipped rather than failing the whole insight.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InsightKind(StrEnum):
    BEST_HOURS = "best_hours"
    FORMAT_PERFORMANCE = "format_performance"
    PILLAR_PERFORMANCE = "pillar_performance"
    TOPIC_PERFORMANCE = "topic_performance"
    CHANNEL_WEIGHTS = "channel_weights"
    GOAL_AT_RISK = "goal_at_risk"


@dataclass(frozen=True, slots=True)
class Insight:
    kind: str
    recommendation: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    scope: Mapping[str, Any] = field(default_factory=dict)
    confidence: str | None = None
    generated_at: datetime | None = None  # the event's `time`

    @classmethod
    def from_event(cls, data: Mapping[str, Any], time: datetime | None = None) -> Insight:
        """Build from the `data` of an insight.generated event (tolerant of missing keys)."""
        scope = data.get("scope")
        evidence = data.get("evidence")
        return cls(
            kind=str(data.get("kind", "")),
            recommendation=str(data.get("recommendation") or ""),
            evidence=evidence if isinstance(evidence, Mapping) else {},
            scope=scope if isinstance(scope, Mapping) else {},
            confidence=data.get("confidence") if isinstance(data.get("confidence"), str) else None,
            generated_at=time,
        )

    @property
    def scope_key(self) -> str:
        """The same kind and scope describe the same thing: a newer one replaces the older."""
        return json.dumps([self.kind, dict(self.scope)], sort_keys=True, default=str)


def in_time_order(insights: Iterable[Insight]) -> list[Insight]:
    """Oldest first; undated insights count as oldest, ties keep their input order."""
    return sorted(insights, key=lambda i: (i.generated_at is not None, i.generated_at or 0))


def latest_per_scope(insights: Iterable[Insight]) -> list[Insight]:
    newest: dict[str, Insight] = {}
    for insight in in_time_order(insights):
        newest[insight.scope_key] = insight
    return [newest[k] for k in sorted(newest)]


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class PerformanceEvidence:
    """How one format, pillar or topic performs against the workspace average (index 1.0)."""

    subject: str
    index: float
    samples: int | None = None
    measure: str = "per_post"

    @property
    def measure_label(self) -> str:
        return (
            "results per effort hour" if self.measure == "per_effort_hour" else "results per post"
        )

    def describe(self, label: str) -> str:
        posts = f", {self.samples} posts" if self.samples else ""
        return (
            f"{label} '{self.subject}' does {self.index:.2f}x the workspace average "
            f"({self.measure_label}{posts})"
        )


@dataclass(frozen=True, slots=True)
class Performance:
    """Latest known performance per format, per pillar and per topic."""

    formats: Mapping[str, PerformanceEvidence] = field(default_factory=dict)
    pillars: Mapping[str, PerformanceEvidence] = field(default_factory=dict)
    topics: Mapping[str, PerformanceEvidence] = field(default_factory=dict)


def performance_groups(insight: Insight) -> list[PerformanceEvidence]:
    """Each group's measure relative to the pooled measure of all groups in the insight."""
    measure = insight.evidence.get("measure")
    measure = measure if measure in ("per_post", "per_effort_hour") else "per_post"
    groups = insight.evidence.get("groups")
    if not isinstance(groups, list):
        return []
    rows: list[tuple[str, int, float, float]] = []  # value, posts, measure, pooling weight
    for group in groups:
        if not isinstance(group, Mapping) or not isinstance(group.get("value"), str):
            continue
        posts = number(group.get("posts"))
        if measure == "per_post":
            value, weight = number(group.get("per_post")), posts
        else:
            value, weight = number(group.get("per_effort_hour")), number(group.get("effort_hours"))
        if value is None or weight is None or weight <= 0 or posts is None:
            continue
        rows.append((group["value"], int(posts), value, weight))
    total_weight = sum(r[3] for r in rows)
    pooled = sum(r[2] * r[3] for r in rows) / total_weight if total_weight else 0.0
    if pooled <= 0:
        return []
    return [PerformanceEvidence(v, round(m / pooled, 4), n, measure) for v, n, m, _ in rows]


_PERFORMANCE_KINDS = {
    InsightKind.FORMAT_PERFORMANCE: "formats",
    InsightKind.PILLAR_PERFORMANCE: "pillars",
    InsightKind.TOPIC_PERFORMANCE: "topics",
}


def performance_from_insights(insights: Iterable[Insight]) -> Performance:
    """Fold insights into evidence per format, pillar and topic. Only the newest insight of
    each kind and scope counts, as in the metrics service, where it replaces the older."""
    found: dict[str, dict[str, PerformanceEvidence]] = {"formats": {}, "pillars": {}, "topics": {}}
    for insight in in_time_order(latest_per_scope(insights)):
        bucket = _PERFORMANCE_KINDS.get(insight.kind)  # type: ignore[call-overload]
        if bucket is None:
            continue
        for evidence in performance_groups(insight):
            found[bucket][evidence.subject] = evidence
    return Performance(**found)
