"""Recommendations drawn from past results: best hours, what performs per unit of effort,
channel weights, title tests, goals at risk and anomalies.

Every recommendation is an `Insight` with the numbers behind it. Its `key` depends only on
the kind and scope, so recomputing an insight replaces the previous one instead of piling up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.metrics.domain.errors import DomainError
from services.metrics.domain.goals import GoalStatus
from services.metrics.domain.stats import VariantResult, median, robust_z, title_ab_verdict
from shared.pacing import elapsed_fraction

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Insight:
    kind: str
    scope: Mapping[str, object]
    recommendation: str
    evidence: Mapping[str, object]
    confidence: Confidence

    @property
    def key(self) -> str:
        """Stable identity for de-duplication: the same kind and scope give the same key."""
        canonical = json.dumps([self.kind, self.scope], sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "kind": self.kind,
            "scope": dict(self.scope),
            "recommendation": self.recommendation,
            "evidence": dict(self.evidence),
            "confidence": self.confidence.value,
        }


@dataclass(frozen=True)
class PostPerformance:
    """One published post and its outcome (the caller picks the measure: engagements, reads…)."""

    publication_id: str
    channel: str
    published_at: datetime
    result: float
    account_id: str | None = None
    format: str | None = None
    pillar: str | None = None
    topic: str | None = None
    effort_hours: float | None = None


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DomainError("timezone", f"unknown time zone {tz!r}") from error


def _sample_confidence(n: int, min_sample: int) -> Confidence:
    if n >= 3 * min_sample:
        return Confidence.HIGH
    if n >= 2 * min_sample:
        return Confidence.MEDIUM
    return Confidence.LOW


# --- best hours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HourSlot:
    weekday: int  # 0 = Monday … 6 = Sunday, in the workspace zone
    hour: int  # 0-23, in the workspace zone
    mean: float
    median: float
    n: int
    confidence: Confidence

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hour:02d}:00"


def best_hours(
    posts: Iterable[tuple[datetime, float]], tz: str, min_sample: int = 3
) -> list[HourSlot]:
    """Hour-of-week slots (workspace zone) with at least `min_sample` posts, best median first.

    Confidence by sample size: high from 3 x min_sample posts, medium from 2 x, else low.
    """
    zone = _zone(tz)
    slots: dict[tuple[int, int], list[float]] = {}
    for published_at, value in posts:
        if published_at.tzinfo is None:
            raise DomainError("published_at", "published_at needs a time zone offset")
        local = published_at.astimezone(zone)
        slots.setdefault((local.weekday(), local.hour), []).append(value)
    ranked = [
        HourSlot(
            weekday,
            hour,
            sum(values) / len(values),
            median(values),
            len(values),
            _sample_confidence(len(values), min_sample),
        )
        for (weekday, hour), values in slots.items()
        if len(values) >= min_sample
    ]
    ranked.sort(key=lambda s: (-s.median, -s.n, s.weekday, s.hour))
    return ranked


def _slot_dict(slot: HourSlot) -> dict[str, object]:
    return {
        "weekday": slot.weekday,
        "hour": slot.hour,
        "label": slot.label,
        "mean": slot.mean,
        "median": slot.median,
        "n": slot.n,
        "confidence": slot.confidence.value,
    }


def best_hours_insights(
    posts: Sequence[PostPerformance], tz: str, min_sample: int = 3, top: int = 3
) -> list[Insight]:
    """One `best_hours` insight per channel and account with at least one qualifying slot."""
    groups: dict[tuple[str, str | None], list[PostPerformance]] = {}
    for post in posts:
        groups.setdefault((post.channel, post.account_id), []).append(post)
    insights = []
    for (channel, account_id), group in sorted(groups.items(), key=lambda g: str(g[0])):
        slots = best_hours(((p.published_at, p.result) for p in group), tz, min_sample)[:top]
        if not slots:
            continue
        labels = ", ".join(s.label for s in slots)
        insights.append(
            Insight(
                kind="best_hours",
                scope={"channel": channel, "account_id": account_id},
                recommendation=f"Schedule {channel} posts at {labels} ({tz}).",
                evidence={
                    "timezone": tz,
                    "slots": [_slot_dict(s) for s in slots],
                    "overall_median": median([p.result for p in group]),
                    "posts": len(group),
                },
                confidence=slots[0].confidence,
            )
        )
    return insights


# --- performance per unit of effort -------------------------------------------------------


@dataclass(frozen=True)
class GroupPerformance:
    value: str
    posts: int
    results: float
    per_post: float
    effort_hours: float | None  # sum over the posts whose effort is known
    per_effort_hour: float | None


def performance_by(
    posts: Iterable[PostPerformance], key: Callable[[PostPerformance], str | None]
) -> list[GroupPerformance]:
    """Results per post (and per effort hour where effort is known), best per post first.
    Posts without a value for the dimension are left out."""
    groups: dict[str, list[PostPerformance]] = {}
    for post in posts:
        value = key(post)
        if value is not None:
            groups.setdefault(value, []).append(post)
    out = []
    for value, group in groups.items():
        results = sum(p.result for p in group)
        with_effort = [p for p in group if p.effort_hours is not None]
        effort = sum(p.effort_hours or 0.0 for p in with_effort) if with_effort else None
        per_hour = sum(p.result for p in with_effort) / effort if effort else None
        out.append(
            GroupPerformance(value, len(group), results, results / len(group), effort, per_hour)
        )
    out.sort(key=lambda g: (-g.per_post, g.value))
    return out


def format_performance(posts: Iterable[PostPerformance]) -> list[GroupPerformance]:
    return performance_by(posts, lambda p: p.format)


def pillar_performance(posts: Iterable[PostPerformance]) -> list[GroupPerformance]:
    return performance_by(posts, lambda p: p.pillar)


def topic_performance(posts: Iterable[PostPerformance]) -> list[GroupPerformance]:
    return performance_by(posts, lambda p: p.topic)


def performance_insight(
    dimension: str, groups: Sequence[GroupPerformance], min_sample: int = 3
) -> Insight | None:
    """Favour the best and trim the weakest of a dimension (format, pillar, topic).

    Judged per effort hour when every compared group has effort, else per post; only groups
    with `min_sample` posts are compared, and at least two are needed.
    """
    eligible = [g for g in groups if g.posts >= min_sample]
    if len(eligible) < 2:
        return None
    by_effort = all(g.per_effort_hour is not None for g in eligible)
    measure = "per_effort_hour" if by_effort else "per_post"

    def score(g: GroupPerformance) -> float:
        return (g.per_effort_hour or 0.0) if by_effort else g.per_post

    ranked = sorted(eligible, key=lambda g: (-score(g), g.value))
    best, worst = ranked[0], ranked[-1]
    unit = "per effort hour" if by_effort else "per post"
    return Insight(
        kind=f"{dimension}_performance",
        scope={"dimension": dimension},
        recommendation=(
            f"Favour {dimension} '{best.value}' ({score(best):.1f} {unit}) over "
            f"'{worst.value}' ({score(worst):.1f} {unit})."
        ),
        evidence={
            "measure": measure,
            "groups": [g.__dict__.copy() for g in ranked],
        },
        confidence=_sample_confidence(min(best.posts, worst.posts), min_sample),
    )


# --- channel weights ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelWeight:
    channel: str
    posts: int
    results: float
    share_of_posts: float
    share_of_results: float
    weight_ratio: float  # share of results / share of posts; > 1: the channel over-delivers


def channel_weights(posts: Sequence[PostPerformance]) -> list[ChannelWeight]:
    """Share of results vs share of posts per channel, best ratio first; [] without results."""
    total_posts = len(posts)
    total_results = sum(p.result for p in posts)
    if not total_posts or total_results <= 0:
        return []
    per_channel: dict[str, list[PostPerformance]] = {}
    for post in posts:
        per_channel.setdefault(post.channel, []).append(post)
    weights = []
    for channel, group in per_channel.items():
        share_posts = len(group) / total_posts
        share_results = sum(p.result for p in group) / total_results
        weights.append(
            ChannelWeight(
                channel,
                len(group),
                sum(p.result for p in group),
                share_posts,
                share_results,
                share_results / share_posts,
            )
        )
    weights.sort(key=lambda w: (-w.weight_ratio, w.channel))
    return weights


def channel_weight_insight(
    weights: Sequence[ChannelWeight], min_posts: int = 5, band: float = 0.2
) -> Insight | None:
    """Shift effort toward channels whose ratio is above 1 + band, away from below 1 - band."""
    if len(weights) < 2:
        return None
    more = [w.channel for w in weights if w.weight_ratio >= 1 + band and w.posts >= min_posts]
    less = [w.channel for w in weights if w.weight_ratio <= 1 - band and w.posts >= min_posts]
    if not more and not less:
        return None
    parts = []
    if more:
        parts.append(f"post more on {', '.join(more)}")
    if less:
        parts.append(f"less on {', '.join(less)}")
    return Insight(
        kind="channel_weights",
        scope={},
        recommendation="Rebalance channels: " + "; ".join(parts) + ".",
        evidence={"channels": [w.__dict__.copy() for w in weights]},
        confidence=_sample_confidence(min(w.posts for w in weights), min_posts),
    )


# --- title tests --------------------------------------------------------------------------


@dataclass(frozen=True)
class TitleTest:
    test_id: str  # e.g. the content item id whose title alternatives were published
    variants: Sequence[VariantResult]  # successes = clicks (or reads), trials = impressions


def title_tests(
    tests: Iterable[TitleTest], alpha: float = 0.05, min_trials: int = 100
) -> list[Insight]:
    """The leading title against the runner-up by a two-proportion test.

    With k > 2 variants alpha is divided by k - 1 (Bonferroni) since the leader was picked
    from several. A winner is named only when the difference is significant.
    """
    insights = []
    for test in tests:
        if len(test.variants) < 2:
            continue
        ranked = sorted(test.variants, key=lambda v: -v.rate)
        corrected = alpha / (len(ranked) - 1)
        verdict = title_ab_verdict(ranked[0], ranked[1], corrected, min_trials)
        p_value = verdict.p_value if verdict.p_value is not None else 1.0
        if verdict.winner is not None:
            text = (
                f"Use title '{verdict.winner}': {verdict.rate_a:.1%} vs {verdict.rate_b:.1%} "
                f"(p = {p_value:.3f})."
            )
            confidence = Confidence.HIGH if p_value < corrected / 10 else Confidence.MEDIUM
        elif verdict.outcome == "not_enough_data":
            text = f"Title test {test.test_id}: not enough impressions yet to judge."
            confidence = Confidence.LOW
        else:
            text = f"Title test {test.test_id}: no significant difference; keep either."
            confidence = Confidence.LOW
        insights.append(
            Insight(
                kind="title_test",
                scope={"test_id": test.test_id},
                recommendation=text,
                evidence={
                    "variants": [
                        {
                            "name": v.name,
                            "successes": v.successes,
                            "trials": v.trials,
                            "rate": v.rate,
                        }
                        for v in ranked
                    ],
                    "outcome": verdict.outcome,
                    "winner": verdict.winner,
                    "z": verdict.z,
                    "p_value": verdict.p_value,
                    "alpha": corrected,
                },
                confidence=confidence,
            )
        )
    return insights


# --- goals at risk ------------------------------------------------------------------------


def goals_at_risk(statuses: Iterable[GoalStatus], now: datetime) -> list[Insight]:
    """Running goals that are off their pace, with what is needed per day to catch up.

    Confidence grows with the share of the period elapsed (early shortfalls are noisy).
    """
    insights = []
    for status in statuses:
        goal, pace = status.goal, status.pace
        if pace.on_track or not goal.period_start <= now < goal.period_end:
            continue
        elapsed = elapsed_fraction(goal.period_start, goal.period_end, now)
        days_left = (goal.period_end - now).total_seconds() / 86400
        needed_per_day = (goal.target - pace.current) / days_left if days_left > 0 else None
        if elapsed >= 0.5:
            confidence = Confidence.HIGH
        elif elapsed >= 0.25:
            confidence = Confidence.MEDIUM
        else:
            confidence = Confidence.LOW
        label = goal.name or goal.goal_id
        insights.append(
            Insight(
                kind="goal_at_risk",
                scope={"goal_id": goal.goal_id},
                recommendation=(
                    f"Goal '{label}' is behind: {pace.current:g} of {goal.target:g} "
                    f"{goal.metric}, {pace.expected:.0f} expected by now."
                ),
                evidence={
                    "metric": goal.metric,
                    "current": pace.current,
                    "expected": pace.expected,
                    "target": goal.target,
                    "ratio": pace.ratio,
                    "elapsed_fraction": elapsed,
                    "needed_per_day": needed_per_day,
                },
                confidence=confidence,
            )
        )
    return insights


# --- anomalies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    day: date
    value: float
    baseline_median: float
    z: float
    direction: str  # "spike" or "drop"


def anomalies(
    series: Sequence[tuple[date, float]],
    window: int = 14,
    min_history: int = 7,
    threshold: float = 3.5,
    min_relative_change: float = 0.25,
) -> list[Anomaly]:
    """Days far from the median of the `window` days before them (robust z >= threshold).

    A day also has to differ by `min_relative_change` from that median, so a perfectly flat
    history does not turn a change of 1 into an alarm. Needs `min_history` earlier days.
    """
    ordered = sorted(series)
    found = []
    for index in range(min_history, len(ordered)):
        day, value = ordered[index]
        history = [v for _, v in ordered[max(0, index - window) : index]]
        centre = median(history)
        z = robust_z(value, history)
        if abs(z) < threshold:
            continue
        relative = abs(value - centre) / centre if centre else float("inf")
        if relative < min_relative_change:
            continue
        found.append(Anomaly(day, value, centre, z, "spike" if z > 0 else "drop"))
    return found


def anomaly_insights(
    metric: str, scope: Mapping[str, object], detected: Iterable[Anomaly], threshold: float = 3.5
) -> list[Insight]:
    """One insight per anomalous day (the day is part of the scope, hence of the key)."""
    return [
        Insight(
            kind="anomaly",
            scope={**scope, "metric": metric, "day": a.day.isoformat()},
            recommendation=(
                f"{metric} {'jumped' if a.direction == 'spike' else 'fell'} to {a.value:g} on "
                f"{a.day.isoformat()} (usual {a.baseline_median:g}): check what changed."
            ),
            evidence={
                "value": a.value,
                "baseline_median": a.baseline_median,
                "z": a.z if abs(a.z) != float("inf") else None,
                "direction": a.direction,
            },
            confidence=Confidence.HIGH if abs(a.z) >= 2 * threshold else Confidence.MEDIUM,
        )
        for a in detected
    ]
