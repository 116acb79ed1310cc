"""SMART goals: the metric dictionary, validation, statuses and the at-risk list."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.timezones import local_day_start, require_aware
from shared.pacing import DEFAULT_TOLERANCE, Pace, elapsed_fraction


class MetricUnit(StrEnum):
    COUNT = "count"
    RATIO = "ratio"  # a fraction in [0, 1]: 0.05 means 5 %
    SECONDS = "seconds"
    MONEY = "money"  # in the goal's currency


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    unit: MetricUnit
    description: str


_METRICS = (
    MetricInfo("followers", MetricUnit.COUNT, "followers of the account(s) at the time"),
    MetricInfo("reads", MetricUnit.COUNT, "article reads"),
    MetricInfo("views", MetricUnit.COUNT, "video or post views"),
    MetricInfo("impressions", MetricUnit.COUNT, "times content was shown"),
    MetricInfo("reach", MetricUnit.COUNT, "unique people who saw content"),
    MetricInfo("engagements", MetricUnit.COUNT, "likes + comments + shares + saves"),
    MetricInfo("engagement_rate", MetricUnit.RATIO, "engagements / impressions"),
    MetricInfo("likes", MetricUnit.COUNT, "likes"),
    MetricInfo("shares", MetricUnit.COUNT, "shares / reposts"),
    MetricInfo("comments", MetricUnit.COUNT, "comments"),
    MetricInfo("saves", MetricUnit.COUNT, "saves / favourites"),
    MetricInfo("clicks", MetricUnit.COUNT, "link clicks"),
    MetricInfo("ctr", MetricUnit.RATIO, "clicks / impressions"),
    MetricInfo("conversions", MetricUnit.COUNT, "sign-ups, leads or purchases attributed"),
    MetricInfo("conversion_rate", MetricUnit.RATIO, "conversions / clicks"),
    MetricInfo("watch_time", MetricUnit.SECONDS, "total seconds watched"),
    MetricInfo("completion_rate", MetricUnit.RATIO, "views watched to the end / views"),
    MetricInfo("cost_per_conversion", MetricUnit.MONEY, "spend / conversions"),
)

METRICS: dict[str, MetricInfo] = {m.name: m for m in _METRICS}
ALLOWED_METRICS: tuple[str, ...] = tuple(sorted(METRICS))


class GoalStatus(StrEnum):
    ACTIVE = "active"
    ACHIEVED = "achieved"
    MISSED = "missed"
    CANCELLED = "cancelled"


TERMINAL_GOAL_STATUSES = frozenset({GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.CANCELLED})

MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class GoalSpec:
    """The validated, user-supplied part of a goal."""

    name: str
    metric: str
    target: float
    baseline: float
    period_start: datetime
    period_end: datetime
    channel: str | None = None
    campaign_id: str | None = None
    owner: str | None = None


def validate_metric(metric: str, field: str = "metric") -> MetricInfo:
    info = METRICS.get(metric.strip().lower() if isinstance(metric, str) else "")
    if info is None:
        raise DomainError(
            field, f"unknown metric {metric!r}; allowed: {', '.join(ALLOWED_METRICS)}"
        )
    return info


def _check_number(value: float, field: str, info: MetricInfo) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DomainError(field, "must be a finite number")
    if value < 0:
        raise DomainError(field, f"must not be negative (got {value})")
    if info.unit is MetricUnit.RATIO and value > 1:
        raise DomainError(field, f"{info.name} is a fraction between 0 and 1 (5 % is 0.05)")
    return float(value)


def validate_goal(
    *,
    name: str,
    metric: str,
    target: float,
    period_start: datetime,
    period_end: datetime,
    baseline: float | None = None,
    channel: str | None = None,
    campaign_id: str | None = None,
    owner: str | None = None,
) -> GoalSpec:
    """Check a goal against the SMART rules; raise DomainError naming the first bad field."""
    clean_name = (name or "").strip()
    if not clean_name:
        raise DomainError("name", "must not be empty")
    if len(clean_name) > MAX_NAME_LENGTH:
        raise DomainError("name", f"must be at most {MAX_NAME_LENGTH} characters")
    info = validate_metric(metric)
    clean_target = _check_number(target, "target", info)
    clean_baseline = _check_number(0.0 if baseline is None else baseline, "baseline", info)
    if clean_target == clean_baseline:
        raise DomainError("target", "must differ from the baseline, or there is nothing to reach")
    require_aware(period_start, "period_start")
    require_aware(period_end, "period_end")
    if period_end <= period_start:
        raise DomainError("period_end", "must be after period_start")
    return GoalSpec(
        name=clean_name,
        metric=info.name,
        target=clean_target,
        baseline=clean_baseline,
        period_start=period_start,
        period_end=period_end,
        channel=(channel or None),
        campaign_id=campaign_id,
        owner=owner,
    )


def period_from_dates(first_day: date, last_day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Inclusive local days -> [start, end) instants: start of first day to start of the next
    after last day, in the workspace zone."""
    if last_day < first_day:
        raise DomainError("period_end", "must not be before period_start")
    return local_day_start(first_day, tz), local_day_start(
        date.fromordinal(last_day.toordinal() + 1), tz
    )


