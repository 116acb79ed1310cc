"""Why a post under-performed: its numbers at the 24 h / 72 h checkpoints against the median
of comparable posts (same channel and format, published in the 30 days before it).

Each weak spot maps to a likely cause the team can act on:
low exposure -> distribution or timing; low ctr -> title or cover; low engagement rate ->
topic or content; low follows / conversions -> the call to action.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.metrics.domain.dictionary import EXPOSURE_FALLBACK, ctr, engagement_rate
from services.metrics.domain.errors import DomainError
from services.metrics.domain.stats import median


class Cause(StrEnum):
    DISTRIBUTION_OR_TIMING = "distribution_or_timing"
    TITLE_OR_COVER = "title_or_cover"
    TOPIC_OR_CONTENT = "topic_or_content"
    CALL_TO_ACTION = "call_to_action"
    NOT_ENOUGH_DATA = "not_enough_data"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"  # not_enough_data: nothing wrong is known


@dataclass(frozen=True)
class PostSnapshot:
    """A post's cumulative values at one checkpoint."""

    publication_id: str
    channel: str
    format: str
    published_at: datetime
    checkpoint: str
    values: Mapping[str, float]


@dataclass(frozen=True)
class Diagnosis:
    cause: Cause
    metric: str
    value: float
    baseline_median: float | None
    ratio: float | None  # value / baseline_median
    sample_size: int
    suggestion: str
    severity: Severity

    def as_dict(self) -> dict[str, object]:
        return {
            "cause": self.cause.value,
            "metric": self.metric,
            "value": self.value,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "sample_size": self.sample_size,
            "suggestion": self.suggestion,
            "severity": self.severity.value,
        }


@dataclass(frozen=True)
class DiagnosisConfig:
    checkpoints: tuple[str, ...] = ("24h", "72h")
    window: timedelta = timedelta(days=30)
    min_sample: int = 5
    low_ratio: float = 0.6  # below 0.6 x the median is "low"

    def __post_init__(self) -> None:
        if self.min_sample < 1:
            raise DomainError("min_sample", "min_sample must be at least 1")
        if not 0 < self.low_ratio <= 1:
            raise DomainError("low_ratio", "low_ratio must be in (0, 1]")


def _plain(name: str) -> Callable[[Mapping[str, float]], float | None]:
    return lambda values: values.get(name)


@dataclass(frozen=True)
class _Check:
    metric: str
    read: Callable[[Mapping[str, float]], float | None]
    cause: Cause
    suggestion: str


_EXPOSURE_SUGGESTION = (
    "Few people saw it: check the publishing time against the best hours for this channel, "
    "hashtags and cross-promotion."
)
_RATE_AND_ACTION_CHECKS: tuple[_Check, ...] = (
    _Check(
        "ctr",
        ctr,
        Cause.TITLE_OR_COVER,
        "Seen but not opened: try a sharper title or a stronger cover (run a title test).",
    ),
    _Check(
        "engagement_rate",
        engagement_rate,
        Cause.TOPIC_OR_CONTENT,
        "Opened but little reaction: the topic or angle may be off the audience's interests.",
    ),
    _Check(
        "follows_gained",
        _plain("follows_gained"),
        Cause.CALL_TO_ACTION,
        "Few new followers: end with a clear reason and prompt to follow.",
    ),
    _Check(
        "conversions",
        _plain("conversions"),
        Cause.CALL_TO_ACTION,
        "Few conversions: make the call to action and its link more prominent.",
    ),
)


def _checks_for(values: Mapping[str, float]) -> list[_Check]:
    """Exposure is judged on the first of impressions, reach, views, reads the post has."""
    exposure_metric = next((n for n in EXPOSURE_FALLBACK if n in values), None)
    checks = list(_RATE_AND_ACTION_CHECKS)
    if exposure_metric is not None:
        checks.insert(
            0,
            _Check(
                exposure_metric,
                _plain(exposure_metric),
                Cause.DISTRIBUTION_OR_TIMING,
                _EXPOSURE_SUGGESTION,
            ),
        )
    return checks


def baseline_peers(
    post: PostSnapshot, candidates: Sequence[PostSnapshot], window: timedelta
) -> list[PostSnapshot]:
    """Same channel, format and checkpoint, published in the `window` before this post.

    The window is anchored on the post's publication, not on "now", so a diagnosis does not
    change when it is recomputed later.
    """
    since = post.published_at - window
    return [
        c
        for c in candidates
        if c.publication_id != post.publication_id
        and c.channel == post.channel
        and c.format == post.format
        and c.checkpoint == post.checkpoint
        and since <= c.published_at < post.published_at
    ]


