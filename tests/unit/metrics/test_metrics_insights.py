from datetime import UTC, date, datetime, timedelta

import pytest

from services.metrics.domain.errors import DomainError
from services.metrics.domain.goals import Goal, GoalStatus, progress
from services.metrics.domain.insights import (
    Confidence,
    Insight,
    PostPerformance,
    TitleTest,
    anomalies,
    anomaly_insights,
    best_hours,
    best_hours_insights,
    channel_weight_insight,
    channel_weights,
    format_performance,
    goals_at_risk,
    performance_insight,
    title_tests,
)
from services.metrics.domain.stats import VariantResult

# Monday 2025-03-03 in UTC
MONDAY = datetime(2025, 3, 3, tzinfo=UTC)


def at(days, hour):
    return MONDAY + timedelta(days=days, hours=hour)


def test_best_hours_are_in_the_workspace_zone():
    posts = [
        # Sunday 23:00 UTC = Monday 07:00 in Shanghai
        (at(6, 23), 50),
        (at(13, 23), 70),
        (at(20, 23), 60),
        # Monday 01:00 UTC = Monday 09:00 in Shanghai
        (at(0, 1), 10),
        (at(7, 1), 20),
        (at(14, 1), 30),
        (at(21, 1), 40),
        # a single Friday post: below the minimum sample
        (at(4, 3), 999),
    ]
    slots = best_hours(posts, "Asia/Shanghai", min_sample=2)
    assert [(s.weekday, s.hour) for s in slots] == [(0, 7), (0, 9)]
    assert slots[0].median == 60 and slots[0].mean == 60 and slots[0].n == 3
    assert slots[1].median == 25 and slots[1].n == 4
    assert slots[0].confidence is Confidence.LOW
    assert slots[1].confidence is Confidence.MEDIUM
    # the same posts read in UTC land on other slots
    utc = best_hours(posts, "UTC", min_sample=2)
    assert {(s.weekday, s.hour) for s in utc} == {(6, 23), (0, 1)}


def test_best_hours_refuses_unknown_zone_and_naive_times():
    with pytest.raises(DomainError):
        best_hours([], "Mars/Olympus")
    with pytest.raises(DomainError):
        best_hours([(datetime(2025, 1, 1, 9), 1.0)], "UTC")


def test_best_hours_insight_per_channel():
    posts = [PostPerformance(f"p{i}", "weibo", at(7 * i, 12), 10 + i) for i in range(3)]
    insights = best_hours_insights(posts, "Asia/Shanghai", min_sample=3)
    assert len(insights) == 1
    assert insights[0].scope == {"channel": "weibo", "account_id": None}
    assert "Mon 20:00" in insights[0].recommendation
    assert insights[0].evidence["slots"][0]["n"] == 3


def test_insight_key_depends_on_kind_and_scope_only():
    a = Insight("best_hours", {"channel": "weibo", "account_id": "a"}, "x", {}, Confidence.LOW)
    b = Insight(
        "best_hours", {"account_id": "a", "channel": "weibo"}, "y", {"n": 1}, Confidence.HIGH
    )
    c = Insight("best_hours", {"channel": "wechat_mp", "account_id": "a"}, "x", {}, Confidence.LOW)
    assert a.key == b.key
    assert a.key != c.key
    assert a.as_dict()["key"] == a.key


def perf(i, channel="weibo", fmt="article", result=10.0, effort=None):
    return PostPerformance(f"p{i}", channel, at(i, 9), result, format=fmt, effort_hours=effort)


def test_format_performance_per_post_and_per_effort_hour():
    posts = [
        *(perf(i, fmt="video", result=100, effort=10) for i in range(3)),
        *(perf(10 + i, fmt="article", result=40, effort=2) for i in range(3)),
        perf(20, fmt=None, result=1000),
    ]
    groups = {g.value: g for g in format_performance(posts)}
    assert set(groups) == {"video", "article"}
    assert groups["video"].per_post == 100 and groups["video"].per_effort_hour == 10
    assert groups["article"].per_post == 40 and groups["article"].per_effort_hour == 20
    insight = performance_insight("format", list(groups.values()), min_sample=3)
    assert insight is not None
    # per effort hour, articles win although videos get more per post
    assert insight.evidence["measure"] == "per_effort_hour"
    assert "'article' (20.0 per effort hour)" in insight.recommendation
    assert performance_insight("format", list(groups.values()), min_sample=4) is None


