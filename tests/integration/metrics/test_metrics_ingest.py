"""Ingestion on real PostgreSQL: batches with per-row errors, duplicates, partitions, rollups,
CSV exports, connector events, roles and workspaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.metrics.support import (
    assert_totals_match_rollups,
    new_id,
    published,
    rows,
    stats,
)

pytestmark = pytest.mark.infra

PUBLISHED = "mediaops.publisher.publication.published"
STATS = "mediaops.publisher.publication.stats_captured"
ACCOUNT_STATS = "mediaops.publisher.account.stats_captured"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai


async def test_batch_stores_good_rows_and_answers_each_bad_row(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, T0))
    future = datetime.now(UTC) + timedelta(days=1)
    batch = [
        {"publication_id": pid, "metric": "reads", "value": 100, "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": pid, "metric": "likes", "value": 7, "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": "nope", "metric": "reads", "value": 1, "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": pid, "metric": "likes", "value": -3, "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": pid, "metric": "hearts", "value": 3, "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": pid, "metric": "reads", "value": 5, "observed_at": future.isoformat()},
        {"publication_id": pid, "metric": "engagements", "value": 5, "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": pid, "metric": "reads", "value": "many", "observed_at": "2026-03-02T12:00:00+08:00"},
        {"publication_id": pid, "metric": "reads", "value": 1, "observed_at": "2026-03-02T12:00:00+08:00", "workspace_id": "x"},
        {"metric": "reads", "value": 1, "observed_at": "2026-03-02T12:00:00+08:00"},
    ]  # fmt: skip
    async with metrics.client() as c:
        r = await c.post("/v1/points", json={"points": batch})
        assert r.status_code == 202, r.text
        body = r.json()
        assert (body["accepted"], body["rejected"], body["stored"]) == (2, 8, 2)
        by_index = {e["index"]: e for e in body["errors"]}
        assert (
            by_index[2]["field"] == "publication_id"
            and "unknown publication" in by_index[2]["message"]
        )
        assert by_index[3]["field"] == "value" and "negative" in by_index[3]["message"]
        assert by_index[4]["field"] == "metric" and "unknown metric" in by_index[4]["message"]
        assert by_index[5]["field"] == "observed_at" and "future" in by_index[5]["message"]
        assert by_index[6]["field"] == "metric" and "derived" in by_index[6]["message"]
        assert by_index[7]["field"] == "value"
        assert by_index[8]["field"] == "workspace_id"
        assert by_index[9]["field"] == "publication_id"

        # The same observations again: accepted, stored once.
        r = await c.post("/v1/points", json={"points": batch[:2]})
        assert r.json() | {"errors": []} == {
            "accepted": 2, "rejected": 0, "stored": 0, "duplicates": 2, "errors": []
        }  # fmt: skip
        stored = await rows(
            metrics.ctx,
            "SELECT metric, value, source, captured_at FROM metrics.observations "
            "WHERE workspace_id = :ws ORDER BY metric",
            ws=metrics.ws,
        )
        assert [(s.metric, s.value, s.source) for s in stored] == [
            ("likes", 7.0, "api"),
            ("reads", 100.0, "api"),
        ]
        assert all(s.captured_at is not None for s in stored)

        await metrics.settled()
        r = await c.get(f"/v1/publications/{pid}")
        assert r.status_code == 200
        latest = r.json()["latest"]
        assert latest["reads"] == 100 and latest["likes"] == 7
        assert latest["engagements"] == 7 and latest["engagement_rate"] == pytest.approx(0.07)


async def test_a_point_in_a_new_month_gets_its_partition(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, datetime(2023, 1, 30, tzinfo=UTC)))
    async with metrics.client("manager") as c:
        r = await c.post(
            "/v1/points",
            json={"points": [{"publication_id": pid, "metric": "views", "value": 9,
                              "observed_at": "2023-02-14T09:30:00+00:00"}]},
        )  # fmt: skip
        assert r.status_code == 202 and r.json()["stored"] == 1
    where = await rows(
        metrics.ctx,
        "SELECT tableoid::regclass::text AS part FROM metrics.observations "
        "WHERE workspace_id = :ws",
        ws=metrics.ws,
    )
    assert [w.part for w in where] == ["metrics.observations_y2023m02"]
    bounds = await rows(
        metrics.ctx,
        "SELECT pg_get_expr(c.relpartbound, c.oid) AS b FROM pg_class c "
        "WHERE c.oid = 'metrics.observations_y2023m02'::regclass",
    )
    assert "2023-02-01 00:00:00+00" in bounds[0].b and "2023-03-01 00:00:00+00" in bounds[0].b


async def test_rollups_hold_the_daily_increase_even_when_points_arrive_out_of_order(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, T0))

    def point(value: float, at: str) -> dict:
        return {"publication_id": pid, "metric": "reads", "value": value, "observed_at": at}

    async with metrics.client() as c:
        # Shanghai days: Mar 2 (10 then 40), Mar 4 (100); then a late point for Mar 3 (70).
        await c.post("/v1/points", json={"points": [
            point(10, "2026-03-02T11:00:00+08:00"), point(40, "2026-03-02T23:30:00+08:00"),
            point(100, "2026-03-04T09:00:00+08:00"),
        ]})  # fmt: skip
        await c.post("/v1/points", json={"points": [point(70, "2026-03-03T08:00:00+08:00")]})
        # 2026-03-02T16:30Z is Mar 3 00:30 in Shanghai: a later level for Mar 3.
        await c.post("/v1/points", json={"points": [point(75, "2026-03-02T16:30:00+00:00")]})
    await metrics.settled()
    daily = await rows(
        metrics.ctx,
        "SELECT day, level, value FROM metrics.daily_rollups WHERE workspace_id = :ws "
        "AND metric = 'reads' ORDER BY day",
        ws=metrics.ws,
    )
    assert [(str(d.day), d.level, d.value) for d in daily] == [
        ("2026-03-02", 40.0, 40.0),
        ("2026-03-03", 70.0, 30.0),  # 08:00 is later than 00:30 the same day
        ("2026-03-04", 100.0, 30.0),
    ]
    dims = await rows(
        metrics.ctx,
        "SELECT DISTINCT channel, format, pillar, account_id, publication_id "
        "FROM metrics.daily_rollups WHERE workspace_id = :ws",
        ws=metrics.ws,
    )
    assert [tuple(d) for d in dims] == [("sandbox", "article", "tips", "acc-1", pid)]
    await assert_totals_match_rollups(metrics.ctx, metrics.ws)

    # The approved item arrives late with a pillar for a post that had none: rows and
    # totals move to it.
    other = new_id()
    await metrics.deliver(PUBLISHED, published(other, T0, pillar=None, item_id="item-late"))
    async with metrics.client() as c:
        await c.post("/v1/points", json={"points": [point(5, "2026-03-02T12:00:00+08:00") | {
            "publication_id": other}]})  # fmt: skip
    await metrics.settled()  # rolled up under no pillar, then moved
    await metrics.deliver(
        "mediaops.content.item.approved",
        {"item_id": "item-late", "version": 2, "content_hash": "h", "title": "Late",
         "format": "article", "pillar": "stories", "title_alternatives": ["Late!"]},
    )  # fmt: skip
    await metrics.settled()
    pillars = await rows(
        metrics.ctx,
        "SELECT key, value FROM metrics.daily_totals WHERE workspace_id = :ws "
        "AND dimension = 'pillar' AND day = '2026-03-02' AND metric = 'reads' ORDER BY key",
        ws=metrics.ws,
    )
    assert [(p.key, p.value) for p in pillars] == [("", 0.0), ("stories", 5.0), ("tips", 40.0)]
    await assert_totals_match_rollups(metrics.ctx, metrics.ws)


async def test_connector_stats_are_normalised_with_provenance_and_stored_once(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, T0, channel="weibo"))
    captured = T0 + timedelta(hours=24)
    data = stats(
        pid, T0, captured, "24h",
        {"attitudes_count": 12, "reposts_count": 3, "comments_count": "4", "mystery": 9},
        channel="weibo",
    )  # fmt: skip
    await metrics.deliver(STATS, data)
    await metrics.deliver(STATS, data)  # redelivered with a new event id: stored once
    stored = await rows(
        metrics.ctx,
        "SELECT metric, value, source, checkpoint, captured_at, raw FROM metrics.observations "
        "WHERE workspace_id = :ws ORDER BY metric",
        ws=metrics.ws,
    )
    assert [(s.metric, s.value) for s in stored] == [
        ("comments", 4.0),
        ("likes", 12.0),
        ("shares", 3.0),
    ]
    assert {s.source for s in stored} == {"connector:weibo"}
    assert {s.checkpoint for s in stored} == {"24h"} and {s.captured_at for s in stored} == {
        captured
    }
    assert stored[1].raw["fields"] == {"attitudes_count": 12}
    await metrics.deliver(
        ACCOUNT_STATS,
        {"account_id": "acc-1", "channel": "weibo", "captured_at": captured.isoformat(),
         "followers": 5000},
    )  # fmt: skip
    followers = await rows(
        metrics.ctx,
        "SELECT series, value FROM metrics.observations WHERE workspace_id = :ws "
        "AND metric = 'followers'",
        ws=metrics.ws,
    )
    assert [(f.series, f.value) for f in followers] == [("a:acc-1", 5000.0)]
    async with metrics.client("community") as c:
        body = (await c.get(f"/v1/publications/{pid}")).json()
    assert body["checkpoints"][0]["checkpoint"] == "24h"
    assert body["checkpoints"][0]["values"]["engagements"] == 19


async def test_csv_export_is_mapped_and_bad_files_name_the_line(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, T0, channel="weibo", external_id="W123"))
    good = (
        "external_id,date,attitudes_count,reposts_count,comments_count,title\n"
        "W123,2026-03-03,10,2,1,Hello\n"
        "W999,2026-03-03,5,1,1,Unknown post\n"
        "W123,2026-03-04,-4,2,1,Negative\n"
    )
    async with metrics.client() as c:
        r = await c.post(
            "/v1/points/csv?channel=weibo",
            content=good.encode(),
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["stored"] == 5 and body["ignored_columns"] == ["title"]
        assert {(e["line"], e["field"]) for e in body["errors"]} == {
            (3, "publication_id"),
            (4, "value"),
        }
        day = await rows(
            metrics.ctx,
            "SELECT metric, value, observed_at, source FROM metrics.observations "
            "WHERE workspace_id = :ws AND metric = 'likes'",
            ws=metrics.ws,
        )
        # A date-only export row is midnight in the workspace zone (Asia/Shanghai).
        assert [(d.value, d.observed_at, d.source) for d in day] == [
            (10.0, datetime(2026, 3, 2, 16, 0, tzinfo=UTC), "csv:weibo")
        ]

        before = await rows(metrics.ctx, "SELECT count(*) AS n FROM metrics.observations")
        bad = "external_id,date,attitudes_count\nW123,2026-03-05,1\nW123,2026-03-06\n"
        r = await c.post(
            "/v1/points/csv?channel=weibo", content=bad, headers={"content-type": "text/csv"}
        )
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["line"] == 3 and "line 3" in r.json()["detail"]
        r = await c.post(
            "/v1/points/csv?channel=weibo",
            content="external_id,date,attitudes_count\nW123,yesterday,1\n",
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 422 and r.json()["line"] == 2 and r.json()["column"] == "date"
        r = await c.post(
            "/v1/points/csv?channel=weibo",
            content="external_id,date,attitudes_count\nW123,2026-03-05,lots\n",
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 422 and "line 2" in r.json()["detail"]
        r = await c.post(
            "/v1/points/csv", content='a,b\n"x,1\n', headers={"content-type": "text/csv"}
        )
        assert r.status_code == 422 and r.json()["line"] == 1
        r = await c.post("/v1/points/csv", json={"points": []})
        assert r.status_code == 415
        after = await rows(metrics.ctx, "SELECT count(*) AS n FROM metrics.observations")
        assert after[0].n == before[0].n  # nothing from the refused files


async def test_roles_and_workspaces(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, T0))
    point = {"publication_id": pid, "metric": "reads", "value": 1,
             "observed_at": "2026-03-02T12:00:00+08:00"}  # fmt: skip
    async with metrics.client("editor") as c:
        assert (await c.post("/v1/points", json={"points": [point]})).status_code == 403
        assert (await c.get(f"/v1/publications/{pid}")).status_code == 200
        r = await c.get("/v1/dictionary")
        assert r.status_code == 200
        assert r.json()["platforms"]["mastodon"]["favourites_count"] == "likes"
        metrics_by_name = {m["name"]: m for m in r.json()["metrics"]}
        assert metrics_by_name["engagement_rate"]["derived"] is True
    async with metrics.client("manager", workspace="ws-other") as c:
        assert (await c.get(f"/v1/publications/{pid}")).status_code == 404
        r = await c.post("/v1/points", json={"points": [point]})
        assert r.status_code == 202 and r.json()["errors"][0]["field"] == "publication_id"


async def test_a_failed_transaction_leaves_no_observation_and_no_rollup(metrics):
    """The warehouse writes inside the caller's transaction: a rollback takes everything."""
    from services.metrics.warehouse import NewObservation, SeriesDims, store_observations

    dims = SeriesDims("p:tx-test", "tx-test", "acc-1", "sandbox", "article")
    point = NewObservation("p:tx-test", "reads", 3.0, T0, "api", T0)
    async with metrics.ctx.db.session() as session:
        async with session.begin():
            assert await store_observations(
                session, metrics.ws, "UTC", [point], {dims.series: dims}
            )
            await session.rollback()
    for table in ("observations", "rollup_queue", "daily_rollups", "daily_totals", "latest_levels"):
        left = await rows(
            metrics.ctx, f"SELECT count(*) AS n FROM metrics.{table} WHERE workspace_id = :ws",
            ws=metrics.ws,
        )  # fmt: skip
        assert left[0].n == 0, table


