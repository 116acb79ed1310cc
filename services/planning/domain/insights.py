"""Insights learned by the metrics service, read into typed evidence for planning.

`mediaops.metrics.insight.generated` carries `{kind, scope, recommendation, evidence}`.
Planning reads these evidence shapes (unknown keys are ignored, malformed items skipped):

- format_performance: `{"format": "short_video", "index": 1.4, "samples": 12,
  "metric": "engagement_rate"}`; `index` is relative to the workspace average (1.0).
- topic_performance: the same with `"topic"` (a pillar name or a tag) instead of `"format"`.
- best_hours: `{"hours": [20, 12], "channel": "weibo"?, "samples": 40?, "metric": ...?}`.
- channel_weights: `{"weights": {"wechat_mp": 1.3, "weibo": 0.7}, "metric": ...?}`.
- goal_at_risk: `{"goal_id": ..., "metric": ..., "current": ..., "target": ...,
  "ratio": ..., "expected_ratio": ...}`.

Any of them may instead list several subjects under `"items": [...]`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InsightKind(StrEnum):
    BEST_HOURS = "best_hours"
    FORMAT_PERFORMANCE = "format_performance"
    TOPIC_PERFORMANCE = "topic_performance"
    CHANNEL_WEIGHTS = "channel_weights"
    GOAL_AT_RISK = "goal_at_risk"


@dataclass(frozen=True, slots=True)
class Insight:
    kind: str
    recommendation: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    scope: str | None = None
    generated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PerformanceEvidence:
    """How one format or topic performs relative to the workspace average (index 1.0)."""

    subject: str
    index: float
    samples: int | None = None
    metric: str = "engagement"

    def describe(self, label: str) -> str:
        posts = f" over {self.samples} posts" if self.samples else ""
        return f"{label} '{self.subject}': {self.metric} index {self.index:g}{posts}"


@dataclass(frozen=True, slots=True)
class Performance:
    """Latest known performance per format and per topic (pillar or tag)."""

    formats: Mapping[str, PerformanceEvidence] = field(default_factory=dict)
    topics: Mapping[str, PerformanceEvidence] = field(default_factory=dict)


def evidence_items(insight: Insight) -> list[Mapping[str, Any]]:
    """The subjects of an insight: its `items` list, or the evidence itself."""
    items = insight.evidence.get("items")
    if isinstance(items, list):
        return [i for i in items if isinstance(i, Mapping)]
    return [insight.evidence]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _samples(item: Mapping[str, Any]) -> int | None:
    for key in ("samples", "sample_size", "n"):
        value = _number(item.get(key))
        if value is not None:
            return int(value)
    return None


def read_performance(item: Mapping[str, Any], subject_key: str) -> PerformanceEvidence | None:
    subject = item.get(subject_key)
    index = _number(item.get("index", item.get("engagement_index")))
    if not isinstance(subject, str) or not subject or index is None or index < 0:
        return None
    metric = item.get("metric")
    return PerformanceEvidence(
        subject=subject,
        index=index,
        samples=_samples(item),
        metric=metric if isinstance(metric, str) and metric else "engagement",
    )


def _in_time_order(insights: Iterable[Insight]) -> list[Insight]:
    # Undated insights count as oldest; the sort is stable so input order breaks ties.
    return sorted(insights, key=lambda i: (i.generated_at is not None, i.generated_at or 0))


def performance_from_insights(insights: Iterable[Insight]) -> Performance:
    """Fold insights into the latest evidence per format and per topic (newest wins)."""
    formats: dict[str, PerformanceEvidence] = {}
    topics: dict[str, PerformanceEvidence] = {}
    for insight in _in_time_order(insights):
        if insight.kind == InsightKind.FORMAT_PERFORMANCE:
            target, key = formats, "format"
        elif insight.kind == InsightKind.TOPIC_PERFORMANCE:
            target, key = topics, "topic"
        else:
            continue
        for item in evidence_items(insight):
            evidence = read_performance(item, key)
            if evidence is not None:
                target[evidence.subject] = evidence
    return Performance(formats=formats, topics=topics)
