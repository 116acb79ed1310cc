import math

import pytest

from services.metrics.domain.errors import DomainError
from services.metrics.domain.stats import (
    VariantResult,
    mad,
    median,
    robust_z,
    title_ab_verdict,
    two_proportion_test,
)


def test_median_and_mad():
    assert median([5, 1, 3]) == 3
    assert median([4, 1, 3, 2]) == 2.5
    assert mad([1, 2, 3, 4, 100]) == 1
    with pytest.raises(DomainError):
        median([])


def test_robust_z_hand_computed():
    # median 3, MAD 1 -> sigma 1.4826; (10 - 3) / 1.4826 = 4.7214
    assert robust_z(10, [1, 2, 3, 4, 5]) == pytest.approx(4.7214, abs=1e-4)
    assert robust_z(3, [1, 2, 3, 4, 5]) == 0


def test_robust_z_when_most_values_tie():
    # MAD is 0; mean absolute deviation 2/5 = 0.4 -> sigma 0.5013; (0 - 10) / 0.5013
    assert robust_z(0, [10, 10, 10, 10, 12]) == pytest.approx(-19.947, abs=1e-3)
    assert robust_z(11, [10, 10, 10]) == math.inf
    assert robust_z(10, [10, 10, 10]) == 0


def test_two_proportion_test_hand_computed():
    # pooled p = 0.105; se = sqrt(0.105 * 0.895 * 0.002) = 0.013710; z = 0.03 / se
    z, p_value = two_proportion_test(120, 1000, 90, 1000)
    assert z == pytest.approx(2.1882, abs=1e-4)
    assert p_value == pytest.approx(0.02866, abs=1e-4)
    z_reversed, p_reversed = two_proportion_test(90, 1000, 120, 1000)
    assert z_reversed == pytest.approx(-z) and p_reversed == pytest.approx(p_value)


def test_two_proportion_test_edges():
    assert two_proportion_test(0, 50, 0, 60) == (0.0, 1.0)
    with pytest.raises(DomainError):
        two_proportion_test(1, 0, 1, 10)
    with pytest.raises(DomainError):
        two_proportion_test(11, 10, 1, 10)


def test_title_verdict_names_a_winner_only_when_significant():
    verdict = title_ab_verdict(VariantResult("A", 120, 1000), VariantResult("B", 90, 1000))
    assert verdict.winner == "A" and verdict.outcome == "significant"
    assert verdict.lift == pytest.approx(120 / 90 - 1)
    # same rates, stricter alpha: no winner
    strict = title_ab_verdict(
        VariantResult("A", 120, 1000), VariantResult("B", 90, 1000), alpha=0.01
    )
    assert strict.winner is None and strict.outcome == "not_significant"
    assert strict.p_value == pytest.approx(0.02866, abs=1e-4)


def test_title_verdict_needs_a_minimum_sample():
    verdict = title_ab_verdict(VariantResult("A", 30, 50), VariantResult("B", 5, 50))
    assert verdict.outcome == "not_enough_data" and verdict.winner is None
    assert verdict.p_value is None
    assert verdict.rate_a == pytest.approx(0.6)