def _severity(ratio: float, low_ratio: float) -> Severity:
    if ratio < low_ratio * 0.5:
        return Severity.HIGH
    if ratio < low_ratio * 0.75:
        return Severity.MEDIUM
    return Severity.LOW


def diagnose(
    post: PostSnapshot,
    candidates: Sequence[PostSnapshot],
    config: DiagnosisConfig = DiagnosisConfig(),
) -> list[Diagnosis]:
    """Low metrics of `post` with their likely cause; [] at checkpoints not diagnosed.

    Only metrics the post has are judged. When fewer than `min_sample` peers have a metric,
    that metric gets a `not_enough_data` entry instead of a verdict. A zero median cannot be
    undercut and is skipped.
    """
    if post.checkpoint not in config.checkpoints:
        return []
    peers = baseline_peers(post, candidates, config.window)

    def sample_of(check: _Check) -> Sequence[float]:
        return [v for v in (check.read(p.values) for p in peers) if v is not None]

    return judge(post, sample_of, config)


def judge(
    post: PostSnapshot,
    sample_of: Callable[[_Check], Sequence[float]],
    config: DiagnosisConfig = DiagnosisConfig(),
) -> list[Diagnosis]:
    """The findings of `post` given, per check, its peers' values (any order)."""
    findings: list[Diagnosis] = []
    for check in _checks_for(post.values):
        value = check.read(post.values)
        if value is None:
            continue
        sample = sample_of(check)
        if len(sample) < config.min_sample:
            findings.append(
                Diagnosis(
                    Cause.NOT_ENOUGH_DATA,
                    check.metric,
                    value,
                    None,
                    None,
                    len(sample),
                    f"Only {len(sample)} comparable {post.format} posts on {post.channel} in "
                    f"the last {config.window.days} days; {config.min_sample} are needed.",
                    Severity.INFO,
                )
            )
            continue
        centre = median(sample)
        if centre <= 0:
            continue
        ratio = value / centre
        if ratio < config.low_ratio:
            findings.append(
                Diagnosis(
                    check.cause,
                    check.metric,
                    value,
                    centre,
                    ratio,
                    len(sample),
                    check.suggestion,
                    _severity(ratio, config.low_ratio),
                )
            )
    return findings


_READERS: dict[str, Callable[[Mapping[str, float]], float | None]] = {
    **{name: _plain(name) for name in EXPOSURE_FALLBACK},
    **{c.metric: c.read for c in _RATE_AND_ACTION_CHECKS},
}


def diagnose_in_order(
    posts: Iterable[PostSnapshot], config: DiagnosisConfig = DiagnosisConfig()
) -> Iterator[tuple[PostSnapshot, list[Diagnosis]]]:
    """`diagnose` of many posts of one channel, format and checkpoint at once, each against
    the others (same results as `diagnose(post, posts)`), in O(n log n): the posts are
    walked by publication time with a sliding 30-day window of each checked value kept
    sorted. `posts` must be sorted by `published_at`."""
    ordered = list(posts)
    windows: dict[str, list[float]] = {name: [] for name in _READERS}
    entered = left = 0
    for post in ordered:
        # Peers: published in [post - window, post), strictly before the post.
        while entered < len(ordered) and ordered[entered].published_at < post.published_at:
            for name, read in _READERS.items():
                v = read(ordered[entered].values)
                if v is not None:
                    insort(windows[name], v)
            entered += 1
        since = post.published_at - config.window
        while left < entered and ordered[left].published_at < since:
            for name, read in _READERS.items():
                v = read(ordered[left].values)
                if v is not None:
                    values = windows[name]
                    del values[bisect_left(values, v)]
            left += 1
        if post.checkpoint not in config.checkpoints:
            yield post, []
            continue
        yield post, judge(post, lambda check: windows[check.metric], config)


def diagnosis_from_dict(data: Mapping[str, object]) -> Diagnosis:
    """The inverse of `Diagnosis.as_dict` (stored findings read back)."""
    return Diagnosis(
        Cause(str(data["cause"])),
        str(data["metric"]),
        float(data["value"]),  # type: ignore[arg-type]
        None if data["baseline_median"] is None else float(data["baseline_median"]),  # type: ignore[arg-type]
        None if data["ratio"] is None else float(data["ratio"]),  # type: ignore[arg-type]
        int(data["sample_size"]),  # type: ignore[call-overload]
        str(data["suggestion"]),
        Severity(str(data["severity"])),
    )
