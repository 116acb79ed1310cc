"""Goal pacing: how far a metric should be by now on a straight line to its target.

Shared by planning (goal progress read model) and metrics (goal.progressed events).
Works for decreasing targets too (e.g. cost per conversion from 10 down to 6): progress
is always measured as the fraction of the baseline -> target distance covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_TOLERANCE = 0.9


def elapsed_fraction(period_start: datetime, period_end: datetime, at: datetime) -> float:
    """Share of the period elapsed at `at`, clamped to [0, 1]."""
    if at <= period_start:
        return 0.0
    if at >= period_end:
        return 1.0
    return (at - period_start) / (period_end - period_start)


def expected_by(
    target: float,
    baseline: float,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> float:
    """Value expected at `at` on a linear pace from baseline (at start) to target (at end)."""
    return baseline + (target - baseline) * elapsed_fraction(period_start, period_end, at)


def progress_ratio(current: float, baseline: float, target: float) -> float:
    """Fraction of the baseline -> target distance covered; not clamped.

    1.0 means the target is reached, above 1.0 exceeded, below 0.0 moved the wrong way.
    A flat goal (target == baseline) counts as "do not fall below the target".
    """
    if target == baseline:
        return 1.0 if current >= target else 0.0
    return (current - baseline) / (target - baseline)


def is_on_track(
    current: float,
    baseline: float,
    target: float,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True when progress so far is at least `tolerance` x the progress expected by `at`."""
    expected = elapsed_fraction(period_start, period_end, at)
    return progress_ratio(current, baseline, target) >= tolerance * expected


@dataclass(frozen=True, slots=True)
class Pace:
    """Where a goal stands: the value now, its ratio, the value expected now, the verdict."""

    current: float
    ratio: float
    expected: float
    on_track: bool

    @classmethod
    def compute(
        cls,
        current: float,
        baseline: float,
        target: float,
        period_start: datetime,
        period_end: datetime,
        at: datetime,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> Pace:
        return cls(
            current=current,
            ratio=progress_ratio(current, baseline, target),
            expected=expected_by(target, baseline, period_start, period_end, at),
            on_track=is_on_track(
                current, baseline, target, period_start, period_end, at, tolerance
            ),
        )
