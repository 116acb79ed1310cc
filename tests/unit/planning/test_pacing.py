from datetime import UTC, datetime, timedelta

import pytest

from shared.pacing import Pace, elapsed_fraction, expected_by, is_on_track, progress_ratio

START = datetime(2025, 3, 1, tzinfo=UTC)
END = START + timedelta(days=10)


def test_expected_by_is_linear_between_baseline_and_target():
    # 3 of 10 days elapsed: 1000 + (2000 - 1000) * 0.3
    assert expected_by(2000, 1000, START, END, START + timedelta(days=3)) == pytest.approx(1300)


def test_expected_by_is_clamped_to_the_period():
    assert expected_by(2000, 1000, START, END, START - timedelta(days=5)) == 1000
    assert expected_by(2000, 1000, START, END, END + timedelta(days=5)) == 2000


def test_expected_by_decreasing_target():
    # cost goal 10 -> 6; half way through the period we expect 8
    assert expected_by(6, 10, START, END, START + timedelta(days=5)) == pytest.approx(8)


def test_elapsed_fraction_uses_hours_not_days():
    assert elapsed_fraction(START, END, START + timedelta(hours=6)) == pytest.approx(6 / 240)


def test_progress_ratio_increasing_and_decreasing():
    assert progress_ratio(1250, 1000, 2000) == pytest.approx(0.25)
    assert progress_ratio(9, 10, 6) == pytest.approx(0.25)
    assert progress_ratio(2500, 1000, 2000) == pytest.approx(1.5)
    assert progress_ratio(900, 1000, 2000) == pytest.approx(-0.1)


def test_progress_ratio_flat_goal_means_hold_the_line():
    assert progress_ratio(100, 100, 100) == 1.0
    assert progress_ratio(99, 100, 100) == 0.0


def test_on_track_threshold_is_tolerance_times_expected_progress():
    at = START + timedelta(days=5)  # expected progress 0.5; threshold 0.45
    assert is_on_track(1450, 1000, 2000, START, END, at) is True
    assert is_on_track(1449, 1000, 2000, START, END, at) is False
    assert is_on_track(1449, 1000, 2000, START, END, at, tolerance=0.8) is True


def test_on_track_for_a_decreasing_target():
    at = START + timedelta(days=5)  # 10 -> 6: threshold 0.45 progress = value 8.2
    assert is_on_track(8.2, 10, 6, START, END, at) is True
    assert is_on_track(8.5, 10, 6, START, END, at) is False


def test_after_the_period_on_track_needs_ninety_percent_of_target():
    after = END + timedelta(days=1)
    assert is_on_track(1900, 1000, 2000, START, END, after) is True
    assert is_on_track(1890, 1000, 2000, START, END, after) is False


def test_pace_bundles_the_numbers():
    pace = Pace.compute(1200, 1000, 2000, START, END, START + timedelta(days=4))
    assert pace == Pace(current=1200, ratio=pytest.approx(0.2), expected=1400, on_track=False)
