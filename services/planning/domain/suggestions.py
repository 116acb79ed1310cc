"""Suggestions for the next period, each with the evidence numbers behind it.

Inputs are the strategy (pillars and their target shares), what was actually produced, and
what the metrics service has learned (insights). Output is a short, ordered to-do list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.planning.domain.goals import GoalAtRisk
from services.planning.domain.insights import (
    Insight,
    InsightKind,
    PerformanceEvidence,
    latest_per_scope,
    number,
    performance_from_insights,
)
from services.planning.domain.strategy import Pillar


class SuggestionKind(StrEnum):
    GOAL_AT_RISK = "goal_at_risk"
    UNDER_SERVED_PILLAR = "under_served_pillar"
    OVER_SERVED_PILLAR = "over_served_pillar"
    BEST_FORMAT = "best_format"
    WEAK_FORMAT = "weak_format"
    BEST_HOURS = "best_hours"
    CHANNEL_WEIGHTS = "channel_weights"
    REPEAT_TOPIC = "repeat_topic"
    DROP_TOPIC = "drop_topic"


_FORMAT_KINDS = frozenset({SuggestionKind.BEST_FORMAT, SuggestionKind.WEAK_FORMAT})


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: SuggestionKind
    title: str
    recommendation: str
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SuggestionThresholds:
    pillar_gap: float = 0.05  # share points off target before a pillar is flagged
    strong_index: float = 1.1  # format index worth favouring
    weak_index: float = 0.8  # format index worth cutting
    repeat_index: float = 1.2  # topic index worth repeating
    drop_index: float = 0.7  # topic index worth dropping
    min_samples: int = 3  # fewer posts than this is anecdote, not evidence
    max_insight_age: timedelta = timedelta(days=30)


def _fresh(insights: Iterable[Insight], now: datetime, max_age: timedelta) -> list[Insight]:
    # Undated insights are taken as current: the caller keeps only the latest per kind.
    return [i for i in insights if i.generated_at is None or now - i.generated_at <= max_age]


def _enough(evidence: PerformanceEvidence, thresholds: SuggestionThresholds) -> bool:
    return evidence.samples is None or evidence.samples >= thresholds.min_samples


def _performance_evidence(e: PerformanceEvidence, key: str) -> dict[str, Any]:
    return {key: e.subject, "index": e.index, "posts": e.samples, "measure": e.measure}


def _goal_suggestions(insights: list[Insight], risks: list[GoalAtRisk]) -> list[Suggestion]:
    """Goals planning computed as behind pace (worst first), then any others that metrics
    reported as at risk (by goal id)."""
    ours = [
        Suggestion(
            SuggestionKind.GOAL_AT_RISK,
            f"Goal '{risk.goal.name}' is behind pace",
            f"Put more of next period's output behind {risk.goal.metric}: {risk.reason}.",
            {
                "goal_id": risk.goal.id,
                "metric": risk.goal.metric,
                "current": risk.pace.current,
                "target": risk.goal.target,
                "ratio": round(risk.pace.ratio, 4),
                "expected_ratio": round(risk.expected_ratio, 4),
                "expected_value": risk.pace.expected,
            },
        )
        for risk in risks
    ]
    known = {risk.goal.id for risk in risks}
    relayed: dict[str, Suggestion] = {}
    for insight in insights:
        if insight.kind != InsightKind.GOAL_AT_RISK:
            continue
        goal_id = insight.scope.get("goal_id")
        if not isinstance(goal_id, str) or goal_id in known:
            continue  # our own computation above is fresher than a relayed one
        label = insight.evidence.get("metric") or goal_id
        relayed[goal_id] = Suggestion(
            SuggestionKind.GOAL_AT_RISK,
            f"Goal '{label}' is behind pace",
            insight.recommendation or "Put more of next period's output behind this goal.",
            {"goal_id": goal_id, **insight.evidence},
        )
    return ours + [relayed[k] for k in sorted(relayed)]


def _pillar_suggestions(
    pillars: Iterable[Pillar], actual: Mapping[str, float], thresholds: SuggestionThresholds
) -> list[Suggestion]:
    under, over = [], []
    for pillar in pillars:
        share = actual.get(pillar.name, 0.0)
        gap = pillar.target_share - share
        evidence = {
            "pillar": pillar.name,
            "target_share": pillar.target_share,
            "actual_share": share,
            "gap": round(gap, 4),
        }
        said = f"'{pillar.name}' was {share:.0%} of output against a {pillar.target_share:.0%}"
        if gap >= thresholds.pillar_gap:
            under.append(
                Suggestion(
                    SuggestionKind.UNDER_SERVED_PILLAR,
                    f"Publish more on '{pillar.name}'",
                    f"{said} target; plan about {gap:.0%} more of next period's output there.",
                    evidence,
                )
            )
        elif -gap >= thresholds.pillar_gap:
            over.append(
                Suggestion(
                    SuggestionKind.OVER_SERVED_PILLAR,
                    f"Ease off '{pillar.name}'",
                    f"{said} target; move about {-gap:.0%} of output to under-served pillars.",
                    evidence,
                )
            )
    under.sort(key=lambda s: (-s.evidence["gap"], s.evidence["pillar"]))
    over.sort(key=lambda s: (s.evidence["gap"], s.evidence["pillar"]))
    return under + over


def _performance_suggestions(
    insights: list[Insight], thresholds: SuggestionThresholds
) -> list[Suggestion]:
    performance = performance_from_insights(insights)
    formats = [e for e in performance.formats.values() if _enough(e, thresholds)]
    best_first = sorted(formats, key=lambda e: (-e.index, e.subject))
    out = [
        Suggestion(
            SuggestionKind.BEST_FORMAT,
            f"Favour {e.subject}",
            f"{e.describe('Format')}; give it more slots next period.",
            _performance_evidence(e, "format"),
        )
        for e in best_first
        if e.index >= thresholds.strong_index
    ]
    out += [
        Suggestion(
            SuggestionKind.WEAK_FORMAT,
            f"Use less {e.subject}",
            f"{e.describe('Format')}; make fewer, or rework how it is made.",
            _performance_evidence(e, "format"),
        )
        for e in reversed(best_first)
        if e.index <= thresholds.weak_index
    ]
    subjects = [("pillar", "Pillar", e) for e in performance.pillars.values()]
    subjects += [("topic", "Topic", e) for e in performance.topics.values()]
    ranked = sorted(
        (s for s in subjects if _enough(s[2], thresholds)),
        key=lambda s: (-s[2].index, s[0], s[2].subject),
    )
    out += [
        Suggestion(
            SuggestionKind.REPEAT_TOPIC,
            f"Repeat topics like '{e.subject}'",
            f"{e.describe(label)}; plan follow-ups in the same vein.",
            _performance_evidence(e, key),
        )
        for key, label, e in ranked
        if e.index >= thresholds.repeat_index
    ]
    out += [
        Suggestion(
            SuggestionKind.DROP_TOPIC,
            f"Drop or rework '{e.subject}'",
            f"{e.describe(label)}; drop it or change the angle.",
            _performance_evidence(e, key),
        )
        for key, label, e in reversed(ranked)
        if e.index <= thresholds.drop_index
    ]
    return out


def _of_kind(insights: list[Insight], kind: InsightKind) -> list[Insight]:
    return [i for i in latest_per_scope(insights) if i.kind == kind]


def _hours_suggestions(insights: list[Insight]) -> list[Suggestion]:
    out = []
    for insight in _of_kind(insights, InsightKind.BEST_HOURS):
        slots = insight.evidence.get("slots")
        labels = [
            s["label"]
            for s in (slots if isinstance(slots, list) else [])
            if isinstance(s, Mapping) and isinstance(s.get("label"), str)
        ]
        if not labels:
            continue
        channel = insight.scope.get("channel")
        where = f" on {channel}" if channel else ""
        zone = insight.evidence.get("timezone")
        times = ", ".join(labels) + (f" ({zone})" if zone else "")
        out.append(
            Suggestion(
                SuggestionKind.BEST_HOURS,
                f"Publish{where} at {times}",
                insight.recommendation or f"Engagement{where} peaks at {times}.",
                {**insight.scope, **insight.evidence},
            )
        )
    return out


def _channel_suggestions(insights: list[Insight]) -> list[Suggestion]:
    out = []
    for insight in _of_kind(insights, InsightKind.CHANNEL_WEIGHTS):
        channels = insight.evidence.get("channels")
        ratios = [
            (c["channel"], ratio)
            for c in (channels if isinstance(channels, list) else [])
            if isinstance(c, Mapping)
            and isinstance(c.get("channel"), str)
            and (ratio := number(c.get("weight_ratio"))) is not None
        ]
        if len(ratios) < 2:
            continue
        ratios.sort(key=lambda cr: (-cr[1], cr[0]))
        (top, top_ratio), (weakest, weakest_ratio) = ratios[0], ratios[-1]
        out.append(
            Suggestion(
                SuggestionKind.CHANNEL_WEIGHTS,
                f"Shift effort toward {top}",
                insight.recommendation
                or (
                    f"{top} returns {top_ratio:.2f}x its share of posts in results, "
                    f"{weakest} {weakest_ratio:.2f}x."
                ),
                dict(insight.evidence),
            )
        )
    return out


def suggest_next_period(
    pillars: Iterable[Pillar],
    actual_shares: Mapping[str, float],
    insights: Iterable[Insight],
    now: datetime,
    goals_at_risk: Iterable[GoalAtRisk] = (),
    thresholds: SuggestionThresholds = SuggestionThresholds(),
) -> list[Suggestion]:
    """Ordered: goals at risk, pillar balance, formats, hours, channels, topics."""
    fresh = _fresh(insights, now, thresholds.max_insight_age)
    performance = _performance_suggestions(fresh, thresholds)
    formats = [s for s in performance if s.kind in _FORMAT_KINDS]
    topics = [s for s in performance if s.kind not in _FORMAT_KINDS]
    return [
        *_goal_suggestions(fresh, list(goals_at_risk)),
        *_pillar_suggestions(pillars, actual_shares, thresholds),
        *formats,
        *_hours_suggestions(fresh),
        *_channel_suggestions(fresh),
        *topics,
    ]
