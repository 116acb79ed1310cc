from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.domain.diagnosis import (
    Cause,
    DiagnosisConfig,
    PostSnapshot,
    Severity,
    diagnose,
)

PUBLISHED = datetime(2025, 3, 20, 9, 0, tzinfo=UTC)
NORMAL = {"impressions": 1000, "clicks": 50, "likes": 40, "comments": 10, "follows_gained": 10}


def snap(pid, values, days_before=1, channel="weibo", fmt="article", checkpoint="24h"):
    return PostSnapshot(
        pid, channel, fmt, PUBLISHED - timedelta(days=days_before), checkpoint, values
    )


def peers(n=5, **overrides):
    return [snap(f"peer-{i}", {**NORMAL, **overrides}, days_before=i + 1) for i in range(n)]


def by_cause(findings):
    return {(d.cause, d.metric): d for d in findings}


def test_a_normal_post_has_no_findings():
    post = snap("p", NORMAL, days_before=0)
    assert diagnose(post, peers()) == []


def test_low_impressions_points_to_distribution_or_timing():
    post = snap(
        "p", {**NORMAL, "impressions": 200, "clicks": 10, "likes": 8, "comments": 2}, days_before=0
    )
    found = by_cause(diagnose(post, peers()))
    low = found[(Cause.DISTRIBUTION_OR_TIMING, "impressions")]
    assert low.value == 200 and low.baseline_median == 1000
    assert low.ratio == pytest.approx(0.2) and low.sample_size == 5
    assert low.severity is Severity.HIGH
    # rates are normal (same ctr and engagement rate), only exposure is low
    assert (Cause.TITLE_OR_COVER, "ctr") not in found


def test_low_ctr_points_to_title_and_low_engagement_to_topic():
    post = snap("p", {**NORMAL, "clicks": 20, "likes": 12, "comments": 3}, days_before=0)
    found = by_cause(diagnose(post, peers()))
    assert found[(Cause.TITLE_OR_COVER, "ctr")].ratio == pytest.approx(0.4)
    assert found[(Cause.TITLE_OR_COVER, "ctr")].severity is Severity.MEDIUM
    assert found[(Cause.TOPIC_OR_CONTENT, "engagement_rate")].ratio == pytest.approx(0.3)
    assert "title" in found[(Cause.TITLE_OR_COVER, "ctr")].suggestion


def test_low_follows_points_to_call_to_action():
    post = snap("p", {**NORMAL, "follows_gained": 5, "conversions": 0}, days_before=0)
    findings = diagnose(post, peers(conversions=4))
    found = by_cause(findings)
    assert found[(Cause.CALL_TO_ACTION, "follows_gained")].severity is Severity.LOW
    assert found[(Cause.CALL_TO_ACTION, "conversions")].ratio == 0


def test_threshold_is_configurable():
    post = snap("p", {**NORMAL, "follows_gained": 7}, days_before=0)
    assert diagnose(post, peers()) == []
    strict = diagnose(post, peers(), DiagnosisConfig(low_ratio=0.8))
    assert [(d.cause, d.metric) for d in strict] == [(Cause.CALL_TO_ACTION, "follows_gained")]


def test_not_enough_data_when_baseline_is_thin():
    post = snap("p", {"impressions": 10, "likes": 1}, days_before=0)
    others = [
        *peers(4),
        snap("other-channel", NORMAL, channel="wechat_mp"),
        snap("other-format", NORMAL, fmt="video"),
        snap("too-old", NORMAL, days_before=31),
        snap("other-checkpoint", NORMAL, checkpoint="72h"),
        snap("later", NORMAL, days_before=-1),
    ]
    findings = diagnose(post, others)
    assert {d.cause for d in findings} == {Cause.NOT_ENOUGH_DATA}
    assert {d.metric for d in findings} == {"impressions", "engagement_rate"}
    assert all(d.sample_size == 4 and d.baseline_median is None for d in findings)


def test_only_24h_and_72h_are_diagnosed():
    post = snap("p", {**NORMAL, "impressions": 10}, days_before=0, checkpoint="6h")
    assert diagnose(post, peers()) == []
    post_72 = snap("p", {**NORMAL, "impressions": 10}, days_before=0, checkpoint="72h")
    peers_72 = [snap(f"q{i}", NORMAL, days_before=i + 1, checkpoint="72h") for i in range(5)]
    assert diagnose(post_72, peers_72)[0].cause is Cause.DISTRIBUTION_OR_TIMING
