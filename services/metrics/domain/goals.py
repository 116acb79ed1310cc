"""Goal values: how a goal's current number is computed from observations, its pace, and when
a change is worth a `goal.progressed` event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.metrics.domain.dictionary import (
    ENGAGEMENT_PARTS,
    EXPOSURE_FALLBACK,
    METRICS,
    MetricKind,
)
from services.metrics.domain.errors import DomainError
from shared.pacing import DEFAULT_TOLERANCE, Pace


@dataclass(frozen=True)
class GoalScope:
    """What a goal counts; None means "any"."""

    channel: str | None = None
    campaign_id: str | None = None
    account_id: str | None = None

    def includes(self, observation: Observation) -> bool:
        return (
            (self.channel is None or observation.channel == self.channel)
            and (self.campaign_id is None or observation.campaign_id == self.campaign_id)
            and (self.account_id is None or observation.account_id == self.account_id)
        )


@dataclass(frozen=True)
class Observation:
    """One stored value (a raw point or a daily rollup's closing value).

    `series` names one cumulative sequence: a publication id for post metrics, an account id
    for account-level figures such as followers.
    """

    series: str
    metric: str
    value: float
    observed_at: datetime
    channel: str | None = None
    campaign_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Goal:
    goal_id: str
    metric: str
    target: float
    period_start: datetime
    period_end: datetime
    baseline: float = 0.0
    scope: GoalScope = field(default_factory=GoalScope)
    name: str = ""


@dataclass(frozen=True)
class GoalStatus:
    goal: Goal
    pace: Pace


def _by_series(
    observations: Iterable[Observation], metric: str, scope: GoalScope
) -> dict[str, list[Observation]]:
    grouped: dict[str, list[Observation]] = {}
    for obs in observations:
        if obs.metric == metric and scope.includes(obs):
            grouped.setdefault(obs.series, []).append(obs)
    for series in grouped.values():
        series.sort(key=lambda o: o.observed_at)
    return grouped


def _last_before(series: Sequence[Observation], moment: datetime) -> float | None:
    last = None
    for obs in series:  # sorted by time
        if obs.observed_at >= moment:
            break
        last = obs.value
    return last


def _counter_deltas(
    observations: Sequence[Observation],
    metric: str,
    scope: GoalScope,
    start: datetime,
    end: datetime,
) -> dict[str, float]:
    """Per series, cumulative value at the period's end minus at its start.

    A series with no observation before the start counts from zero (a post published in the
    period); the checkpoints poll often enough that older posts have one.
    """
    deltas = {}
    for name, series in _by_series(observations, metric, scope).items():
        at_end = _last_before(series, end)
        if at_end is None:
            continue
        deltas[name] = at_end - (_last_before(series, start) or 0.0)
    return deltas


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def goal_value(
    metric: str,
    scope: GoalScope,
    period_start: datetime,
    period_end: datetime,
    observations: Sequence[Observation],
) -> float | None:
    """The goal's current value over [period_start, period_end) within its scope.

    - counters: the sum over series of the increase over the period;
    - followers and other gauges: the sum over series (accounts) of the last known level;
    - engagement_rate, ctr: a ratio of the summed increases (never a mean of ratios);
      completion_rate: the mean of each series' last value weighted by its views.
    None when nothing can be said (no level known, a zero denominator).
    """
    definition = METRICS.get(metric)
    if definition is None:
        raise DomainError("metric", f"unknown metric {metric!r}")
    if period_end <= period_start:
        raise DomainError("period_end", "period_end must be after period_start")

    def total(name: str) -> float:
        return sum(_counter_deltas(observations, name, scope, period_start, period_end).values())

    if metric == "engagements":
        return sum(total(part) for part in ENGAGEMENT_PARTS)
    if metric == "engagement_rate":
        engaged = sum(total(part) for part in ENGAGEMENT_PARTS)
        for denominator in EXPOSURE_FALLBACK:
            exposure = total(denominator)
            if exposure > 0:
                return engaged / exposure
        return None
    if metric == "ctr":
        return _ratio(total("clicks"), total("impressions"))
    if metric == "completion_rate":
        return _weighted_completion(observations, scope, period_start, period_end)
    if definition.kind is MetricKind.GAUGE:
        levels = [
            _last_before(series, period_end)
            for series in _by_series(observations, metric, scope).values()
        ]
        known = [level for level in levels if level is not None]
        return sum(known) if known else None
    return total(metric)


def _weighted_completion(
    observations: Sequence[Observation], scope: GoalScope, start: datetime, end: datetime
) -> float | None:
    views = _counter_deltas(observations, "views", scope, start, end)
    weighted = weights = 0.0
    for name, series in _by_series(observations, "completion_rate", scope).items():
        in_period = [o for o in series if start <= o.observed_at < end]
        if not in_period:
            continue
        weight = views.get(name, 0.0) or 1.0  # no views known: count the post once
        weighted += in_period[-1].value * weight
        weights += weight
    return _ratio(weighted, weights)


def progress(
    goal: Goal, value: float | None, now: datetime, tolerance: float = DEFAULT_TOLERANCE
) -> Pace:
    """The goal's pace at `now`; an unknown value (None) counts as no progress (the baseline)."""
    current = goal.baseline if value is None else value
    return Pace.compute(
        current, goal.baseline, goal.target, goal.period_start, goal.period_end, now, tolerance
    )


def should_emit(
    prev: float | None,
    new: float,
    last_emitted_at: datetime | None,
    now: datetime,
    min_interval_s: float = 60.0,
    min_change: float = 0.0,
    *,
    on_track_changed: bool = False,
) -> bool:
    """Debounce for `goal.progressed`: `prev` is the value last *emitted* (None: never).

    Emit the first value; otherwise never twice within `min_interval_s`, and then only when
    the value moved by at least `min_change` (any change when 0) or `on_track` flipped.
    Suppressed changes are not lost: `prev` stays the last emitted value, so they add up and
    go out with the next evaluation after the interval (the caller re-evaluates periodically).
    """
    if prev is None:
        return True
    if new == prev and not on_track_changed:
        return False
    if last_emitted_at is not None and now - last_emitted_at < timedelta(seconds=min_interval_s):
        return False
    return on_track_changed or abs(new - prev) >= min_change


def status_payload(status: GoalStatus) -> Mapping[str, object]:
    """The `goal.progressed` event data / API `progress` block for one goal."""
    pace = status.pace
    return {
        "goal_id": status.goal.goal_id,
        "metric": status.goal.metric,
        "current": pace.current,
        "target": status.goal.target,
        "expected": pace.expected,
        "ratio": pace.ratio,
        "on_track": pace.on_track,
    }
