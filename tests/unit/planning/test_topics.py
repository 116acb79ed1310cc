from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.insights import (
    Insight,
    Performance,
    PerformanceEvidence,
    performance_from_insights,
)
from services.planning.domain.topics import (
    Assignment,
    ScoreWeights,
    TopicForScoring,
    TopicStatus,
    Vote,
    VoteTally,
    check_capacity,
    output_shares,
    rank_topics,
    reached_by,
    score_topic,
    tally_votes,
    transition,
    validate_format,
    validate_hot_topic,
    validate_priority,
)

NOW = datetime(2025, 6, 4, 12, tzinfo=UTC)  # a Wednesday


# --- statuses


def test_happy_path_through_the_statuses():
    status = TopicStatus.IDEA
    for action, expected in [
        ("approve", "approved"),
        ("start_production", "in_production"),
        ("publish", "published"),
    ]:
        status = transition(status, action)
        assert status == expected


@pytest.mark.parametrize("status", ["idea", "approved", "in_production"])
def test_drop_from_any_open_status(status):
    assert transition(status, "drop") is TopicStatus.DROPPED


def test_approving_a_dropped_topic_is_a_conflict():
    with pytest.raises(InvalidTransition) as err:
        transition("dropped", "approve")
    assert (err.value.status, err.value.action) == ("dropped", "approve")
    assert err.value.message == "cannot approve a topic that is dropped"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("published", "drop"),
        ("idea", "publish"),
        ("idea", "start_production"),
        ("approved", "approve"),
        ("published", "approve"),
    ],
)
def test_forbidden_transitions(status, action):
    with pytest.raises(InvalidTransition):
        transition(status, action)


def test_publish_is_accepted_straight_from_approved():
    assert transition("approved", "publish") is TopicStatus.PUBLISHED


def test_reached_by_recognises_a_redelivered_event():
    assert reached_by("published", "publish") is True
    assert reached_by("in_production", "publish") is False


# --- validation


def test_unknown_format_lists_the_allowed_ones():
    assert validate_format(" Short_Video ") == "short_video"
    with pytest.raises(DomainError) as err:
        validate_format("hologram")
    assert err.value.field == "format"
    assert "article" in err.value.message and "h5" in err.value.message


def test_priority_bounds():
    assert validate_priority(5) == 5
    for bad in (0, 6, True):
        with pytest.raises(DomainError) as err:
            validate_priority(bad)
        assert err.value.field == "priority"


def test_hot_deadline_rules():
    validate_hot_topic(True, NOW + timedelta(hours=1), NOW)
    with pytest.raises(DomainError, match="future"):
        validate_hot_topic(True, NOW - timedelta(hours=1), NOW)
    with pytest.raises(DomainError, match="hot topic"):
        validate_hot_topic(False, NOW + timedelta(hours=1), NOW)


# --- votes


def test_one_vote_per_member_last_one_wins():
    tally = tally_votes([Vote("ana", 1), Vote("bo", 1), Vote("ana", -1), Vote("cy", -1)])
    assert tally == VoteTally(up=1, down=2)
    assert tally.net == -1


def test_vote_value_is_plus_or_minus_one():
    with pytest.raises(DomainError):
        Vote("ana", 2)


# --- capacity


def _due(day, hour=10):
    return datetime(2025, 6, day, hour, tzinfo=UTC)


def test_capacity_counts_the_same_member_and_local_week():
    existing = [
        Assignment("t1", "ana", _due(2)),  # Monday, same week
        Assignment("t2", "ana", _due(6), effort=2),  # Friday, same week
        Assignment("t3", "ana", _due(9)),  # next week
        Assignment("t4", "bo", _due(3)),  # someone else
    ]
    result = check_capacity(5, existing, Assignment("t9", "ana", _due(4)))
    assert (result.ok, result.load, result.capacity, result.warning) == (True, 4, 5, None)
    assert result.week_start.isoformat() == "2025-06-02"


def test_capacity_exceeded_is_not_ok_with_a_warning():
    existing = [Assignment(f"t{i}", "ana", _due(3)) for i in range(3)]
    result = check_capacity(3, existing, Assignment("new", "ana", _due(5)))
    assert result.ok is False
    assert result.load == 4
    assert result.warning == (
        "ana would have 4 due in the week of 2025-06-02, over a weekly capacity of 3"
    )