def target_reached(current: float, baseline: float, target: float) -> bool:
    """Reached in the goal's direction: up for growth goals, down for reduction goals."""
    return current <= target if target < baseline else current >= target


def next_goal_status(
    status: GoalStatus,
    *,
    current: float,
    baseline: float,
    target: float,
    period_end: datetime,
    now: datetime,
) -> GoalStatus:
    """Status after new progress: achieved once the target is reached (even early), missed
    when the period ended below it. Terminal statuses never change here."""
    if status is not GoalStatus.ACTIVE:
        return status
    if target_reached(current, baseline, target):
        return GoalStatus.ACHIEVED
    if now >= period_end:
        return GoalStatus.MISSED
    return GoalStatus.ACTIVE


def cancel_goal(status: GoalStatus) -> GoalStatus:
    if status is not GoalStatus.ACTIVE:
        raise InvalidTransition("goal", status.value, "cancel")
    return GoalStatus.CANCELLED


@dataclass(frozen=True, slots=True)
class GoalSnapshot:
    """What the at-risk rule needs to know about a goal and its latest progress."""

    id: str
    name: str
    metric: str
    target: float
    baseline: float
    current: float
    period_start: datetime
    period_end: datetime
    status: GoalStatus = GoalStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class GoalAtRisk:
    goal: GoalSnapshot
    pace: Pace
    expected_ratio: float
    shortfall: float  # expected_ratio - ratio: how far behind the straight line, as a fraction

    @property
    def reason(self) -> str:
        return (
            f"{self.goal.metric} at {self.pace.current:g}, {self.pace.ratio:.0%} of the way to "
            f"{self.goal.target:g}; {self.expected_ratio:.0%} expected by now"
        )


def goals_at_risk(
    goals: Iterable[GoalSnapshot], now: datetime, tolerance: float = DEFAULT_TOLERANCE
) -> list[GoalAtRisk]:
    """Active goals in their period that are behind pace, worst first. A goal whose period
    has ended is not at risk any more: it is missed (see next_goal_status)."""
    at_risk: list[GoalAtRisk] = []
    for goal in goals:
        if goal.status is not GoalStatus.ACTIVE:
            continue
        if not goal.period_start < now < goal.period_end:
            continue
        pace = Pace.compute(
            goal.current,
            goal.baseline,
            goal.target,
            goal.period_start,
            goal.period_end,
            now,
            tolerance,
        )
        if pace.on_track:
            continue
        expected_ratio = elapsed_fraction(goal.period_start, goal.period_end, now)
        at_risk.append(GoalAtRisk(goal, pace, expected_ratio, expected_ratio - pace.ratio))
    # Ties broken by id so the list is stable between calls.
    at_risk.sort(key=lambda r: (-r.shortfall, r.goal.id))
    return at_risk


@dataclass(frozen=True, slots=True)
class GoalProgress:
    """The progress read model of one goal, as fed by `mediaops.metrics.goal.progressed`."""

    goal_id: str
    name: str
    metric: str
    target: float
    current: float
    ratio: float
    on_track: bool
    status: GoalStatus = GoalStatus.ACTIVE