def test_channel_weights_compare_share_of_results_with_share_of_posts():
    posts = [
        *(perf(i, channel="weibo", result=10) for i in range(6)),
        *(perf(10 + i, channel="wechat_mp", result=60) for i in range(2)),
        *(perf(20 + i, channel="douyin", result=0) for i in range(2)),
    ]
    weights = {w.channel: w for w in channel_weights(posts)}
    assert weights["wechat_mp"].share_of_posts == pytest.approx(0.2)
    assert weights["wechat_mp"].share_of_results == pytest.approx(120 / 180)
    assert weights["wechat_mp"].weight_ratio == pytest.approx((120 / 180) / 0.2)
    assert weights["douyin"].weight_ratio == 0
    insight = channel_weight_insight(list(weights.values()), min_posts=2)
    assert insight is not None
    assert insight.recommendation == (
        "Rebalance channels: post more on wechat_mp; less on weibo, douyin."
    )
    assert channel_weights([perf(1, result=0)]) == []


def test_title_tests_name_a_winner_only_when_significant():
    tests = [
        type_test("item-1", VariantResult("Calm", 90, 1000), VariantResult("Bold", 120, 1000)),
        type_test("item-2", VariantResult("A", 100, 1000), VariantResult("B", 105, 1000)),
        type_test("item-3", VariantResult("A", 5, 20), VariantResult("B", 1, 20)),
    ]
    bold, even, thin = title_tests(tests)
    assert bold.evidence["winner"] == "Bold"
    assert bold.evidence["p_value"] == pytest.approx(0.02866, abs=1e-4)
    assert bold.scope == {"test_id": "item-1"}
    assert even.evidence["winner"] is None and even.evidence["outcome"] == "not_significant"
    assert thin.evidence["outcome"] == "not_enough_data"


def test_title_tests_correct_alpha_for_more_variants():
    three = type_test(
        "item-4",
        VariantResult("A", 120, 1000),
        VariantResult("B", 90, 1000),
        VariantResult("C", 80, 1000),
    )
    (insight,) = title_tests([three])
    # p = 0.0287 is below 0.05 but not below 0.05 / 2
    assert insight.evidence["alpha"] == 0.025
    assert insight.evidence["winner"] is None


def type_test(test_id, *variants):
    return TitleTest(test_id, variants)


def test_goals_at_risk():
    start, end = MONDAY, MONDAY + timedelta(days=30)
    now = start + timedelta(days=20)
    behind = Goal("g1", "reads", 3000, start, end, name="Spring reads")
    ahead = Goal("g2", "reads", 3000, start, end)
    finished = Goal("g3", "reads", 3000, start - timedelta(days=60), start - timedelta(days=30))
    statuses = [
        GoalStatus(behind, progress(behind, 1000, now)),
        GoalStatus(ahead, progress(ahead, 2500, now)),
        GoalStatus(finished, progress(finished, 10, now)),
    ]
    (risk,) = goals_at_risk(statuses, now)
    assert risk.scope == {"goal_id": "g1"}
    assert risk.evidence["expected"] == pytest.approx(2000)
    assert risk.evidence["needed_per_day"] == pytest.approx(200)
    assert risk.confidence is Confidence.HIGH
    assert "Spring reads" in risk.recommendation


def test_anomalies_find_drops_and_spikes():
    start = date(2025, 3, 1)
    values = [100, 104, 98, 101, 97, 103, 99, 100, 20, 102, 101, 400, 99]
    series = [(start + timedelta(days=i), v) for i, v in enumerate(values)]
    found = anomalies(series)
    assert [(a.day.day, a.direction) for a in found] == [(9, "drop"), (12, "spike")]
    assert found[0].baseline_median == 100
    insights = anomaly_insights("reads", {"channel": "weibo"}, found)
    assert insights[0].scope == {"channel": "weibo", "metric": "reads", "day": "2025-03-09"}
    assert "fell to 20" in insights[0].recommendation


def test_anomalies_ignore_noise_short_history_and_tiny_moves_on_flat_series():
    start = date(2025, 3, 1)
    noisy = [100, 104, 98, 101, 97, 103, 99, 100, 110, 92]
    assert anomalies([(start + timedelta(days=i), v) for i, v in enumerate(noisy)]) == []
    flat = [50] * 10 + [51]
    assert anomalies([(start + timedelta(days=i), v) for i, v in enumerate(flat)]) == []
    short = [100, 100, 5]
    assert anomalies([(start + timedelta(days=i), v) for i, v in enumerate(short)]) == []