def test_capacity_full_is_ok_with_a_warning():
    existing = [Assignment("t1", "ana", _due(3))]
    result = check_capacity(2, existing, Assignment("new", "ana", _due(5)))
    assert result.ok is True and result.load == 2
    assert "full capacity" in result.warning


def test_reassigning_the_same_topic_does_not_count_twice():
    existing = [Assignment("t1", "ana", _due(3))]
    result = check_capacity(1, existing, Assignment("t1", "ana", _due(4)))
    assert (result.ok, result.load) == (True, 1)


def test_capacity_week_is_the_workspace_local_week():
    # Sunday 2025-06-08 18:00 UTC is Monday 02:00 in Shanghai: the next local week.
    existing = [Assignment("t1", "ana", _due(3))]
    sunday_evening = Assignment("new", "ana", datetime(2025, 6, 8, 18, tzinfo=UTC))
    in_utc = check_capacity(1, existing, sunday_evening)
    in_shanghai = check_capacity(1, existing, sunday_evening, ZoneInfo("Asia/Shanghai"))
    assert (in_utc.ok, in_utc.load) == (False, 2)
    assert (in_shanghai.ok, in_shanghai.load) == (True, 1)
    assert in_shanghai.week_start.isoformat() == "2025-06-09"


# --- score


def _topic(**kw):
    fields = dict(id="t1", title="Launch recap", format="short_video", pillar="product")
    fields.update(kw)
    return TopicForScoring(**fields)


def _parts(score):
    return {p.name: p for p in score.parts}


PERFORMANCE = Performance(
    formats={"short_video": PerformanceEvidence("short_video", 1.4, 12)},
    pillars={"product": PerformanceEvidence("product", 0.8, 5)},
)


def test_score_parts_values_weights_and_reasons():
    topic = _topic(
        priority=4,
        is_hot=True,
        hot_deadline=NOW + timedelta(hours=96),
        votes=VoteTally(up=3, down=1),
    )
    score = score_topic(topic, {"product": 0.1}, {"product": 0.4}, PERFORMANCE, NOW)
    parts = _parts(score)
    assert [p.name for p in score.parts] == [
        "priority",
        "pillar_gap",
        "performance",
        "urgency",
        "votes",
    ]
    assert parts["priority"].value == pytest.approx(0.75)
    assert parts["priority"].reason == "priority 4 of 5"
    # 0.5 + (0.4 - 0.1) / 0.8
    assert parts["pillar_gap"].value == pytest.approx(0.875)
    assert parts["pillar_gap"].reason == (
        "pillar 'product' is 10% of output against a 40% target (under-served)"
    )
    # mean of 1.4 and 0.8 = 1.1, halved
    assert parts["performance"].value == pytest.approx(0.55)
    assert parts["performance"].reason == (
        "format 'short_video' does 1.40x the workspace average (results per post, 12 posts); "
        "pillar 'product' does 0.80x the workspace average (results per post, 5 posts)"
    )
    # 96 h left: 1 - (96 - 24) / 144
    assert parts["urgency"].value == pytest.approx(0.5)
    assert parts["urgency"].reason == "hot topic, deadline in 96 hours"
    # net +2: 0.5 + 2 / 10
    assert parts["votes"].value == pytest.approx(0.7)
    assert parts["votes"].reason == "3 for, 1 against (net +2)"
    # 0.75*30 + 0.875*25 + 0.55*20 + 0.5*15 + 0.7*10
    assert score.total == pytest.approx(69.9)
    assert parts["priority"].points == 22.5


def test_score_with_no_data_is_neutral_and_says_so():
    score = score_topic(_topic(pillar=None), {}, {}, Performance(), NOW)
    parts = _parts(score)
    assert parts["pillar_gap"].value == 0.5 and "neutral" in parts["pillar_gap"].reason
    assert parts["performance"].value == 0.5 and "no performance data" in (
        parts["performance"].reason
    )
    assert parts["urgency"].value == 0.0 and parts["urgency"].reason == "not a hot topic"
    assert parts["votes"].value == 0.5
    # priority 3 -> 0.5*30, +12.5 +10 +0 +5
    assert score.total == pytest.approx(42.5)


def test_score_bounds():
    best = _topic(
        priority=5,
        is_hot=True,
        hot_deadline=NOW + timedelta(hours=2),
        votes=VoteTally(up=9),
    )
    perf = Performance(formats={"short_video": PerformanceEvidence("short_video", 3.0)})
    assert score_topic(best, {}, {"product": 0.3}, perf, NOW).total == 100.0
    worst = _topic(
        priority=1,
        is_hot=True,
        hot_deadline=NOW - timedelta(hours=2),
        votes=VoteTally(down=9),
    )
    perf = Performance(formats={"short_video": PerformanceEvidence("short_video", 0.0)})
    assert score_topic(worst, {"product": 0.9}, {"product": 0.3}, perf, NOW).total == 0.0


