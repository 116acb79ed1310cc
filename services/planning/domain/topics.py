"""Topics (选题): statuses, formats, votes, assignment capacity and a self-explaining score."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.insights import Performance, PerformanceEvidence
from services.planning.domain.timezones import local_week_start, require_aware

# --- statuses -------------------------------------------------------------------------------


class TopicStatus(StrEnum):
    IDEA = "idea"
    APPROVED = "approved"
    IN_PRODUCTION = "in_production"
    PUBLISHED = "published"
    DROPPED = "dropped"


class TopicAction(StrEnum):
    APPROVE = "approve"
    START_PRODUCTION = "start_production"
    PUBLISH = "publish"
    DROP = "drop"


# Publishing straight from `approved` is allowed: a publication may go out without its
# content item's approval event having moved the topic to in_production first.
_TRANSITIONS: dict[TopicAction, tuple[frozenset[TopicStatus], TopicStatus]] = {
    TopicAction.APPROVE: (frozenset({TopicStatus.IDEA}), TopicStatus.APPROVED),
    TopicAction.START_PRODUCTION: (frozenset({TopicStatus.APPROVED}), TopicStatus.IN_PRODUCTION),
    TopicAction.PUBLISH: (
        frozenset({TopicStatus.APPROVED, TopicStatus.IN_PRODUCTION}),
        TopicStatus.PUBLISHED,
    ),
    TopicAction.DROP: (
        frozenset({TopicStatus.IDEA, TopicStatus.APPROVED, TopicStatus.IN_PRODUCTION}),
        TopicStatus.DROPPED,
    ),
}


def transition(status: TopicStatus | str, action: TopicAction | str) -> TopicStatus:
    """The status after `action`, or InvalidTransition (a 409 at the API)."""
    current = TopicStatus(status)
    act = TopicAction(action)
    allowed_from, result = _TRANSITIONS[act]
    if current not in allowed_from:
        raise InvalidTransition("topic", current.value, act.value)
    return result


def reached_by(status: TopicStatus | str, action: TopicAction | str) -> bool:
    """True when `status` is what `action` leads to: lets event handlers treat a redelivered
    or late event as already applied instead of a conflict."""
    return _TRANSITIONS[TopicAction(action)][1] is TopicStatus(status)


# --- formats and validation -----------------------------------------------------------------


class TopicFormat(StrEnum):
    ARTICLE = "article"  # 图文
    SHORT_VIDEO = "short_video"
    LONG_VIDEO = "long_video"
    LIVE = "live"
    H5 = "h5"
    IMAGE = "image"
    CAROUSEL = "carousel"
    GIF = "gif"
    POSTER = "poster"
    THREAD = "thread"
    NEWSLETTER = "newsletter"
    PODCAST = "podcast"


ALLOWED_FORMATS: tuple[str, ...] = tuple(f.value for f in TopicFormat)

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 1, 5, 3


def validate_format(value: str, field_name: str = "format") -> TopicFormat:
    try:
        return TopicFormat(value.strip().lower())
    except (ValueError, AttributeError):
        raise DomainError(
            field_name, f"unknown format {value!r}; allowed: {', '.join(ALLOWED_FORMATS)}"
        ) from None


def validate_priority(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError("priority", "must be a whole number")
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise DomainError(
            "priority", f"must be between {MIN_PRIORITY} (lowest) and {MAX_PRIORITY} (highest)"
        )
    return value


def validate_hot_topic(is_hot: bool, hot_deadline: datetime | None, now: datetime) -> None:
    """A deadline belongs to a hot topic and must be ahead when set."""
    if hot_deadline is None:
        return
    if not is_hot:
        raise DomainError("hot_deadline", "only a hot topic has a deadline")
    require_aware(hot_deadline, "hot_deadline")
    if hot_deadline <= now:
        raise DomainError("hot_deadline", "must be in the future")


def validate_title(title: str) -> str:
    clean = (title or "").strip()
    if not clean:
        raise DomainError("title", "must not be empty")
    if len(clean) > 300:
        raise DomainError("title", "must be at most 300 characters")
    return clean


# --- votes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vote:
    member_id: str
    value: int  # +1 for, -1 against

    def __post_init__(self) -> None:
        if self.value not in (1, -1):
            raise DomainError("value", "a vote is +1 or -1")


@dataclass(frozen=True, slots=True)
class VoteTally:
    up: int = 0
    down: int = 0

    @property
    def net(self) -> int:
        return self.up - self.down


def tally_votes(votes: Iterable[Vote]) -> VoteTally:
    """One vote per member: a member's later vote replaces the earlier one."""
    latest: dict[str, int] = {}
    for vote in votes:
        latest[vote.member_id] = vote.value
    up = sum(1 for v in latest.values() if v > 0)
    return VoteTally(up=up, down=len(latest) - up)


