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
    return {key: e.subject, "index": e.index, "samples": e.samples, "metric": e.metric}


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
        goal_id = insight.evidence.get("goal_id")
        if not isinstance(goal_id, str) or goal_id in known:
            continue  # our own computation above is fresher than a relayed one
        label = insight.evidence.get("name") or insight.evidence.get("metric") or goal_id
        relayed[goal_id] = Suggestion(
            SuggestionKind.GOAL_AT_RISK,
            f"Goal '{label}' is behind pace",
            insight.recommendation or "Put more of next period's output behind this goal.",
            dict(insight.evidence),
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
    topics = [e for e in performance.topics.values() if _enough(e, thresholds)]
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
            f"{e.describe('Format')}; try fewer, or rework how it is made.",
            _performance_evidence(e, "format"),
        )
        for e in reversed(best_first)
        if e.index <= thresholds.weak_index
    ]
    ranked_topics = sorted(topics, key=lambda e: (-e.index, e.subject))
    out += [
        Suggestion(
            SuggestionKind.REPEAT_TOPIC,
            f"Repeat topics like '{e.subject}'",
            f"{e.describe('Topic')}; plan follow-ups on it.",
            _performance_evidence(e, "topic"),
        )
        for e in ranked_topics
        if e.index >= thresholds.repeat_index
    ]
    out += [
        Suggestion(
            SuggestionKind.DROP_TOPIC,
            f"Drop or rework '{e.subject}'",
            f"{e.describe('Topic')}; drop it or change the angle.",
            _performance_evidence(e, "topic"),
        )
        for e in reversed(ranked_topics)
        if e.index <= thresholds.drop_index
    ]
    return out


def _latest(insights: list[Insight], kind: InsightKind) -> list[Insight]:
    """The newest insight of a kind per scope (e.g. one best_hours per channel)."""
    newest: dict[str, Insight] = {}
    for insight in insights:
        if insight.kind != kind:
            continue
        scope = str(insight.evidence.get("channel") or insight.scope or "")
        held = newest.get(scope)
        if (
            held is None
            or held.generated_at is None
            or (insight.generated_at is not None and insight.generated_at >= held.generated_at)
        ):
            newest[scope] = insight
    return [newest[k] for k in sorted(newest)]


def _hours_suggestions(insights: list[Insight]) -> list[Suggestion]:
    out = []
    for insight in _latest(insights, InsightKind.BEST_HOURS):
        hours = insight.evidence.get("hours")
        if not isinstance(hours, list):
            continue
        clean = [h for h in hours if isinstance(h, int) and not isinstance(h, bool)]
        clean = [h for h in clean if 0 <= h <= 23]
        if not clean:
            continue
        channel = insight.evidence.get("channel")
        where = f" on {channel}" if channel else ""
        times = ", ".join(f"{h:02d}:00" for h in clean)
        out.append(
            Suggestion(
                SuggestionKind.BEST_HOURS,
                f"Publish{where} around {times}",
                insight.recommendation or f"Audience engagement{where} peaks around {times}.",
                dict(insight.evidence),
            )
        )
    return out


def _channel_suggestions(insights: list[Insight]) -> list[Suggestion]:
    out = []
    for insight in _latest(insights, InsightKind.CHANNEL_WEIGHTS):
        weights = insight.evidence.get("weights")
        if not isinstance(weights, Mapping) or not weights:
            continue
        numeric = {
            str(k): float(v)
            for k, v in weights.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if not numeric:
            continue
        ranked = sorted(numeric.items(), key=lambda kv: (-kv[1], kv[0]))
        top, weakest = ranked[0], ranked[-1]
        detail = ", ".join(f"{c} {w:g}" for c, w in ranked)
        out.append(
            Suggestion(
                SuggestionKind.CHANNEL_WEIGHTS,
                f"Shift effort toward {top[0]}",
                insight.recommendation
                or f"Channel weights: {detail}; favour {top[0]} over {weakest[0]}.",
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
