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


def _groups(kind, groups, at=None):
    return Insight(
        kind,
        evidence={"measure": "per_post", "groups": groups},
        scope={"dimension": kind.split("_")[0]},
        generated_at=at,
    )


def test_best_and_weak_formats_need_enough_samples():
    insight = _groups(
        "format_performance",
        [
            # pooled per post = (12*140 + 2*500 + 9*60 + 27*100) / 50 = 118.4
            {"value": "short_video", "posts": 12, "per_post": 140.0},
            {"value": "live", "posts": 2, "per_post": 500.0},  # too few posts to judge
            {"value": "gif", "posts": 9, "per_post": 60.0},
            {"value": "article", "posts": 27, "per_post": 100.0},
        ],
        at=NOW - timedelta(days=1),
    )
    out = suggest_next_period([], {}, [insight], NOW)
    assert [(s.kind, s.evidence["format"]) for s in out] == [
        (SuggestionKind.BEST_FORMAT, "short_video"),
        (SuggestionKind.WEAK_FORMAT, "gif"),
    ]
    assert out[0].evidence == {
        "format": "short_video",
        "index": round(140 / 118.4, 4),
        "posts": 12,
        "measure": "per_post",
    }
    assert out[0].recommendation == (
        "Format 'short_video' does 1.18x the workspace average (results per post, 12 posts); "
        "give it more slots next period."
    )
    assert out[1].evidence["index"] == round(60 / 118.4, 4)


def test_topics_and_pillars_to_repeat_or_drop():
    topics = _groups(
        "topic_performance",
        [
            {"value": "behind the scenes", "posts": 4, "per_post": 150.0},
            {"value": "press releases", "posts": 4, "per_post": 50.0},
        ],
    )
    pillars = _groups(
        "pillar_performance",
        [
            {"value": "culture", "posts": 5, "per_post": 100.0},
            {"value": "industry", "posts": 5, "per_post": 100.0},
        ],
    )
    out = suggest_next_period([], {}, [topics, pillars], NOW)
    assert [(s.kind, s.title) for s in out] == [
        (SuggestionKind.REPEAT_TOPIC, "Repeat topics like 'behind the scenes'"),
        (SuggestionKind.DROP_TOPIC, "Drop or rework 'press releases'"),
    ]
    assert out[0].evidence["index"] == 1.5
    assert out[1].evidence == {
        "topic": "press releases",
        "index": 0.5,
        "posts": 4,
        "measure": "per_post",
    }


def test_best_hours_latest_per_channel():
    def hours(labels, at):
        slots = [
            {"weekday": 0, "hour": 20, "label": label, "median": 10, "n": 5} for label in labels
        ]
        return Insight(
            "best_hours",
            "",
            {"timezone": "Asia/Shanghai", "slots": slots, "posts": 40},
            scope={"channel": "weibo", "account_id": "a1"},
            generated_at=at,
        )

    insights = [
        hours(["Mon 09:00"], NOW - timedelta(days=9)),
        hours(["Tue 20:00", "Wed 12:00"], NOW - timedelta(days=2)),
    ]
    out = suggest_next_period([], {}, insights, NOW)
    assert [s.title for s in out] == ["Publish on weibo at Tue 20:00, Wed 12:00 (Asia/Shanghai)"]
    assert out[0].evidence["posts"] == 40
    assert out[0].evidence["channel"] == "weibo"


def test_channel_weights_name_the_strongest_channel():
    insight = Insight(
        "channel_weights",
        evidence={
            "channels": [
                {"channel": "weibo", "posts": 10, "weight_ratio": 0.7},
                {"channel": "douyin", "posts": 10, "weight_ratio": 1.3},
            ]
        },
    )
    (out,) = suggest_next_period([], {}, [insight], NOW)
    assert out.kind is SuggestionKind.CHANNEL_WEIGHTS
    assert out.title == "Shift effort toward douyin"
    assert out.recommendation == "douyin returns 1.30x its share of posts in results, weibo 0.70x."


def test_stale_insights_are_ignored():
    old = _groups(
        "format_performance",
        [{"value": "a", "posts": 9, "per_post": 300.0}, {"value": "b", "posts": 9, "per_post": 1}],
        at=NOW - timedelta(days=45),
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
        {"metric": "conversions", "ratio": 0.1},
        scope={"goal_id": "g2"},
    )
    duplicate = Insight("goal_at_risk", "dup", {"metric": "reads"}, scope={"goal_id": "g1"})
    balanced = {"product": 0.4, "industry": 0.3, "culture": 0.3}
    out = suggest_next_period(
        PILLARS, balanced, [relayed, duplicate], NOW, goals_at_risk([goal], NOW)
    )
    assert [s.kind for s in out] == [SuggestionKind.GOAL_AT_RISK] * 2
    ours, theirs = out
    assert ours.evidence["goal_id"] == "g1"
    assert ours.evidence["ratio"] == pytest.approx(0.1)
    assert ours.evidence["expected_ratio"] == pytest.approx(0.5)
    assert ours.evidence["expected_value"] == pytest.approx(1500)
    assert theirs.title == "Goal 'conversions' is behind pace"
    assert theirs.recommendation == "Boost conversions"
    assert theirs.evidence == {"goal_id": "g2", "metric": "conversions", "ratio": 0.1}


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
