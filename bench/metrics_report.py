"""Weekly report latency over ~10 million observations, beside the bare aggregate query.

Data (seeded): publications spread over one year on 6 channels / 12 accounts, 4 formats,
5 pillars, 10 campaigns; each post observed at its six checkpoints (1h..28d) on 9 metrics,
plus daily followers per account; written with asyncpg COPY into `metrics.observations`
(partitions created first, as ingestion does). Rollups are then built by
`warehouse.REBUILD_ROLLUPS`, the one-statement equivalent of the incremental maintenance;
each post's engagements (`REBUILD_ENGAGEMENTS`) and each 24h / 72h snapshot's diagnosis
(`reporting.refresh_diagnoses`) are stored as ingestion and the analyst store them.

Ours: `GET /v1/reports?period=week` through the real app (in-process, httpx ASGITransport),
30 weeks in turn. Ceiling: the report's aggregate statement alone through asyncpg (the
database work without HTTP, JSON, posts, goals, diagnosis).

Database: `mediaops_bench` (dropped and created; dropped at the end unless --keep).

    .venv/bin/python -m bench.metrics_report [--observations 10000000] [--runs 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "mediaops_bench"
WS = "bench"
END = datetime(2026, 10, 31, tzinfo=UTC)  # "now" of the generated year
CHECKPOINTS = (
    ("1h", timedelta(hours=1), 0.12),
    ("6h", timedelta(hours=6), 0.40),
    ("24h", timedelta(hours=24), 0.70),
    ("72h", timedelta(hours=72), 0.86),
    ("7d", timedelta(days=7), 0.95),
    ("28d", timedelta(days=28), 1.0),
)
CHANNELS = ("wechat_mp", "weibo", "douyin", "xiaohongshu", "bilibili", "sandbox")
FORMATS = ("article", "short_video", "image_post", "live")
PILLARS = ("tips", "product", "behind_the_scenes", "community", "news")
# per post: exposure then rates of it (reads for articles, views otherwise)
METRICS = ("impressions", "reach", "reads_or_views", "likes", "comments", "shares", "saves",
           "clicks", "follows_gained")  # fmt: skip
RATES = (1.0, 0.7, 0.25, 0.03, 0.004, 0.006, 0.008, 0.02, 0.002)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def db_url() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


def publications(count: int, rnd: random.Random) -> list[tuple[Any, ...]]:
    start = END - timedelta(days=365)
    span = (END - start).total_seconds()
    rows = []
    for i in range(count):
        channel_index = rnd.randrange(len(CHANNELS))
        account = f"acc-{CHANNELS[channel_index]}-{rnd.randrange(2)}"
        fmt = FORMATS[rnd.randrange(len(FORMATS))]
        campaign = f"camp-{rnd.randrange(10)}" if rnd.random() < 0.6 else None
        published_at = start + timedelta(seconds=rnd.random() * span)
        rows.append(
            (WS, f"pub-{i:07d}", f"item-{i // 2:07d}", None, None, campaign, account,
             CHANNELS[channel_index], f"ext-{i}", None, fmt, PILLARS[rnd.randrange(5)],
             f"Post number {i}", published_at)
        )  # fmt: skip
    return rows


def observations(  # type: ignore[no-untyped-def]
    pubs: list[tuple[Any, ...]], rnd: random.Random, snapshots: list[tuple[Any, ...]]
):
    """Each post's cumulative values at its checkpoints; the 24h / 72h ones also go to
    `snapshots` (the diagnosis baseline, as the stats handler keeps it)."""
    for pub in pubs:
        pid, account, channel, fmt, published_at = pub[1], pub[6], pub[7], pub[10], pub[13]
        series = f"p:{pid}"
        exposure = rnd.lognormvariate(7.5, 1.0)
        names = [m if m != "reads_or_views" else ("reads" if fmt == "article" else "views")
                 for m in METRICS]  # fmt: skip
        finals = [exposure * rate * rnd.uniform(0.5, 1.5) for rate in RATES]
        source = f"connector:{channel}"
        for name, age, share in CHECKPOINTS:
            at = published_at + age + timedelta(seconds=rnd.randrange(600))
            if at > END:
                break
            values = {m: float(round(f * share)) for m, f in zip(names, finals, strict=True)}
            if name in ("24h", "72h"):
                snapshots.append(
                    (WS, pid, name, at, json.dumps(values), channel, fmt, published_at)
                )
            for metric, value in values.items():
                yield (WS, series, pid, account, metric, value, at, source, name, at, None)


def follower_rows() -> list[tuple[Any, ...]]:
    rows = []
    for channel in CHANNELS:
        for n in range(2):
            account = f"acc-{channel}-{n}"
            level = 10_000.0 * (n + 1)
            for d in range(365):
                at = END - timedelta(days=365 - d) + timedelta(hours=15)
                level += 20 + (d % 7)
                rows.append((WS, f"a:{account}", None, account, "followers", level, at,
                             f"connector:{channel}", None, at, None))  # fmt: skip
    return rows


async def generate(target: int, seed: int) -> dict[str, float]:
    import asyncpg

    from services.metrics.warehouse import (
        LEVEL_METRICS,
        REBUILD_LATEST,
        REBUILD_ROLLUPS,
        REBUILD_TOTALS,
    )

    rnd = random.Random(seed)
    per_post = len(METRICS) * len(CHECKPOINTS)
    pubs = publications(int(target / per_post * 1.03) + 200, rnd)  # some 28d are ahead
    conn = await asyncpg.connect(db_url())
    figures: dict[str, float] = {}
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(
            "SELECT metrics.ensure_observation_partition(m) FROM generate_series("
            "$1::timestamptz, $2::timestamptz, interval '1 month') m",
            END - timedelta(days=400),
            END,
        )
        await conn.execute("INSERT INTO metrics.workspaces (workspace_id) VALUES ($1)", WS)
        await conn.copy_records_to_table(
            "publications",
            schema_name="metrics",
            records=pubs,
            columns=["workspace_id", "publication_id", "item_id", "variant_id", "topic_id",
                     "campaign_id", "account_id", "channel", "external_id", "url", "format",
                     "pillar", "title", "published_at"],
        )  # fmt: skip
        accounts = sorted({(WS, p[6], p[7]) for p in pubs})
        await conn.copy_records_to_table(
            "accounts", schema_name="metrics", records=accounts,
            columns=["workspace_id", "account_id", "channel"],
        )  # fmt: skip
        columns = ["workspace_id", "series", "publication_id", "account_id", "metric", "value",
                   "observed_at", "source", "checkpoint", "captured_at", "raw"]  # fmt: skip
        started = time.perf_counter()
        written = 0
        chunk: list[tuple[Any, ...]] = follower_rows()
        snapshots: list[tuple[Any, ...]] = []
        for row in observations(pubs, rnd, snapshots):
            chunk.append(row)
            if len(chunk) >= 200_000:
                await conn.copy_records_to_table(
                    "observations", schema_name="metrics", records=chunk, columns=columns
                )
                written += len(chunk)
                chunk = []
                if written >= target:
                    break
        if chunk and written < target:
            await conn.copy_records_to_table(
                "observations", schema_name="metrics", records=chunk, columns=columns
            )
            written += len(chunk)
        figures["observations"] = written
        figures["copy_s"] = time.perf_counter() - started
        await conn.copy_records_to_table(
            "checkpoint_snapshots", schema_name="metrics", records=snapshots,
            columns=["workspace_id", "publication_id", "checkpoint", "captured_at", "values",
                     "channel", "format", "published_at"],
        )  # fmt: skip
        started = time.perf_counter()
        await conn.execute("SET work_mem = '256MB'")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        # Bulk load: the rollups' secondary indexes are built after the rows are in.
        await conn.execute("DROP INDEX metrics.ix_daily_rollups_workspace_id_day")
        await conn.execute("DROP INDEX metrics.ix_daily_rollups_gauges")
        status = await conn.execute(REBUILD_ROLLUPS, WS, "Asia/Shanghai", list(LEVEL_METRICS))
        figures["rollups"] = int(status.rsplit(" ", 1)[-1])
        await conn.execute(
            "CREATE INDEX ix_daily_rollups_workspace_id_day "
            "ON metrics.daily_rollups (workspace_id, day)"
        )
        await conn.execute(
            "CREATE INDEX ix_daily_rollups_gauges ON metrics.daily_rollups "
            "(workspace_id, metric, day) WHERE metric IN ('followers', 'completion_rate')"
        )
        await conn.execute(REBUILD_TOTALS, WS, list(LEVEL_METRICS))
        await conn.execute(REBUILD_LATEST, WS)
        figures["rollup_s"] = time.perf_counter() - started
        await conn.execute("ANALYZE metrics.daily_rollups")
        await conn.execute("ANALYZE metrics.publications")
        await conn.execute("ANALYZE metrics.checkpoint_snapshots")
        await conn.execute("ANALYZE metrics.latest_levels")
        await conn.execute("ANALYZE metrics.daily_totals")
        figures["publications"] = len(pubs)
    finally:
        await conn.close()
    figures.update(await derive())
    return figures


async def derive() -> dict[str, float]:
    """What ingestion stores beside the observations for reports: each post's engagements
    (the ranking value) and each 24h / 72h snapshot's diagnosis (here in bulk, as the
    analyst stores those the stats handler has not)."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from services.metrics.domain.dictionary import ENGAGEMENT_PARTS
    from services.metrics.reporting import refresh_diagnoses
    from services.metrics.warehouse import REBUILD_ENGAGEMENTS, driver

    engine = create_async_engine(db_url().replace("postgresql://", "postgresql+asyncpg://"))
    started = time.perf_counter()
    try:
        async with AsyncSession(engine) as session, session.begin():
            pg = await driver(session)
            await pg.execute(REBUILD_ENGAGEMENTS, WS, list(ENGAGEMENT_PARTS))
            stored = await refresh_diagnoses(session, WS)
            await pg.execute("ANALYZE metrics.publications")
            await pg.execute("ANALYZE metrics.checkpoint_snapshots")
    finally:
        await engine.dispose()
    return {"diagnoses": stored, "derive_s": time.perf_counter() - started}


