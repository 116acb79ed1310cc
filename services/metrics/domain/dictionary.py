"""The metric dictionary: normalised metric names, per-platform field mappings, derived metrics
and the validation of one ingested point.

Every number the service stores is under one of the normalised names below, whatever the
platform called it. Counters are cumulative as platforms report them ("likes so far"); gauges
are a level at a moment (followers); ratios are fractions in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.metrics.domain.errors import DomainError


class MetricKind(StrEnum):
    COUNTER = "counter"  # cumulative, only meaningful as a delta over a period
    GAUGE = "gauge"  # a level at a moment; the last value wins
    RATIO = "ratio"  # a fraction in [0, 1]; combined as a ratio of sums, never averaged


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    unit: str
    kind: MetricKind
    description: str
    derived: bool = False


def _m(name: str, unit: str, kind: MetricKind, description: str, derived: bool = False):
    return name, MetricDefinition(name, unit, kind, description, derived)


METRICS: Mapping[str, MetricDefinition] = dict(
    [
        _m("impressions", "count", MetricKind.COUNTER, "Times the post was shown in a feed."),
        _m("reach", "count", MetricKind.COUNTER, "Distinct accounts the post was shown to."),
        _m("reads", "count", MetricKind.COUNTER, "Article opens (e.g. WeChat page reads)."),
        _m("views", "count", MetricKind.COUNTER, "Video or note plays / views."),
        _m("likes", "count", MetricKind.COUNTER, "Likes, favourites, attitudes."),
        _m("comments", "count", MetricKind.COUNTER, "Comments and replies."),
        _m("shares", "count", MetricKind.COUNTER, "Shares, reposts, reblogs."),
        _m("saves", "count", MetricKind.COUNTER, "Saves, bookmarks, favourites-to-collection."),
        _m("follows_gained", "count", MetricKind.COUNTER, "New followers attributed."),
        _m("followers", "count", MetricKind.GAUGE, "Followers of the account at a moment."),
        _m("clicks", "count", MetricKind.COUNTER, "Clicks on the post's link or card."),
        _m("conversions", "count", MetricKind.COUNTER, "Sign-ups, sales or other goal actions."),
        _m("watch_time_s", "seconds", MetricKind.COUNTER, "Total watch time in seconds."),
        _m("completion_rate", "ratio", MetricKind.RATIO, "Share of plays watched to the end."),
        _m(
            "engagements",
            "count",
            MetricKind.COUNTER,
            "likes + comments + shares + saves.",
            derived=True,
        ),
        _m(
            "engagement_rate",
            "ratio",
            MetricKind.RATIO,
            "engagements / exposure (impressions, else reach, else views, else reads).",
            derived=True,
        ),
        _m("ctr", "ratio", MetricKind.RATIO, "clicks / impressions.", derived=True),
    ]
)

# Names a caller may send as points; derived metrics are always computed from their parts.
INGESTIBLE_METRICS: tuple[str, ...] = tuple(n for n, d in METRICS.items() if not d.derived)

ENGAGEMENT_PARTS: tuple[str, ...] = ("likes", "comments", "shares", "saves")
# The denominator of engagement_rate: the first of these the values carry (and that is > 0).
EXPOSURE_FALLBACK: tuple[str, ...] = ("impressions", "reach", "views", "reads")

# Platform field -> normalised metric. Two fields mapping to one metric are added together:
# they count distinct actions (e.g. Douyin in-app forwards and external shares).
PLATFORM_FIELDS: Mapping[str, Mapping[str, str]] = {
    "mastodon": {
        "favourites_count": "likes",
        "reblogs_count": "shares",
        "replies_count": "comments",
        "followers_count": "followers",
    },
    "wechat_mp": {
        "int_page_read_count": "reads",
        "int_page_read_user": "reach",
        "share_count": "shares",
        "add_to_fav_count": "saves",
        "like_count": "likes",
        "comment_count": "comments",
        "new_user": "follows_gained",
        "cumulate_user": "followers",
    },
    "weibo": {
        "reposts_count": "shares",
        "comments_count": "comments",
        "attitudes_count": "likes",
        "followers_count": "followers",
    },
    "douyin": {
        "play_count": "views",
        "digg_count": "likes",
        "comment_count": "comments",
        "share_count": "shares",
        "forward_count": "shares",
        "collect_count": "saves",
        "follower_count": "followers",
    },
    "bilibili": {
        "view": "views",
        "like": "likes",
        "reply": "comments",
        "share": "shares",
        "favorite": "saves",
        "follower": "followers",
    },
    "xiaohongshu": {
        "impression_count": "impressions",
        "view_count": "views",
        "liked_count": "likes",
        "collected_count": "saves",
        "comment_count": "comments",
        "share_count": "shares",
        "new_fans": "follows_gained",
        "fans": "followers",
    },
    # The sandbox speaks the normalised vocabulary directly.
    "sandbox": {name: name for name in INGESTIBLE_METRICS},
}


@dataclass(frozen=True)
class NormalisedStats:
    values: dict[str, float]
    # raw field -> why it was left out ("unknown field", "not a number")
    ignored: dict[str, str] = field(default_factory=dict)


def as_number(raw_value: object) -> float | None:
    """A finite number from a platform field (numbers, numeric strings); None otherwise."""
    if isinstance(raw_value, bool):  # bool is an int subclass; a flag is not a count
        return None
    if isinstance(raw_value, int | float):
        number = float(raw_value)
    elif isinstance(raw_value, str):
        try:
            number = float(raw_value.strip())  # some platforms send counts as strings
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def normalise_detailed(platform: str, raw: Mapping[str, object]) -> NormalisedStats:
    """Map a platform's stats payload to normalised metrics, reporting what was left out.

    Fields the platform mapping does not know are ignored, except that a field already named
    like an ingestible normalised metric is taken as is (CSV exports we produced ourselves).
    """
    mapping = PLATFORM_FIELDS.get(platform)
    if mapping is None:
        known = ", ".join(sorted(PLATFORM_FIELDS))
        raise DomainError("platform", f"unknown platform {platform!r}; known: {known}")
    values: dict[str, float] = {}
    ignored: dict[str, str] = {}
    for raw_field, raw_value in raw.items():
        metric = mapping.get(raw_field)
        if metric is None and raw_field in INGESTIBLE_METRICS:
            metric = raw_field
        if metric is None:
            ignored[raw_field] = "unknown field"
            continue
        number = as_number(raw_value)
        if number is None:
            ignored[raw_field] = "not a number"
            continue
        values[metric] = values.get(metric, 0.0) + number
    return NormalisedStats(values=values, ignored=ignored)


def normalise(platform: str, raw: Mapping[str, object]) -> dict[str, float]:
    """Normalised metric -> value for a platform payload (unknown fields dropped)."""
    return normalise_detailed(platform, raw).values


def engagements(values: Mapping[str, float]) -> float | None:
    """likes + comments + shares + saves; parts missing count as 0; None if none present."""
    present = [values[p] for p in ENGAGEMENT_PARTS if p in values]
    return sum(present) if present else None


def exposure(values: Mapping[str, float]) -> tuple[str, float] | None:
    """The engagement-rate denominator: first positive of impressions, reach, views, reads."""
    for name in EXPOSURE_FALLBACK:
        value = values.get(name)
        if value is not None and value > 0:
            return name, value
    return None


def engagement_rate(values: Mapping[str, float]) -> float | None:
    total = engagements(values)
    base = exposure(values)
    if total is None or base is None:
        return None
    return total / base[1]


def ctr(values: Mapping[str, float]) -> float | None:
    clicks = values.get("clicks")
    impressions = values.get("impressions")
    if clicks is None or not impressions:  # None or 0: no rate, not a division error
        return None
    return clicks / impressions


def with_derived(values: Mapping[str, float]) -> dict[str, float]:
    """The values plus engagements, engagement_rate and ctr where they can be computed."""
    out = dict(values)
    for name, compute in (
        ("engagements", engagements),
        ("engagement_rate", engagement_rate),
        ("ctr", ctr),
    ):
        result = compute(values)
        if result is not None:
            out[name] = result
    return out


@dataclass(frozen=True)
class PointError:
    field: str
    message: str


DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


def validate_point(
    metric: str,
    value: object,
    observed_at: datetime,
    now: datetime,
    max_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> PointError | None:
    """The first thing wrong with one ingested point, or None when it can be stored."""
    definition = METRICS.get(metric)
    if definition is None:
        allowed = ", ".join(INGESTIBLE_METRICS)
        return PointError("metric", f"unknown metric {metric!r}; allowed: {allowed}")
    if definition.derived:
        parts = "its parts"
        if metric == "engagements":
            parts = ", ".join(ENGAGEMENT_PARTS)
        return PointError("metric", f"{metric} is derived; send {parts} instead")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return PointError("value", "value must be a number")
    if math.isnan(value) or math.isinf(value):
        return PointError("value", "value must be a finite number")
    if value < 0:
        return PointError("value", f"{metric} cannot be negative (got {value})")
    if definition.kind is MetricKind.RATIO and value > 1:
        return PointError("value", f"{metric} is a fraction in [0, 1], not a percent")
    if observed_at.tzinfo is None or observed_at.utcoffset() is None:
        return PointError("observed_at", "observed_at needs a time zone offset")
    if observed_at > now + max_skew:
        return PointError("observed_at", f"observed_at {observed_at.isoformat()} is in the future")
    return None