async def test_text_postgresql_cannot_store_is_refused(metrics):
    pid = new_id()
    await metrics.deliver(PUBLISHED, published(pid, T0))
    at = "2026-03-02T12:00:00+08:00"
    good = f'{{"publication_id": "{pid}", "metric": "reads", "value": 1, "observed_at": "{at}"}}'
    nul = f'{{"publication_id": "a\\u0000b", "metric": "reads", "value": 1, "observed_at": "{at}"}}'
    lone = f'{{"account_id": "\\udbb9x", "metric": "followers", "value": 1, "observed_at": "{at}"}}'
    json_headers = {"content-type": "application/json"}
    async with metrics.client() as c:
        # A NUL in an id: that row is answered, the good one stored.
        r = await c.post(
            "/v1/points", content=f'{{"points": [{good}, {nul}]}}', headers=json_headers
        )
        assert r.status_code == 202, r.text
        answer = r.json()
        assert (answer["stored"], answer["rejected"]) == (1, 1)
        assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "publication_id")]
        # An unpaired surrogate is not JSON text we read: the whole body is refused.
        r = await c.post("/v1/points", content=f'{{"points": [{lone}]}}', headers=json_headers)
        assert r.status_code == 422 and r.json()["field"] == "body"
        assert r.headers["content-type"] == "application/problem+json"
        r = await c.post("/v1/points", content=b"{not json", headers=json_headers)
        assert r.status_code == 422 and r.json()["field"] == "body"
        r = await c.post("/v1/points", json={"points": [], "extra": 1})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"points", "extra"}