async def measure(runs: int) -> dict[str, Any]:
    import asyncpg
    import httpx

    from services.metrics.app import create_app
    from services.metrics.domain.reports import report_range
    from services.metrics.reporting import _AGGREGATE, GAUGES
    from shared.auth import mint_token
    from shared.config import Settings
    from shared.runtime import Runtime

    settings = Settings(DATABASE_URL=db_url(), MEDIAOPS_ENV="test")  # type: ignore[call-arg]
    runtime = Runtime(settings, ["metrics"], roles=["api"], clock=lambda: END)
    await runtime.start()
    app = create_app(runtime.contexts["metrics"])
    token = mint_token(settings, workspace=WS, roles=["analyst"], sub="bench", ttl_s=3600)
    weeks = [(END - timedelta(days=7 * (i + 1))).date() for i in range(runs)]
    ours: list[float] = []
    sizes: list[int] = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"}, timeout=60,
        ) as client:  # fmt: skip
            await client.get("/v1/reports", params={"period": "week", "start": str(weeks[0])})
            for week in weeks:
                started = time.perf_counter()
                r = await client.get("/v1/reports", params={"period": "week", "start": str(week)})
                ours.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
                body = r.json()
                sizes.append(len(r.content))
                assert body["totals"]["impressions"]["current"] > 0
    finally:
        await runtime.stop()
    bare: list[float] = []
    conn = await asyncpg.connect(db_url())
    try:
        for week in weeks:
            window = report_range("week", week, "Asia/Shanghai")
            started = time.perf_counter()
            await conn.fetch(
                _AGGREGATE, WS, window.first_day, window.first_day - timedelta(days=7),
                window.last_day, GAUGES,
            )  # fmt: skip
            bare.append((time.perf_counter() - started) * 1000)
        rows_in_two_weeks = await conn.fetchval(
            "SELECT count(*) FROM metrics.daily_rollups WHERE workspace_id = $1 AND day >= $2 "
            "AND day <= $3",
            WS,
            weeks[0] - timedelta(days=14),
            weeks[0],
        )
    finally:
        await conn.close()
    return {
        "ours_ms": ours,
        "bare_ms": bare,
        "rollup_rows_per_2_weeks": rows_in_two_weeks,
        "report_bytes": statistics.median(sizes),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep mediaops_bench afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept mediaops_bench")
    args = parser.parse_args()

    from shared.migrations import upgrade

    figures: dict[str, float] = {}
    if not args.reuse:
        await admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin(f'CREATE DATABASE "{DB_NAME}"')
        await asyncio.to_thread(upgrade, "metrics", db_url())
        figures = await generate(args.observations, args.seed)
    else:  # a kept database, brought to the current schema and derived state
        await asyncio.to_thread(upgrade, "metrics", db_url())
        figures = await derive()
    try:
        result = await measure(args.runs)
    finally:
        if not args.keep:
            await admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    ours, bare = result["ours_ms"], result["bare_ms"]
    rows = [
        {"figure": "weekly report p50 (ms)", "ours": statistics.median(ours),
         "ceiling": statistics.median(bare), "ratio": statistics.median(bare) / statistics.median(ours),
         "aim": None, "unit": "ms"},
        {"figure": "weekly report p95 (ms)", "ours": pct(ours, 95), "ceiling": pct(bare, 95),
         "ratio": pct(bare, 95) / pct(ours, 95), "aim": "<= 300", "unit": "ms"},
    ]  # fmt: skip
    extra = {
        "runs": args.runs,
        "generated": figures,
        "rollup_rows_per_2_weeks": result["rollup_rows_per_2_weeks"],
        "report_bytes_median": result["report_bytes"],
        "mode": "in-process app, httpx ASGITransport",
        "ceiling": "the report's aggregate statement alone via asyncpg",
    }
    from bench.common import save_results

    save_results("metrics_report", rows, extra)
    if args.json:
        print(json.dumps({"rows": rows, **extra}, indent=2, default=str))
        return
    if "diagnoses" in figures:
        print(
            f"stored {figures['diagnoses']:,.0f} diagnoses and the posts' engagements in "
            f"{figures['derive_s']:.1f} s"
        )
    if "observations" in figures:
        print(
            f"generated {figures['observations']:,.0f} observations for "
            f"{figures['publications']:,.0f} posts: COPY {figures['copy_s']:.1f} s "
            f"({figures['observations'] / figures['copy_s']:,.0f} rows/s), "
            f"{figures['rollups']:,.0f} rollup rows in {figures['rollup_s']:.1f} s"
        )
    print(f"rollup rows in two weeks: {extra['rollup_rows_per_2_weeks']:,}; "
          f"report body ~{extra['report_bytes_median'] / 1024:.0f} KiB; {extra['mode']}")  # fmt: skip
    cols = ["figure", "ours", "ceiling", "ratio", "aim", "unit"]

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    widths = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(fmt(r.get(c)).ljust(widths[c]) for c in cols))


if __name__ == "__main__":
    asyncio.run(main())
