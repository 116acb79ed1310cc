from datetime import UTC, datetime, timedelta

import pytest

from services.planning.domain.errors import DomainError
from services.planning.domain.goals import GoalSnapshot, goals_at_risk
from services.planning.domain.insights import Insight
from services.planning.domain.strategy import Persona, Pillar, pillar_targets, validate_pillars
from services.planning.domain.suggestions import SuggestionKind, suggest_next_period

NOW = datetime(2025, 6, 30, tzinfo=UTC)

PILLARS = [Pillar("product", 0.4), Pillar("industry", 0.3), Pillar("culture", 0.3)]


def _by_kind(suggestions, kind):
    return [s for s in suggestions if s.kind is kind]


def test_under_and_over_served_pillars_with_evidence():
    shares = {"product": 0.6, "industry": 0.1, "culture": 0.28}
    out = suggest_next_period(PILLARS, shares, [], NOW)
    assert [s.kind for s in out] == [
        SuggestionKind.UNDER_SERVED_PILLAR,
        SuggestionKind.OVER_SERVED_PILLAR,
    ]
    under, over = out
    assert under.title == "Publish more on 'industry'"
    assert under.evidence == {
        "pillar": "industry",
        "target_share": 0.3,
        "actual_share": 0.1,
        "gap": 0.2,
    }
    assert "'industry' was 10% of output against a 30% target" in under.recommendation
    assert "about 20% more" in under.recommendation
    assert over.title == "Ease off 'product'"
    assert over.evidence["gap"] == pytest.approx(-0.2)


def test_pillar_with_no_output_counts_as_zero_share():
    out = suggest_next_period([Pillar("events", 0.2)], {}, [], NOW)
    assert out[0].evidence["actual_share"] == 0.0
    assert out[0].evidence["gap"] == 0.2


def test_best_and_weak_formats_need_enough_samples():
    insights = [
        Insight(
            "format_performance",
            evidence={
                "items": [
                    {"format": "short_video", "index": 1.4, "samples": 12, "metric": "engagement"},
                    {"format": "live", "index": 2.5, "samples": 2},
                    {"format": "gif", "index": 0.6, "samples": 9},
                    {"format": "article", "index": 1.0, "samples": 30},
                ]
            },
            generated_at=NOW - timedelta(days=1),
        )
    ]
    out = suggest_next_period([], {}, insights, NOW)
    assert [(s.kind, s.evidence["format"]) for s in out] == [
        (SuggestionKind.BEST_FORMAT, "short_video"),
        (SuggestionKind.WEAK_FORMAT, "gif"),
    ]
    assert out[0].evidence == {
        "format": "short_video",
        "index": 1.4,
        "samples": 12,
        "metric": "engagement",
    }
    assert "engagement index 1.4 over 12 posts" in out[0].recommendation


def test_topics_to_repeat_or_drop():
    insights = [
        Insight("topic_performance", evidence={"topic": "behind the scenes", "index": 1.5}),
        Insight("topic_performance", evidence={"topic": "press releases", "index": 0.5}),
        Insight("topic_performance", evidence={"topic": "tips", "index": 1.0}),
    ]
    out = suggest_next_period([], {}, insights, NOW)
    assert [(s.kind, s.evidence["topic"]) for s in out] == [
        (SuggestionKind.REPEAT_TOPIC, "behind the scenes"),
        (SuggestionKind.DROP_TOPIC, "press releases"),
    ]


def test_best_hours_and_channel_weights_latest_per_channel():
    insights = [
        Insight(
            "best_hours",
            evidence={"hours": [9], "channel": "weibo"},
            generated_at=NOW - timedelta(days=9),
        ),
        Insight(
            "best_hours",
            evidence={"hours": [20, 12], "channel": "weibo", "samples": 40},
            generated_at=NOW - timedelta(days=2),
        ),
        Insight("channel_weights", evidence={"weights": {"weibo": 0.7, "douyin": 1.3}}),
    ]
    out = suggest_next_period([], {}, insights, NOW)
    hours = _by_kind(out, SuggestionKind.BEST_HOURS)
    assert [s.title for s in hours] == ["Publish on weibo around 20:00, 12:00"]
    assert hours[0].evidence["samples"] == 40
    channels = _by_kind(out, SuggestionKind.CHANNEL_WEIGHTS)
    assert channels[0].title == "Shift effort toward douyin"
    assert "douyin 1.3, weibo 0.7" in channels[0].recommendation


def test_stale_insights_are_ignored():
    old = Insight(
        "format_performance",
        evidence={"format": "short_video", "index": 2.0},
        generated_at=NOW - timedelta(days=45),
    )
    assert suggest_next_period([], {}, [old], NOW) == []


def test_goals_at_risk_come_first_with_their_numbers():
    goal = GoalSnapshot(
        id="g1",
        name="Reads",
        metric="reads",
        target=2000,
        baseline=1000,
        current=1100,
        period_start=NOW - timedelta(days=5),
        period_end=NOW + timedelta(days=5),
    )
    relayed = Insight(
        "goal_at_risk",
        "Boost conversions",
        {"goal_id": "g2", "metric": "conversions", "ratio": 0.1},
    )
    duplicate = Insight("goal_at_risk", "dup", {"goal_id": "g1"})
    out = suggest_next_period(
        PILLARS,
        {"product": 0.4, "industry": 0.3, "culture": 0.3},
        [relayed, duplicate],
        NOW,
        goals_at_risk([goal], NOW),
    )
    assert [s.kind for s in out] == [SuggestionKind.GOAL_AT_RISK] * 2
    ours, theirs = out
    assert ours.evidence["goal_id"] == "g1"
    assert ours.evidence["ratio"] == pytest.approx(0.1)
    assert ours.evidence["expected_ratio"] == pytest.approx(0.5)
    assert ours.evidence["expected_value"] == pytest.approx(1500)
    assert theirs.title == "Goal 'conversions' is behind pace"
    assert theirs.recommendation == "Boost conversions"


def test_pillar_validation():
    assert pillar_targets(validate_pillars(PILLARS)) == {
        "product": 0.4,
        "industry": 0.3,
        "culture": 0.3,
    }
    with pytest.raises(DomainError) as err:
        validate_pillars([Pillar("a", 0.7), Pillar("b", 0.4)])
    assert err.value.field == "pillars" and "110%" in err.value.message
    with pytest.raises(DomainError) as err:
        validate_pillars([Pillar("a", 0.2), Pillar("A ", 0.2)])
    assert err.value.field == "pillars[1].name"
    with pytest.raises(DomainError) as err:
        validate_pillars([Pillar("a", -0.1)])
    assert err.value.field == "pillars[0].target_share"


def test_persona_hours():
    assert Persona("Student", active_hours=(12, 21)).active_hours == (12, 21)
    with pytest.raises(DomainError):
        Persona("Night owl", active_hours=(24,))