def test_over_served_pillar_scores_below_neutral():
    part = _parts(score_topic(_topic(), {"product": 0.45}, {"product": 0.3}, Performance(), NOW))
    assert part["pillar_gap"].value == pytest.approx(0.25)
    assert part["pillar_gap"].reason.endswith("(over-served)")


def test_urgency_is_zero_a_week_out_and_full_within_a_day():
    far = _topic(is_hot=True, hot_deadline=NOW + timedelta(days=8))
    near = _topic(is_hot=True, hot_deadline=NOW + timedelta(hours=20))
    assert _parts(score_topic(far, {}, {}, Performance(), NOW))["urgency"].value == 0.0
    assert _parts(score_topic(near, {}, {}, Performance(), NOW))["urgency"].value == 1.0


def test_custom_weights_must_sum_to_100():
    with pytest.raises(DomainError):
        ScoreWeights(priority=50)
    weights = ScoreWeights(priority=100, pillar_gap=0, performance=0, urgency=0, votes=0)
    assert score_topic(_topic(priority=5), {}, {}, Performance(), NOW, weights).total == 100.0


def _groups_insight(kind, groups, measure="per_post", at=None):
    return Insight(
        kind,
        evidence={"measure": measure, "groups": groups},
        scope={"dimension": kind.split("_")[0]},
        generated_at=at,
    )


def test_performance_index_is_relative_to_the_pooled_average():
    newer = _groups_insight(
        "format_performance",
        [
            {"value": "short_video", "posts": 5, "per_post": 150.0},
            {"value": "article", "posts": 5, "per_post": 50.0},
            {"value": "broken", "posts": 5},  # no measure: skipped
        ],
        at=NOW - timedelta(days=1),
    )
    older = _groups_insight(
        "format_performance",
        [
            {"value": "gif", "posts": 9, "per_post": 10.0},
            {"value": "h5", "posts": 9, "per_post": 1},
        ],
        at=NOW - timedelta(days=5),
    )
    perf = performance_from_insights([newer, older])
    # pooled = (5 * 150 + 5 * 50) / 10 = 100; the newer insight replaces the older one
    assert set(perf.formats) == {"short_video", "article"}
    assert perf.formats["short_video"] == PerformanceEvidence("short_video", 1.5, 5, "per_post")
    assert perf.formats["article"].index == 0.5
    part = _parts(score_topic(_topic(), {}, {}, perf, NOW))["performance"]
    assert part.value == pytest.approx(0.75)


def test_performance_per_effort_hour_pools_by_effort():
    insight = _groups_insight(
        "pillar_performance",
        [
            {"value": "product", "posts": 4, "per_effort_hour": 20.0, "effort_hours": 10.0},
            {"value": "culture", "posts": 6, "per_effort_hour": 10.0, "effort_hours": 30.0},
        ],
        measure="per_effort_hour",
    )
    perf = performance_from_insights([insight])
    # pooled = (20 * 10 + 10 * 30) / 40 = 12.5
    assert perf.pillars["product"].index == pytest.approx(1.6)
    assert perf.pillars["culture"].index == pytest.approx(0.8)
    assert "results per effort hour, 4 posts" in perf.pillars["product"].describe("pillar")


def test_topic_performance_matches_tags():
    insight = _groups_insight(
        "topic_performance",
        [{"value": "ai", "posts": 3, "per_post": 30.0}, {"value": "x", "posts": 3, "per_post": 10}],
    )
    perf = performance_from_insights([insight])
    part = _parts(score_topic(_topic(tags=("misc", "ai")), {}, {}, perf, NOW))["performance"]
    assert part.value == pytest.approx(0.75)
    assert part.reason.startswith("topic 'ai' does 1.50x")


def test_rank_topics_is_deterministic():
    topics = [_topic(id="b"), _topic(id="a"), _topic(id="c", priority=5)]
    ranked = rank_topics(topics, {}, {}, Performance(), NOW)
    assert [t.id for t, _ in ranked] == ["c", "a", "b"]


def test_output_shares():
    assert output_shares(["a", "a", "b", None]) == {"a": 0.5, "b": 0.25}
    assert output_shares([]) == {}
