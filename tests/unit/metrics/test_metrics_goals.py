from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.domain.errors import DomainError
from services.metrics.domain.goals import (
    Goal,
    GoalScope,
    Observation,
    goal_value,
    progress,
    should_emit,
)

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
ANY = GoalScope()


def obs(series, metric, value, day, channel="weibo", campaign=None, account=None):
    return Observation(
        series, metric, value, START + timedelta(days=day), channel, campaign, account
    )


def test_counter_goal_sums_increases_over_the_period():
    observations = [
        obs("old-post", "reads", 100, -3),  # before the period: not counted
        obs("old-post", "reads", 150, 2),
        obs("old-post", "reads", 170, 5),
        obs("new-post", "reads", 40, 10),  # published in the period: counts from zero
        obs("new-post", "reads", 90, 12),
        obs("new-post", "reads", 500, 40),  # after the period: not counted
    ]
    assert goal_value("reads", ANY, START, END, observations) == (170 - 100) + 90


def test_scope_filters_channel_and_campaign():
    observations = [
        obs("a", "reads", 10, 1, channel="weibo", campaign="spring"),
        obs("b", "reads", 20, 1, channel="wechat_mp", campaign="spring"),
        obs("c", "reads", 40, 1, channel="weibo", campaign=None),
    ]
    assert goal_value("reads", GoalScope(channel="weibo"), START, END, observations) == 50
    assert goal_value("reads", GoalScope(campaign_id="spring"), START, END, observations) == 30
    assert goal_value("reads", GoalScope(channel="x"), START, END, observations) == 0


def test_followers_gauge_takes_the_last_level_per_account():
    observations = [
        obs("acct-1", "followers", 1000, 1),
        obs("acct-1", "followers", 1200, 20),
        obs("acct-1", "followers", 1300, 35),  # after the period
        obs("acct-2", "followers", 500, -2),  # last known level, from before the period
    ]
    assert goal_value("followers", ANY, START, END, observations) == 1700
    assert goal_value("followers", ANY, START, END, []) is None


def test_rates_are_ratios_of_sums_not_means_of_ratios():
    observations = [
        obs("p1", "likes", 10, 1),
        obs("p1", "impressions", 100, 1),
        obs("p2", "likes", 10, 1),
        obs("p2", "comments", 30, 1),
        obs("p2", "impressions", 900, 1),
        obs("p1", "clicks", 5, 1),
    ]
    # (10 + 10 + 30) / 1000 (a mean of ratios would say (0.1 + 0.0444) / 2)
    assert goal_value("engagement_rate", ANY, START, END, observations) == pytest.approx(0.05)
    assert goal_value("engagements", ANY, START, END, observations) == 50
    assert goal_value("ctr", ANY, START, END, observations) == pytest.approx(5 / 1000)
    assert goal_value("ctr", ANY, START, END, observations[:1]) is None


def test_goal_value_refuses_unknown_metric_and_empty_period():
    with pytest.raises(DomainError):
        goal_value("karma", ANY, START, END, [])
    with pytest.raises(DomainError):
        goal_value("reads", ANY, END, START, [])


def test_progress_uses_linear_pace():
    goal = Goal("g1", "reads", target=1000, period_start=START, period_end=END)
    halfway = START + (END - START) / 2
    on_track = progress(goal, 480, halfway)
    assert on_track.ratio == pytest.approx(0.48)
    assert on_track.expected == pytest.approx(500)
    assert on_track.on_track  # 0.48 >= 0.9 * 0.5
    behind = progress(goal, 400, halfway)
    assert not behind.on_track
    unknown = progress(Goal("g2", "followers", 2000, START, END, baseline=1500), None, halfway)
    assert unknown.current == 1500 and unknown.ratio == 0


def test_should_emit_debounces():
    now = START
    assert should_emit(None, 5, None, now)
    assert not should_emit(5, 5, now - timedelta(hours=1), now)
    assert not should_emit(5, 9, now - timedelta(seconds=10), now, min_interval_s=60)
    assert should_emit(5, 9, now - timedelta(seconds=61), now, min_interval_s=60)
    assert not should_emit(5, 9, now - timedelta(hours=1), now, min_change=10)
    assert should_emit(5, 15, now - timedelta(hours=1), now, min_change=10)
    # an on_track flip goes out even below min_change, but still after the interval
    assert should_emit(5, 6, now - timedelta(hours=1), now, min_change=10, on_track_changed=True)
    assert not should_emit(5, 6, now, now, min_change=10, on_track_changed=True)
