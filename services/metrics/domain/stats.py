"""Small, dependency-free statistics: medians, robust z-scores, a two-proportion z-test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from services.metrics.domain.errors import DomainError

# MAD * 1.4826 estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826
# Mean absolute deviation * 1.2533 does the same; used when more than half the values tie.
MEAN_AD_TO_SIGMA = 1.253314


def median(values: Sequence[float]) -> float:
    if not values:
        raise DomainError("values", "median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    centre = median(values)
    return median([abs(v - centre) for v in values])


def robust_z(value: float, reference: Sequence[float]) -> float:
    """How unusual `value` is against `reference`, in robust standard deviations.

    Uses the MAD; when the MAD is 0 (most values equal) falls back to the mean absolute
    deviation; when that is 0 too (all equal), any difference is infinitely unusual.
    """
    centre = median(reference)
    deviation = value - centre
    spread = mad(reference) * MAD_TO_SIGMA
    if spread == 0:
        spread = sum(abs(v - centre) for v in reference) / len(reference) * MEAN_AD_TO_SIGMA
    if spread == 0:
        return 0.0 if deviation == 0 else math.copysign(math.inf, deviation)
    return deviation / spread


class ProportionTest(NamedTuple):
    """Unpacks as ``(z, p_value)``."""

    z: float
    p_value: float


def two_proportion_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> ProportionTest:
    """Pooled two-proportion z-test; two-sided p-value. z > 0 when A's rate is higher."""
    for name, successes, trials in (
        ("a", successes_a, trials_a),
        ("b", successes_b, trials_b),
    ):
        if trials <= 0:
            raise DomainError(f"trials_{name}", "needs at least one trial")
        if not 0 <= successes <= trials:
            raise DomainError(f"successes_{name}", "must be between 0 and the number of trials")
    rate_a = successes_a / trials_a
    rate_b = successes_b / trials_b
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if standard_error == 0:  # both 0% or both 100%: no evidence of a difference
        return ProportionTest(z=0.0, p_value=1.0)
    z = (rate_a - rate_b) / standard_error
    return ProportionTest(z=z, p_value=math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class VariantResult:
    name: str
    successes: int  # e.g. clicks or reads
    trials: int  # e.g. impressions

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class ABVerdict:
    winner: str | None
    # "significant", "not_significant" or "not_enough_data"
    outcome: str
    z: float | None
    p_value: float | None
    rate_a: float
    rate_b: float
    lift: float | None  # winner's (or a's) rate relative to the other, minus 1
    alpha: float


def title_ab_verdict(
    a: VariantResult,
    b: VariantResult,
    alpha: float = 0.05,
    min_trials: int = 100,
    min_outcomes: int = 5,
) -> ABVerdict:
    """Judge a title test; a winner is named only when p < alpha on enough data.

    Enough data: each arm has `min_trials` trials and at least `min_outcomes` successes and
    failures (below that the normal approximation of the z-test is not trustworthy).
    """
    if not 0 < alpha < 1:
        raise DomainError("alpha", "alpha must be between 0 and 1")
    enough = all(
        v.trials >= min_trials
        and v.successes >= min_outcomes
        and v.trials - v.successes >= min_outcomes
        for v in (a, b)
    )
    if not enough:
        return ABVerdict(None, "not_enough_data", None, None, a.rate, b.rate, None, alpha)
    test = two_proportion_test(a.successes, a.trials, b.successes, b.trials)
    leader, other = (a, b) if a.rate >= b.rate else (b, a)
    lift = leader.rate / other.rate - 1 if other.rate else None
    if test.p_value < alpha:
        return ABVerdict(
            leader.name, "significant", test.z, test.p_value, a.rate, b.rate, lift, alpha
        )
    return ABVerdict(None, "not_significant", test.z, test.p_value, a.rate, b.rate, lift, alpha)
