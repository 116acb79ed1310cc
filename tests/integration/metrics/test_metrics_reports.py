"""Reports in the workspace zone (JSON, CSV, HTML), diagnosis against a baseline,
competitors and the time-zone setting, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.metrics.support import (
    assert_totals_match_rollups,
    new_id,
    published,
    stats,
)

pytestmark = pytest.mark.infra

PUBLISHED = "mediaops.publisher.publication.published"
STATS = "mediaops.publisher.publication.stats_captured"
ACCOUNT_STATS = "mediaops.publisher.account.stats_captured"


async def _week_fixture(metrics) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    a, b = new_id("a"), new_id("b")
    await metrics.deliver(
        PUBLISHED,
        published(a, datetime(2026, 3, 3, 2, tzinfo=UTC), channel="weibo", title="Spring tea"),
    )
    await metrics.deliver(
        PUBLISHED, published(b, datetime(2026, 2, 24, 2, tzinfo=UTC), format="video")
    )
    for at, followers in (("2026-02-27T20:00:00+08:00", 1000), ("2026-03-06T20:00:00+08:00", 1100)):
        await metrics.deliver(
            ACCOUNT_STATS, {"account_id": "acc-1", "channel": "sandbox", "captured_at": at,
                            "followers": followers},
        )  # fmt: skip

    def p(pid: str, metric: str, value: float, at: str) -> dict:
        return {"publication_id": pid, "metric": metric, "value": value, "observed_at": at}

    async with metrics.client() as c:
        r = await c.post("/v1/points", json={"points": [
            p(b, "reads", 100, "2026-02-25T12:00:00+08:00"),
            p(b, "reads", 150, "2026-03-01T23:00:00+08:00"),   # Sunday: previous week
            p(b, "reads", 180, "2026-03-01T16:30:00+00:00"),   # Mon 00:30 Shanghai: this week
            p(a, "reads", 200, "2026-03-04T12:00:00+08:00"),
            p(a, "likes", 20, "2026-03-04T12:00:00+08:00"),
        ]})  # fmt: skip
        assert r.json()["stored"] == 5, r.text
    await metrics.settled()
    return a, b


async def test_week_report_in_shanghai_with_change_csv_and_html(metrics):
    a, _ = await _week_fixture(metrics)
    async with metrics.client("planner") as c:
        r = await c.post("/v1/competitors", json={"name": "Rival", "channel": "sandbox"})
        assert r.status_code == 403
    async with metrics.client() as c:
        r = await c.post("/v1/competitors", json={"name": "Rival", "channel": "sandbox"})
        assert r.status_code == 201, r.text
        rival = r.json()["id"]
        assert (
            await c.post("/v1/competitors", json={"name": "Rival", "channel": "sandbox"})
        ).status_code == 409
        r = await c.post(f"/v1/competitors/{rival}/points", json={"points": [
            {"metric": "followers", "value": 5000, "observed_at": "2026-02-28T12:00:00+08:00"},
            {"metric": "followers", "value": 5400, "observed_at": "2026-03-05T12:00:00+08:00"},
            {"metric": "followers", "value": -1, "observed_at": "2026-03-05T12:00:00+08:00"},
        ]})  # fmt: skip
        assert r.status_code == 202 and r.json()["stored"] == 2
        assert r.json()["errors"][0]["index"] == 2

        r = await c.get("/v1/reports", params={"period": "week", "start": "2026-03-04"})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["period"]["first_day"] == "2026-03-02"
        assert report["period"]["last_day"] == "2026-03-08"
        assert report["period"]["timezone"] == "Asia/Shanghai"
        assert report["period"]["start"] == "2026-03-01T16:00:00+00:00"
        reads = report["totals"]["reads"]
        assert (reads["current"], reads["previous"], reads["change"]) == (230, 150, 80)
        assert reads["change_pct"] == pytest.approx(53.333, rel=1e-3)
        followers = report["totals"]["followers"]
        assert (followers["current"], followers["previous"]) == (1100, 1000)
        by_channel = {e["key"]: e["metrics"] for e in report["breakdowns"]["channel"]}
        assert by_channel["weibo"]["reads"]["current"] == 200
        assert by_channel["sandbox"]["reads"] == {
            "current": 30, "previous": 150, "change": -120, "change_pct": -80.0
        }  # fmt: skip
        by_format = {
            e["key"]: e["metrics"].get("reads", {}).get("current")
            for e in report["breakdowns"]["format"]
        }
        assert by_format == {"article": 200, "video": 30, None: None}  # None: followers
        daily = {d["day"]: d.get("reads") for d in report["daily"]}
        assert daily["2026-03-02"] == 30 and daily["2026-03-04"] == 200 and len(daily) == 7
        assert [p["publication_id"] for p in report["top_posts"]] == [a]
        assert report["top_posts"][0]["primary_value"] == 20
        rival_row = report["competitors"][0]
        assert (rival_row["competitor"], rival_row["current"], rival_row["previous"]) == (
            "Rival", 5400, 5000
        )  # fmt: skip
        assert rival_row["change_pct"] == pytest.approx(8.0)
        assert rival_row["own_current"] == 1100

        r = await c.get(
            "/v1/reports", params={"period": "week", "start": "2026-03-02"},
            headers={"Accept": "text/csv"},
        )  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "# totals" in r.text and "reads,230.0,150.0,80.0" in r.text

        r = await c.get("/v1/reports", params={"start": "2026-03-02", "format": "html"})
        assert r.headers["content-type"].startswith("text/html")
        assert "<svg" in r.text and "Spring tea" in r.text and "Rival" in r.text
        r = await c.get(
            "/v1/reports", params={"start": "2026-03-02"}, headers={"Accept": "text/html"}
        )
        assert "<svg" in r.text

        r = await c.get(
            "/v1/reports", params={"period": "custom", "start": "2025-01-01", "end": "2026-03-01"}
        )
        assert r.status_code == 422 and r.json()["field"] == "end"
        r = await c.get("/v1/reports", params={"period": "year", "start": "2026-03-01"})
        assert r.status_code == 422 and r.json()["field"] == "query.period"
        r = await c.get(
            "/v1/reports", params={"period": "custom", "start": "2026-03-02", "end": "2026-03-03"}
        )
        assert r.status_code == 200 and r.json()["totals"]["reads"]["current"] == 30

        r = await c.get("/v1/reports", params={"period": "month", "start": "2026-03-15"})
        month = r.json()
        assert month["period"]["first_day"] == "2026-03-01"
        # February (Shanghai) holds b's first 100; March b's 80 more and a's 200.
        assert month["totals"]["reads"]["current"] == 280
        assert month["totals"]["reads"]["previous"] == 100


async def test_time_zone_setting_moves_days_and_rebuilds_rollups(metrics):
    await _week_fixture(metrics)
    async with metrics.client("editor") as c:
        assert (await c.put("/v1/settings", json={"timezone": "UTC"})).status_code == 403
    async with metrics.client("manager") as c:
        r = await c.put("/v1/settings", json={"timezone": "Mars/Olympus"})
        assert r.status_code == 422 and r.json()["field"] == "timezone"
        r = await c.put("/v1/settings", json={"timezone": "UTC"})
        assert r.status_code == 200 and r.json()["rollups_rebuilt"] > 0
        assert (await c.get("/v1/settings")).json() == {"timezone": "UTC"}
        report = (await c.get("/v1/reports", params={"start": "2026-03-02"})).json()
        # In UTC the 16:30Z point is on Sunday Mar 1: b had nothing this week.
        assert report["totals"]["reads"]["current"] == 200
        assert report["totals"]["reads"]["previous"] == 180
    await assert_totals_match_rollups(metrics.ctx, metrics.ws)


async def test_diagnosis_with_enough_and_with_thin_baseline(metrics):
    base = datetime(2026, 4, 20, 2, tzinfo=UTC)
    for i in range(6):
        pid = new_id("peer")
        at = base - timedelta(days=i + 1)
        await metrics.deliver(PUBLISHED, published(pid, at))
        await metrics.deliver(
            STATS,
            stats(pid, at, at + timedelta(hours=24), "24h",
                  {"impressions": 1000 + i * 10, "clicks": 50, "likes": 30}),
        )  # fmt: skip
    for i in range(2):
        pid = new_id("vpeer")
        at = base - timedelta(days=i + 1)
        await metrics.deliver(PUBLISHED, published(pid, at, format="video"))
        await metrics.deliver(
            STATS, stats(pid, at, at + timedelta(hours=24), "24h", {"impressions": 900})
        )
    weak, thin = new_id("weak"), new_id("thin")
    await metrics.deliver(PUBLISHED, published(weak, base))
    await metrics.deliver(
        STATS,
        stats(weak, base, base + timedelta(hours=24), "24h",
              {"impressions": 200, "clicks": 10, "likes": 6}),
    )  # fmt: skip
    await metrics.deliver(PUBLISHED, published(thin, base, format="video"))
    await metrics.deliver(
        STATS, stats(thin, base, base + timedelta(hours=24), "24h", {"impressions": 100})
    )
    async with metrics.client("reviewer") as c:
        body = (await c.get(f"/v1/publications/{weak}")).json()
        causes = {d["cause"]: d for d in body["diagnosis"]}
        exposure = causes["distribution_or_timing"]
        assert exposure["checkpoint"] == "24h" and exposure["metric"] == "impressions"
        assert exposure["baseline_median"] == 1025 and exposure["sample_size"] == 6
        assert exposure["ratio"] == pytest.approx(200 / 1025)
        assert exposure["severity"] == "high" and exposure["suggestion"]
        # ctr 10/200 = 5 % is the peers' 50/~1025: not low; engagement rate likewise.
        assert set(causes) == {"distribution_or_timing"}

        body = (await c.get(f"/v1/publications/{thin}")).json()
        assert [(d["cause"], d["sample_size"]) for d in body["diagnosis"]] == [
            ("not_enough_data", 2)
        ]
        assert "2 comparable video posts" in body["diagnosis"][0]["suggestion"]
