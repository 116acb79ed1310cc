from datetime import UTC, datetime

from services.planning.domain.insights import Insight, latest_per_scope


def test_from_event_reads_the_metrics_insight_shape():
    data = {
        "key": "abc",
        "kind": "best_hours",
        "scope": {"channel": "weibo", "account_id": "a1"},
        "recommendation": "Schedule weibo posts at Tue 20:00 (Asia/Shanghai).",
        "evidence": {"timezone": "Asia/Shanghai", "slots": [], "posts": 12},
        "confidence": "medium",
    }
    at = datetime(2025, 6, 1, tzinfo=UTC)
    insight = Insight.from_event(data, at)
    assert insight.kind == "best_hours"
    assert insight.scope == {"channel": "weibo", "account_id": "a1"}
    assert insight.evidence["posts"] == 12
    assert insight.confidence == "medium"
    assert insight.generated_at == at


def test_from_event_tolerates_missing_or_malformed_fields():
    insight = Insight.from_event({"kind": "anomaly", "scope": "oops", "evidence": None})
    assert (insight.scope, insight.evidence, insight.recommendation) == ({}, {}, "")


def test_latest_per_scope_keeps_the_newest_of_each_kind_and_scope():
    old = Insight(
        "best_hours",
        "old",
        scope={"channel": "weibo"},
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    new = Insight(
        "best_hours",
        "new",
        scope={"channel": "weibo"},
        generated_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    other = Insight("best_hours", "other", scope={"channel": "wechat_mp"})
    kept = latest_per_scope([new, other, old])
    assert sorted(i.recommendation for i in kept) == ["new", "other"]
