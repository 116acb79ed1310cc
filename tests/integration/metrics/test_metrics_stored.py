"""What ingestion stores for reports: each post's engagements (the ranking value) and each
24h / 72h snapshot's diagnosis; a late peer makes the later posts' diagnoses stale, the
report then recomputes them (same content) and the analyst's refresh stores them again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.reporting import refresh_diagnoses
from tests.integration.metrics.support import new_id, published, rows, stats

pytestmark = pytest.mark.infra

PUBLISHED = "mediaops.publisher.publication.published"
STATS = "mediaops.publisher.publication.stats_captured"
BASE = datetime(2026, 4, 21, 2, tzinfo=UTC)  # a Tuesday


async def _findings(metrics, pid: str) -> list | None:  # type: ignore[no-untyped-def]
    found = await rows(
        metrics.ctx,
        "SELECT findings FROM metrics.checkpoint_snapshots WHERE workspace_id = :ws "
        "AND publication_id = :pid AND checkpoint = '24h'",
        ws=metrics.ws,
        pid=pid,
    )
    value = found[0][0]
    return json.loads(value) if isinstance(value, str) else value


async def _post(metrics, pid: str, at: datetime, values: dict) -> None:  # type: ignore[no-untyped-def]
    await metrics.deliver(PUBLISHED, published(pid, at))
    await metrics.deliver(STATS, stats(pid, at, at + timedelta(hours=24), "24h", values))


async def test_diagnosis_stored_forgotten_by_a_late_peer_and_stored_again(metrics):
    for i in range(5):
        at = BASE - timedelta(days=i + 1)
        await _post(metrics, new_id("peer"), at, {"impressions": 1000 + i * 10, "likes": 30})
    weak = new_id("weak")
    await _post(metrics, weak, BASE, {"impressions": 200, "likes": 6})
    await metrics.settled()
    stored = await _findings(metrics, weak)
    assert [(d["cause"], d["metric"], d["sample_size"], d["baseline_median"]) for d in stored] == [
        ("distribution_or_timing", "impressions", 5, 1020.0)
    ]
    async with metrics.client() as c:
        report = (await c.get("/v1/reports", params={"start": "2026-04-20"})).json()
    shown = {p["publication_id"]: p["diagnoses"] for p in report["bottom_posts"]}
    shown.update({p["publication_id"]: p["diagnoses"] for p in report["top_posts"]})
    assert shown[weak] == stored

    # A peer published before `weak` whose 24h snapshot comes late: weak's baseline changed.
    late = new_id("late")
    await _post(metrics, late, BASE - timedelta(hours=5), {"impressions": 3000, "likes": 90})
    assert await _findings(metrics, weak) is None
    await metrics.settled()
    async with metrics.client() as c:
        report = (await c.get("/v1/reports", params={"start": "2026-04-20"})).json()
        detail = (await c.get(f"/v1/publications/{weak}")).json()
    shown = {p["publication_id"]: p["diagnoses"] for p in report["bottom_posts"]}
    shown.update({p["publication_id"]: p["diagnoses"] for p in report["top_posts"]})
    recomputed = shown[weak]
    assert [(d["sample_size"], d["baseline_median"]) for d in recomputed] == [(6, 1025.0)]
    assert recomputed == [{k: v for k, v in d.items() if k != "checkpoint"}
                          for d in detail["diagnosis"]]  # fmt: skip

    async with metrics.ctx.db.sessions() as session, session.begin():
        assert await refresh_diagnoses(session, metrics.ws) >= 1
    assert await _findings(metrics, weak) == recomputed
    # the late peer was diagnosed when it arrived, against its own (earlier) peers
    assert await _findings(metrics, late) == []


async def test_engagements_follow_the_latest_levels(metrics):
    pid = new_id("p")
    await metrics.deliver(PUBLISHED, published(pid, BASE))

    def p(metric: str, value: float, at: str) -> dict:
        return {"publication_id": pid, "metric": metric, "value": value, "observed_at": at}

    async def engagements() -> float | None:
        found = await rows(
            metrics.ctx,
            "SELECT engagements FROM metrics.publications WHERE workspace_id = :ws "
            "AND publication_id = :pid",
            ws=metrics.ws,
            pid=pid,
        )
        return found[0][0]

    assert await engagements() is None
    async with metrics.client() as c:
        r = await c.post("/v1/points", json={"points": [
            p("impressions", 500, "2026-04-21T12:00:00+00:00"),
        ]})  # fmt: skip
        assert r.json()["stored"] == 1
        await metrics.settled()
        assert await engagements() is None  # no engagement part yet
        r = await c.post("/v1/points", json={"points": [
            p("likes", 10, "2026-04-21T12:00:00+00:00"),
            p("likes", 25, "2026-04-22T12:00:00+00:00"),
            p("shares", 4, "2026-04-22T12:00:00+00:00"),
        ]})  # fmt: skip
        assert r.json()["stored"] == 3
        await metrics.settled()
        assert await engagements() == 29
        # An older value arriving late does not replace the newer level.
        r = await c.post("/v1/points", json={"points": [
            p("likes", 12, "2026-04-21T18:00:00+00:00"),
            p("comments", 3, "2026-04-21T18:00:00+00:00"),
        ]})  # fmt: skip
        assert r.json()["stored"] == 2
        await metrics.settled()
        assert await engagements() == 32
        report = (await c.get("/v1/reports", params={"start": "2026-04-20"})).json()
        assert [(x["publication_id"], x["primary_value"]) for x in report["top_posts"]] == [
            (pid, 32)
        ]
