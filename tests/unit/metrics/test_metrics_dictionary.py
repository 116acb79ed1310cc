import math
from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.domain.dictionary import (
    INGESTIBLE_METRICS,
    METRICS,
    MetricKind,
    ctr,
    engagement_rate,
    engagements,
    normalise,
    normalise_detailed,
    validate_point,
    with_derived,
)
from services.metrics.domain.errors import DomainError

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def test_dictionary_describes_every_metric_with_unit_and_kind():
    assert METRICS["followers"].kind is MetricKind.GAUGE
    assert METRICS["likes"].kind is MetricKind.COUNTER
    assert METRICS["completion_rate"].kind is MetricKind.RATIO
    assert METRICS["watch_time_s"].unit == "seconds"
    assert METRICS["engagements"].derived
    assert "engagements" not in INGESTIBLE_METRICS
    assert all(d.description for d in METRICS.values())


def test_mastodon_fields_map_to_normalised_names():
    raw = {"favourites_count": 12, "reblogs_count": 3, "replies_count": 4, "id": "109", "url": "x"}
    assert normalise("mastodon", raw) == {"likes": 12.0, "shares": 3.0, "comments": 4.0}


def test_unknown_and_non_numeric_fields_are_reported_not_stored():
    result = normalise_detailed(
        "mastodon", {"favourites_count": "7", "reblogs_count": None, "content": "<p>hi</p>"}
    )
    assert result.values == {"likes": 7.0}
    assert result.ignored == {"reblogs_count": "not a number", "content": "unknown field"}


def test_wechat_weibo_and_douyin_mappings():
    assert normalise(
        "wechat_mp",
        {
            "int_page_read_count": 900,
            "int_page_read_user": 700,
            "share_count": 30,
            "add_to_fav_count": 11,
            "cumulate_user": 5000,
        },
    ) == {"reads": 900.0, "reach": 700.0, "shares": 30.0, "saves": 11.0, "followers": 5000.0}
    assert normalise("weibo", {"reposts_count": 5, "comments_count": 6, "attitudes_count": 40}) == {
        "shares": 5.0,
        "comments": 6.0,
        "likes": 40.0,
    }
    # in-app forwards and external shares are distinct actions: both are shares
    assert normalise("douyin", {"play_count": 1000, "share_count": 4, "forward_count": 6}) == {
        "views": 1000.0,
        "shares": 10.0,
    }
    assert normalise("bilibili", {"view": 50, "favorite": 2, "coin": 9})["saves"] == 2.0
    assert normalise("xiaohongshu", {"liked_count": 8, "collected_count": 3}) == {
        "likes": 8.0,
        "saves": 3.0,
    }


def test_sandbox_is_identity_and_unknown_platform_is_refused():
    assert normalise("sandbox", {"impressions": 100, "clicks": 7, "bogus": 1}) == {
        "impressions": 100.0,
        "clicks": 7.0,
    }
    with pytest.raises(DomainError) as error:
        normalise("myspace", {})
    assert error.value.field == "platform"


def test_derived_metrics():
    values = {"likes": 10, "comments": 5, "shares": 3, "saves": 2, "impressions": 400, "clicks": 8}
    assert engagements(values) == 20
    assert engagement_rate(values) == pytest.approx(0.05)
    assert ctr(values) == pytest.approx(0.02)
    derived = with_derived(values)
    assert derived["engagements"] == 20 and derived["ctr"] == pytest.approx(0.02)


def test_engagement_rate_falls_back_from_impressions_to_reach_views_reads():
    assert engagement_rate({"likes": 10, "reach": 200}) == pytest.approx(0.05)
    assert engagement_rate({"likes": 10, "impressions": 0, "views": 50}) == pytest.approx(0.2)
    assert engagement_rate({"likes": 10, "reads": 40}) == pytest.approx(0.25)


def test_derived_metrics_are_none_instead_of_dividing_by_zero():
    assert ctr({"clicks": 3, "impressions": 0}) is None
    assert ctr({"clicks": 3}) is None
    assert engagement_rate({"likes": 3, "impressions": 0}) is None
    assert engagements({"impressions": 10}) is None
    assert with_derived({"clicks": 1, "impressions": 0}) == {"clicks": 1, "impressions": 0}


def test_validate_point_accepts_a_good_point():
    assert validate_point("likes", 3, NOW - timedelta(hours=1), NOW) is None
    assert validate_point("completion_rate", 0.4, NOW, NOW) is None
    # a small clock skew is tolerated
    assert validate_point("likes", 3, NOW + timedelta(minutes=2), NOW) is None


@pytest.mark.parametrize(
    ("metric", "value", "observed_at", "field", "needle"),
    [
        ("likez", 1, NOW, "metric", "allowed: impressions"),
        ("engagements", 1, NOW, "metric", "likes, comments, shares, saves"),
        ("likes", -1, NOW, "value", "negative"),
        ("followers", -5, NOW, "value", "negative"),
        ("likes", math.nan, NOW, "value", "finite"),
        ("likes", math.inf, NOW, "value", "finite"),
        ("likes", "12", NOW, "value", "number"),
        ("likes", True, NOW, "value", "number"),
        ("completion_rate", 45, NOW, "value", "fraction"),
        ("likes", 1, NOW + timedelta(hours=1), "observed_at", "future"),
        ("likes", 1, datetime(2025, 3, 10, 11, 0), "observed_at", "offset"),
    ],
)
def test_validate_point_names_the_problem(metric, value, observed_at, field, needle):
    error = validate_point(metric, value, observed_at, NOW)
    assert error is not None
    assert error.field == field
    assert needle in error.message