# --- assignment capacity --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assignment:
    topic_id: str
    member_id: str
    due_at: datetime
    effort: float = 1.0  # in the same unit as the member's weekly capacity (items by default)


@dataclass(frozen=True, slots=True)
class CapacityResult:
    ok: bool
    load: float  # effort due that week including the new assignment
    capacity: float
    warning: str | None
    week_start: date


def check_capacity(
    member_capacity_per_week: float,
    existing_assignments: Iterable[Assignment],
    new_assignment: Assignment,
    tz: ZoneInfo = ZoneInfo("UTC"),
) -> CapacityResult:
    """Would the new assignment push the member past their weekly capacity?

    Load counts the member's assignments due in the same local ISO week (Monday start, in the
    workspace zone). Re-assigning the same topic replaces its earlier assignment. `ok` is False
    past capacity; the API decides whether to refuse or to accept with the warning.
    """
    week = local_week_start(new_assignment.due_at, tz)
    load = new_assignment.effort + sum(
        a.effort
        for a in existing_assignments
        if a.member_id == new_assignment.member_id
        and a.topic_id != new_assignment.topic_id
        and local_week_start(a.due_at, tz) == week
    )
    capacity = float(member_capacity_per_week)
    who = new_assignment.member_id
    if load > capacity:
        warning = (
            f"{who} would have {load:g} due in the week of {week.isoformat()}, "
            f"over a weekly capacity of {capacity:g}"
        )
        return CapacityResult(False, load, capacity, warning, week)
    if load == capacity:
        warning = f"{who} reaches full capacity ({capacity:g}) in the week of {week.isoformat()}"
        return CapacityResult(True, load, capacity, warning, week)
    return CapacityResult(True, load, capacity, None, week)


