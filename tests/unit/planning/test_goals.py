from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.goals import (
    ALLOWED_METRICS,
    GoalSnapshot,
    GoalStatus,
    cancel_goal,
    goals_at_risk,
    next_goal_status,
    period_from_dates,
    validate_goal,
)

START = datetime(2025, 6, 1, tzinfo=UTC)
END = datetime(2025, 7, 1, tzinfo=UTC)


def _goal(**overrides):
    fields = dict(
        name="Grow followers",
        metric="followers",
        target=2000,
        baseline=1000,
        period_start=START,
        period_end=END,
    )
    fields.update(overrides)
    return validate_goal(**fields)


def test_valid_goal_is_normalised():
    spec = _goal(name="  Grow followers ", metric="Followers", target=2000, baseline=None)
    assert spec.name == "Grow followers"
    assert spec.metric == "followers"
    assert spec.baseline == 0.0
    assert spec.target == 2000.0


def test_contract_metrics_are_in_the_dictionary():
    for metric in ("followers", "reads", "views", "engagements", "engagement_rate", "conversions"):
        assert metric in ALLOWED_METRICS


def test_unknown_metric_lists_the_allowed_ones():
    with pytest.raises(DomainError) as err:
        _goal(metric="vibes")
    assert err.value.field == "metric"
    assert "'vibes'" in err.value.message
    assert "followers" in err.value.message and "engagement_rate" in err.value.message


def test_period_end_before_start_is_refused():
    with pytest.raises(DomainError) as err:
        _goal(period_start=END, period_end=START)
    assert err.value.field == "period_end"


def test_equal_period_bounds_are_refused():
    with pytest.raises(DomainError) as err:
        _goal(period_end=START)
    assert err.value.field == "period_end"


def test_negative_target_and_baseline_are_refused():
    with pytest.raises(DomainError) as err:
        _goal(target=-5)
    assert err.value.field == "target"
    assert "negative" in err.value.message
    with pytest.raises(DomainError) as err:
        _goal(baseline=-1)
    assert err.value.field == "baseline"


def test_non_finite_target_is_refused():
    with pytest.raises(DomainError) as err:
        _goal(target=float("nan"))
    assert err.value.field == "target"


def test_ratio_metric_target_is_a_fraction():
    assert _goal(metric="engagement_rate", target=0.05, baseline=0.03).target == 0.05
    with pytest.raises(DomainError) as err:
        _goal(metric="engagement_rate", target=5, baseline=3)
    assert err.value.field == "target"


def test_target_equal_to_baseline_is_refused():
    with pytest.raises(DomainError) as err:
        _goal(target=1000, baseline=1000)
    assert err.value.field == "target"


def test_naive_period_is_refused():
    with pytest.raises(DomainError) as err:
        _goal(period_start=datetime(2025, 6, 1))
    assert err.value.field == "period_start"


def test_empty_name_is_refused():
    with pytest.raises(DomainError) as err:
        _goal(name="   ")
    assert err.value.field == "name"


def test_period_from_local_dates_in_the_workspace_zone():
    start, end = period_from_dates(date(2025, 6, 1), date(2025, 6, 30), ZoneInfo("Asia/Shanghai"))
    assert start.astimezone(UTC) == datetime(2025, 5, 31, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2025, 6, 30, 16, tzinfo=UTC)


def test_status_becomes_achieved_when_target_reached_early():
    now = START + timedelta(days=3)
    common = dict(baseline=1000, target=2000, period_end=END, now=now)
    assert next_goal_status(GoalStatus.ACTIVE, current=2000, **common) is GoalStatus.ACHIEVED
    assert next_goal_status(GoalStatus.ACTIVE, current=1999, **common) is GoalStatus.ACTIVE


def test_status_becomes_missed_when_period_ended_below_target():
    common = dict(baseline=1000, target=2000, period_end=END)
    assert next_goal_status(GoalStatus.ACTIVE, current=1999, now=END, **common) is GoalStatus.MISSED
    before = END - timedelta(seconds=1)
    assert next_goal_status(GoalStatus.ACTIVE, current=1999, now=before, **common) == "active"


def test_decreasing_goal_is_achieved_when_value_falls_to_target():
    now = START + timedelta(days=3)
    common = dict(baseline=10, target=6, period_end=END, now=now)
    assert next_goal_status(GoalStatus.ACTIVE, current=6, **common) is GoalStatus.ACHIEVED
    assert next_goal_status(GoalStatus.ACTIVE, current=7, **common) is GoalStatus.ACTIVE


def test_terminal_statuses_do_not_move():
    for status in (GoalStatus.CANCELLED, GoalStatus.MISSED):
        assert (
            next_goal_status(
                status, current=5000, baseline=1000, target=2000, period_end=END, now=END
            )
            is status
        )


def test_cancel_only_an_active_goal():
    assert cancel_goal(GoalStatus.ACTIVE) is GoalStatus.CANCELLED
    with pytest.raises(InvalidTransition) as err:
        cancel_goal(GoalStatus.ACHIEVED)
    assert err.value.status == "achieved"


def _snapshot(goal_id, current, **kw):
    fields = dict(
        id=goal_id,
        name=goal_id,
        metric="reads",
        target=2000.0,
        baseline=1000.0,
        current=current,
        period_start=datetime(2025, 6, 1, tzinfo=UTC),
        period_end=datetime(2025, 6, 11, tzinfo=UTC),
    )
    fields.update(kw)
    return GoalSnapshot(**fields)


def test_goals_at_risk_selects_behind_pace_worst_first():
    now = datetime(2025, 6, 6, tzinfo=UTC)  # half way: expected ratio 0.5, threshold 0.45
    goals = [
        _snapshot("on-pace", 1500),
        _snapshot("slightly-behind", 1400),  # ratio 0.4, shortfall 0.1
        _snapshot("far-behind", 1100),  # ratio 0.1, shortfall 0.4
        _snapshot("cancelled", 1000, status=GoalStatus.CANCELLED),
        _snapshot("not-started", 1000, period_start=now + timedelta(days=1)),
        _snapshot("ended", 1000, period_end=now - timedelta(days=1)),
    ]
    risks = goals_at_risk(goals, now)
    assert [r.goal.id for r in risks] == ["far-behind", "slightly-behind"]
    assert risks[0].shortfall == pytest.approx(0.4)
    assert risks[0].expected_ratio == pytest.approx(0.5)
    assert risks[0].pace.expected == pytest.approx(1500)
    assert "10% of the way to 2000" in risks[0].reason
    assert "50% expected" in risks[0].reason