# --- score ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicForScoring:
    id: str
    title: str
    format: str
    pillar: str | None = None
    priority: int = DEFAULT_PRIORITY
    is_hot: bool = False
    hot_deadline: datetime | None = None
    votes: VoteTally = field(default_factory=VoteTally)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Points each part can contribute; they add up to 100 so the total is 0..100."""

    priority: float = 30
    pillar_gap: float = 25
    performance: float = 20
    urgency: float = 15
    votes: float = 10

    def __post_init__(self) -> None:
        parts = (self.priority, self.pillar_gap, self.performance, self.urgency, self.votes)
        if any(w < 0 for w in parts) or abs(sum(parts) - 100) > 1e-9:
            raise DomainError("weights", "score weights must be non-negative and sum to 100")


@dataclass(frozen=True, slots=True)
class ScorePart:
    name: str
    value: float  # 0..1; 0.5 is neutral where there is no data
    weight: float
    reason: str

    @property
    def points(self) -> float:
        return round(self.value * self.weight, 2)


@dataclass(frozen=True, slots=True)
class Score:
    total: float
    parts: list[ScorePart]


NEUTRAL = 0.5
URGENT_WITHIN_HOURS = 24.0  # full urgency when the deadline is this close
URGENCY_HORIZON_HOURS = 168.0  # no urgency when the deadline is a week or more away
VOTE_SATURATION = 5  # net votes at which the vote part is full (or empty when negative)


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _priority_part(topic: TopicForScoring, weight: float) -> ScorePart:
    priority = min(max(topic.priority, MIN_PRIORITY), MAX_PRIORITY)
    value = (priority - MIN_PRIORITY) / (MAX_PRIORITY - MIN_PRIORITY)
    return ScorePart("priority", value, weight, f"priority {priority} of {MAX_PRIORITY}")


def _pillar_gap_part(
    topic: TopicForScoring,
    pillar_shares: Mapping[str, float],
    pillar_targets: Mapping[str, float],
    weight: float,
) -> ScorePart:
    if topic.pillar is None:
        return ScorePart("pillar_gap", NEUTRAL, weight, "no content pillar set; neutral")
    target = pillar_targets.get(topic.pillar)
    if not target or target <= 0:
        reason = f"pillar '{topic.pillar}' has no target share; neutral"
        return ScorePart("pillar_gap", NEUTRAL, weight, reason)
    actual = pillar_shares.get(topic.pillar, 0.0)
    # On target scores 0.5; no output at all scores 1; twice the target or more scores 0.
    value = _clamp(NEUTRAL + (target - actual) / (2 * target))
    if actual < target:
        verdict = "under-served"
    elif actual > target:
        verdict = "over-served"
    else:
        verdict = "on target"
    reason = f"pillar '{topic.pillar}' is {actual:.0%} of output against a {target:.0%} target"
    return ScorePart("pillar_gap", value, weight, f"{reason} ({verdict})")


def _performance_part(topic: TopicForScoring, performance: Performance, weight: float) -> ScorePart:
    """Format, pillar and topic (by tag) evidence, averaged: each says how such content did."""
    found: list[tuple[str, PerformanceEvidence]] = []
    if (evidence := performance.formats.get(topic.format)) is not None:
        found.append(("format", evidence))
    if topic.pillar and (evidence := performance.pillars.get(topic.pillar)) is not None:
        found.append(("pillar", evidence))
    for tag in topic.tags:
        if (evidence := performance.topics.get(tag)) is not None:
            found.append(("topic", evidence))
            break  # one topic signal, the first tag with evidence, so tags cannot stack
    if not found:
        return ScorePart("performance", NEUTRAL, weight, "no performance data yet; neutral")
    # An index of 1.0 (workspace average) scores 0.5; 2.0 or more scores 1.
    mean_index = sum(e.index for _, e in found) / len(found)
    reason = "; ".join(e.describe(label) for label, e in found)
    return ScorePart("performance", _clamp(mean_index / 2), weight, reason)


def _urgency_part(topic: TopicForScoring, now: datetime, weight: float) -> ScorePart:
    if not topic.is_hot:
        return ScorePart("urgency", 0.0, weight, "not a hot topic")
    if topic.hot_deadline is None:
        return ScorePart("urgency", NEUTRAL, weight, "hot topic without a deadline")
    hours_left = (topic.hot_deadline - now).total_seconds() / 3600
    if hours_left <= 0:
        return ScorePart("urgency", 0.0, weight, "hot topic whose deadline has passed")
    span = URGENCY_HORIZON_HOURS - URGENT_WITHIN_HOURS
    value = _clamp(1 - (hours_left - URGENT_WITHIN_HOURS) / span)
    return ScorePart("urgency", value, weight, f"hot topic, deadline in {hours_left:.0f} hours")


def _votes_part(topic: TopicForScoring, weight: float) -> ScorePart:
    tally = topic.votes
    if tally.up == 0 and tally.down == 0:
        return ScorePart("votes", NEUTRAL, weight, "no votes yet; neutral")
    value = _clamp(NEUTRAL + tally.net / (2 * VOTE_SATURATION))
    reason = f"{tally.up} for, {tally.down} against (net {tally.net:+d})"
    return ScorePart("votes", value, weight, reason)


def score_topic(
    topic: TopicForScoring,
    pillar_shares: Mapping[str, float],
    pillar_targets: Mapping[str, float],
    performance: Performance,
    now: datetime,
    weights: ScoreWeights = ScoreWeights(),
) -> Score:
    """A 0..100 score whose parts say, in plain words, why the topic ranks where it does."""
    parts = [
        _priority_part(topic, weights.priority),
        _pillar_gap_part(topic, pillar_shares, pillar_targets, weights.pillar_gap),
        _performance_part(topic, performance, weights.performance),
        _urgency_part(topic, now, weights.urgency),
        _votes_part(topic, weights.votes),
    ]
    total = round(sum(p.value * p.weight for p in parts), 1)
    return Score(total=total, parts=parts)


def rank_topics(
    topics: Iterable[TopicForScoring],
    pillar_shares: Mapping[str, float],
    pillar_targets: Mapping[str, float],
    performance: Performance,
    now: datetime,
    weights: ScoreWeights = ScoreWeights(),
) -> list[tuple[TopicForScoring, Score]]:
    """Topics best first; equal scores ordered by id so the ranking is stable."""
    scored = [
        (t, score_topic(t, pillar_shares, pillar_targets, performance, now, weights))
        for t in topics
    ]
    scored.sort(key=lambda pair: (-pair[1].total, pair[0].id))
    return scored


def output_shares(pillars_of_output: Iterable[str | None]) -> dict[str, float]:
    """Share of each pillar in a list of produced/published topics (None = no pillar)."""
    counts: dict[str, int] = {}
    total = 0
    for pillar in pillars_of_output:
        total += 1
        if pillar is not None:
            counts[pillar] = counts.get(pillar, 0) + 1
    return {p: n / total for p, n in counts.items()} if total else {}
