"""The metrics warehouse: storing observations and keeping the daily rollups in step.

Hot path, so it speaks asyncpg directly on the session's own connection (same transaction):

1. `ensure_observation_partition` for every month the batch touches (before any insert);
2. a transaction-scoped advisory lock per series, taken in a fixed order, so that two
   batches for the same post cannot interleave their rollup arithmetic;
3. one statement inserts the observations (`ON CONFLICT DO NOTHING`: the same observation
   twice is stored once) and upserts each touched (series, metric, local day) with its closing
   level (the value at the latest observed_at of that day);
4. one statement recomputes `value` of the touched days and the days after them (the closing
   level minus the previous day's closing level for counters, the closing level for gauges
   and ratios) and adds the counters' changes to `daily_totals` (per day and dimension
   value, what reports read).

`REBUILD_ROLLUPS` computes the same table from the observations in one statement (used after
a time-zone change and by the report benchmark).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.domain.dictionary import ENGAGEMENT_PARTS, METRICS, MetricKind
from services.metrics.tables import DEFAULT_TIMEZONE

# Metrics whose daily value is the closing level, not an increase.
LEVEL_METRICS: tuple[str, ...] = tuple(
    name for name, d in METRICS.items() if d.kind is not MetricKind.COUNTER
)


def publication_series(publication_id: str) -> str:
    return f"p:{publication_id}"


def account_series(account_id: str) -> str:
    return f"a:{account_id}"


@dataclass(frozen=True, slots=True)
class SeriesDims:
    """What a series is about: the dimension columns its rollup rows carry."""

    series: str
    publication_id: str | None
    account_id: str | None
    channel: str | None
    format: str | None = None
    pillar: str | None = None
    campaign_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewObservation:
    series: str
    metric: str
    value: float
    observed_at: datetime
    source: str
    captured_at: datetime
    checkpoint: str | None = None
    raw: Mapping[str, Any] | None = None


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement: until then
    the raw connection would run in autocommit. One trivial statement through SQLAlchemy per
    transaction makes every raw statement after it part of the request's (or message's)
    transaction. That statement also sets, for this transaction only, what suits these short
    indexed statements: no JIT compilation (it cost seconds on the rollup statements) and a
    plan per execution (a generic plan of an array-driven statement may scan whole tables).
    """
    conn = await session.connection()
    marker = id(conn.get_transaction())
    if session.info.get("metrics_raw_tx") != marker:
        await conn.exec_driver_sql(
            "SELECT set_config('jit', 'off', true), "
            "set_config('plan_cache_mode', 'force_custom_plan', true)"
        )
        session.info["metrics_raw_tx"] = marker
    raw = await conn.get_raw_connection()
    return raw.driver_connection


@asynccontextmanager
async def read_transaction(session: AsyncSession) -> AsyncIterator[Any]:
    """A block of raw reads in one transaction with the same settings as `driver` gives
    writes (no JIT, a plan per execution). GET requests run on an autocommit session, where
    a transaction-local setting would last one statement; inside a write transaction this is
    a savepoint."""
    pg = await driver(session)
    async with pg.transaction():
        await pg.execute(
            "SELECT set_config('jit', 'off', true), "
            "set_config('plan_cache_mode', 'force_custom_plan', true)"
        )
        yield pg


async def workspace_timezone(session: AsyncSession, workspace_id: str) -> str:
    """The workspace's zone; the row is created with the default on first use."""
    pg = await driver(session)
    tz = await pg.fetchval(
        "SELECT timezone FROM metrics.workspaces WHERE workspace_id = $1", workspace_id
    )
    if tz is None:
        await pg.execute(
            "INSERT INTO metrics.workspaces (workspace_id) VALUES ($1) ON CONFLICT DO NOTHING",
            workspace_id,
        )
        tz = await pg.fetchval(
            "SELECT timezone FROM metrics.workspaces WHERE workspace_id = $1", workspace_id
        )
    return str(tz or DEFAULT_TIMEZONE)


def partition_name(month: datetime) -> str:
    return f"observations_y{month.year:04d}m{month.month:02d}"


async def ensure_partitions(session: AsyncSession, moments: Iterable[datetime]) -> None:
    """Make sure the monthly partitions of these moments exist.

    Checked inside the caller's transaction (a catalog look-up); a missing one is created in
    a short transaction of its own, committed at once: CREATE ... PARTITION OF locks the
    parent exclusively until commit, which must not last as long as a request that then
    waits for other locks (that would deadlock with concurrent batches).
    """
    months = sorted(
        {datetime(m.astimezone(UTC).year, m.astimezone(UTC).month, 1, tzinfo=UTC) for m in moments}
    )
    if not months:
        return
    pg = await driver(session)
    missing = await pg.fetch(
        "SELECT m FROM unnest($1::timestamptz[], $2::text[]) AS t(m, name) "
        "WHERE to_regclass('metrics.' || name) IS NULL",
        months,
        [partition_name(m) for m in months],
    )
    if not missing:
        return
    engine = session.bind
    assert engine is not None
    async with engine.connect() as conn:
        for row in missing:
            await conn.execute(
                text("SELECT metrics.ensure_observation_partition(:m)"), {"m": row["m"]}
            )
            await conn.commit()


LOCK_SERIES = """
SELECT count(*) FROM (
    SELECT pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended($1 || '/' || s, 0) AS k
        FROM unnest($2::text[]) AS s ORDER BY 1
    ) keys
) locked
"""

_INSERT_AND_ROLL = """
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::float8[], $5::timestamptz[], $6::text[],
                         $7::text[], $8::timestamptz[], $9::jsonb[])
        AS t(series, metric, value, observed_at, source, checkpoint, captured_at, raw)
), dims AS (
    SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                         $15::text[], $16::text[])
        AS d(series, publication_id, account_id, channel, format, pillar, campaign_id)
), ins AS (
    INSERT INTO metrics.observations AS o (workspace_id, series, publication_id, account_id,
        metric, value, observed_at, source, checkpoint, captured_at, raw)
    SELECT $1, i.series, d.publication_id, d.account_id, i.metric, i.value, i.observed_at,
           i.source, i.checkpoint, i.captured_at, i.raw
    FROM input i JOIN dims d USING (series)
    ON CONFLICT DO NOTHING
    RETURNING o.series, o.metric, o.value, o.observed_at
), newest AS MATERIALIZED (
    SELECT DISTINCT ON (series, metric) series, metric, value, observed_at
    FROM ins
    ORDER BY series, metric, observed_at DESC
), lat AS (
    INSERT INTO metrics.latest_levels AS l (workspace_id, series, metric, level, level_at)
    SELECT $1, series, metric, value, observed_at
    FROM newest
    ON CONFLICT (workspace_id, series, metric) DO UPDATE
    SET level = excluded.level, level_at = excluded.level_at
    WHERE excluded.level_at >= l.level_at
), agg AS (
    SELECT DISTINCT ON (series, metric, day) series, metric,
           (observed_at AT TIME ZONE $17)::date AS day, value, observed_at
    FROM ins
    ORDER BY series, metric, day, observed_at DESC
), up AS (
    INSERT INTO metrics.daily_rollups AS r (workspace_id, series, metric, day, publication_id,
        account_id, channel, format, pillar, campaign_id, level, level_at, value)
    SELECT $1, a.series, a.metric, a.day, d.publication_id, d.account_id, d.channel, d.format,
           d.pillar, d.campaign_id, a.value, a.observed_at, 0
    FROM agg a JOIN dims d USING (series)
    ON CONFLICT (workspace_id, series, metric, day) DO UPDATE SET
        level = CASE WHEN excluded.level_at >= r.level_at THEN excluded.level ELSE r.level END,
        level_at = greatest(r.level_at, excluded.level_at)
    RETURNING r.series, r.metric, r.day
)
SELECT (SELECT count(*) FROM ins) AS inserted,
       coalesce(array_agg(series), '{}') AS series,
       coalesce(array_agg(metric), '{}') AS metrics,
       coalesce(array_agg(day), '{}') AS days
FROM up
"""


def totals_upsert(source: str, workspace: str = "$1", levels: str = "$5") -> str:
    """Add the counter deltas of `source` (rows: day, metric, channel, format, pillar,
    campaign_id, account_id, delta) to daily_totals: the day overall and per dimension value.
    Rows are written in key order so that concurrent batches lock them in the same order."""
    return f"""
    INSERT INTO metrics.daily_totals AS t (workspace_id, day, dimension, key, metric, value)
    SELECT {workspace}, u.day, x.dimension, x.key, u.metric, sum(u.delta)
    FROM ({source}) u
    CROSS JOIN LATERAL (VALUES ('all', ''), ('channel', coalesce(u.channel, '')),
        ('format', coalesce(u.format, '')), ('pillar', coalesce(u.pillar, '')),
        ('campaign', coalesce(u.campaign_id, '')), ('account', coalesce(u.account_id, '')))
        AS x(dimension, key)
    WHERE u.metric <> ALL({levels}::text[])
    GROUP BY u.day, x.dimension, x.key, u.metric
    ORDER BY u.day, x.dimension, x.key, u.metric
    ON CONFLICT (workspace_id, day, dimension, key, metric)
    DO UPDATE SET value = t.value + excluded.value
    """


# Only the touched tail of each (series, metric) is read: the rows from its earliest touched
# day on, and the closing level of the day before (index range scans on the primary key).
_RECOMPUTE = """
WITH aff AS (
    SELECT series, metric, min(day) AS from_day
    FROM unnest($2::text[], $3::text[], $4::date[]) AS t(series, metric, day)
    GROUP BY 1, 2
), calc AS MATERIALIZED (
    SELECT a.series, a.metric, r.day, r.value AS old, r.rid,
           CASE WHEN a.metric = ANY($5::text[]) THEN r.level
                ELSE r.level - coalesce(
                    lag(r.level) OVER (PARTITION BY a.series, a.metric ORDER BY r.day),
                    (SELECT p.level FROM metrics.daily_rollups p
                     WHERE p.workspace_id = $1 AND p.series = a.series
                       AND p.metric = a.metric AND p.day < a.from_day
                     ORDER BY p.workspace_id DESC, p.series DESC, p.metric DESC, p.day DESC
                     LIMIT 1),
                    0)
           END AS v
    FROM aff a
    JOIN LATERAL (
        SELECT day, level, value, ctid AS rid FROM metrics.daily_rollups r
        WHERE r.workspace_id = $1 AND r.series = a.series AND r.metric = a.metric
          AND r.day >= a.from_day
        OFFSET 0  -- keep it a per-series probe of the primary key, not a join of everything
    ) r ON true
), upd AS (
    UPDATE metrics.daily_rollups d SET value = c.v
    FROM calc c
    -- The rows just read, by their tuple id (the series are locked: it cannot move), so
    -- that the update probes them rather than joining with every row of the workspace.
    WHERE d.ctid = c.rid AND d.value IS DISTINCT FROM c.v
    RETURNING d.day, d.metric, d.channel, d.format, d.pillar, d.campaign_id, d.account_id,
              d.value - c.old AS delta
)
""" + totals_upsert("SELECT * FROM upd")


async def store_observations(
    session: AsyncSession,
    workspace_id: str,
    timezone: str,
    points: Sequence[NewObservation],
    dims: Mapping[str, SeriesDims],
) -> int:
    """Insert the points (duplicates dropped) and update the rollups; returns rows stored.

    Every point's series must be in `dims` (the caller resolved and validated them).
    """
    if not points:
        return 0
    await ensure_partitions(session, (p.observed_at for p in points))
    pg = await driver(session)
    used = sorted({p.series for p in points})
    await pg.fetchval(LOCK_SERIES, workspace_id, used)
    used_dims = [dims[s] for s in used]
    row = await pg.fetchrow(
        _INSERT_AND_ROLL,
        workspace_id,
        [p.series for p in points],
        [p.metric for p in points],
        [float(p.value) for p in points],
        [p.observed_at for p in points],
        [p.source for p in points],
        [p.checkpoint for p in points],
        [p.captured_at for p in points],
        [None if p.raw is None else json.dumps(p.raw, default=str) for p in points],
        [d.series for d in used_dims],
        [d.publication_id for d in used_dims],
        [d.account_id for d in used_dims],
        [d.channel for d in used_dims],
        [d.format for d in used_dims],
        [d.pillar for d in used_dims],
        [d.campaign_id for d in used_dims],
        timezone,
    )
    inserted = int(row["inserted"])
    if row["series"]:
        await pg.execute(
            _RECOMPUTE,
            workspace_id,
            list(row["series"]),
            list(row["metrics"]),
            list(row["days"]),
            list(LEVEL_METRICS),
        )
    ranked = sorted(
        {d.publication_id for d in used_dims if d.publication_id is not None}
        & {dims[p.series].publication_id for p in points if p.metric in ENGAGEMENT_PARTS}
    )
    if inserted and ranked:
        await pg.execute(_ENGAGEMENTS, workspace_id, ranked, list(ENGAGEMENT_PARTS))
    return inserted


# A post's engagements so far (what reports rank on): the sum of its engagement parts'
# latest levels, probed by primary key after they were updated.
_ENGAGEMENTS = """
UPDATE metrics.publications p
SET engagements = (SELECT sum(l.level) FROM metrics.latest_levels l
                   WHERE l.workspace_id = $1 AND l.series = 'p:' || p.publication_id
                     AND l.metric = ANY($3::text[]))
WHERE p.workspace_id = $1 AND p.publication_id = ANY($2::text[])
"""


# One statement equivalent to the incremental maintenance above, for a whole workspace.
REBUILD_ROLLUPS = """
INSERT INTO metrics.daily_rollups (workspace_id, series, metric, day, publication_id,
    account_id, channel, format, pillar, campaign_id, level, level_at, value)
SELECT s.workspace_id, s.series, s.metric, s.day, s.publication_id, s.account_id,
       coalesce(p.channel, a.channel), p.format, p.pillar, p.campaign_id, s.level, s.level_at,
       CASE WHEN s.metric = ANY($3::text[]) THEN s.level
            ELSE s.level - coalesce(lag(s.level) OVER (
                PARTITION BY s.series COLLATE "C", s.metric COLLATE "C" ORDER BY s.day), 0)
       END
FROM (
    SELECT DISTINCT ON (o.series COLLATE "C", o.metric COLLATE "C",
                        (o.observed_at AT TIME ZONE $2)::date)
           o.workspace_id, o.series, o.metric, (o.observed_at AT TIME ZONE $2)::date AS day,
           o.publication_id, o.account_id, o.value AS level, o.observed_at AS level_at
    FROM metrics.observations o
    WHERE o.workspace_id = $1
    ORDER BY o.series COLLATE "C", o.metric COLLATE "C", (o.observed_at AT TIME ZONE $2)::date,
             o.observed_at DESC, o.source DESC
) s
LEFT JOIN metrics.publications p
       ON p.workspace_id = s.workspace_id AND p.publication_id = s.publication_id
LEFT JOIN metrics.accounts a
       ON a.workspace_id = s.workspace_id AND a.account_id = s.account_id
"""


REBUILD_LATEST = """
INSERT INTO metrics.latest_levels (workspace_id, series, metric, level, level_at)
SELECT DISTINCT ON (series COLLATE "C", metric COLLATE "C") workspace_id, series, metric,
       level, level_at
FROM metrics.daily_rollups
WHERE workspace_id = $1
ORDER BY series COLLATE "C", metric COLLATE "C", day DESC
"""

# Each post's engagements (the report's ranking value) from the latest levels.
REBUILD_ENGAGEMENTS = """
UPDATE metrics.publications p SET engagements = e.total
FROM (
    SELECT substr(series, 3) AS publication_id, sum(level) AS total
    FROM metrics.latest_levels
    WHERE workspace_id = $1 AND series LIKE 'p:%' AND metric = ANY($2::text[])
    GROUP BY series
) e
WHERE p.workspace_id = $1 AND p.publication_id = e.publication_id
"""

REBUILD_TOTALS = totals_upsert(
    "SELECT day, metric, channel, format, pillar, campaign_id, account_id, value AS delta "
    "FROM metrics.daily_rollups WHERE workspace_id = $1",
    levels="$2",
)


async def rebuild_rollups(session: AsyncSession, workspace_id: str, timezone: str) -> int:
    """Rollups and totals of a workspace recomputed from its observations (zone change)."""
    pg = await driver(session)
    await pg.execute("DELETE FROM metrics.daily_rollups WHERE workspace_id = $1", workspace_id)
    await pg.execute("DELETE FROM metrics.daily_totals WHERE workspace_id = $1", workspace_id)
    status = await pg.execute(REBUILD_ROLLUPS, workspace_id, timezone, list(LEVEL_METRICS))
    await pg.execute(REBUILD_TOTALS, workspace_id, list(LEVEL_METRICS))
    await pg.execute("DELETE FROM metrics.latest_levels WHERE workspace_id = $1", workspace_id)
    await pg.execute(REBUILD_LATEST, workspace_id)
    await pg.execute(
        "UPDATE metrics.publications SET engagements = NULL WHERE workspace_id = $1", workspace_id
    )
    await pg.execute(REBUILD_ENGAGEMENTS, workspace_id, list(ENGAGEMENT_PARTS))
    return int(status.rsplit(" ", 1)[-1])


async def invalidate_diagnoses(
    session: AsyncSession,
    workspace_id: str,
    publication_ids: Sequence[str],
    checkpoints: Sequence[str],
    window: timedelta,
) -> int:
    """Forget the stored diagnoses that these posts' snapshots (at their current channel,
    format and time) take part in: their own and those of the posts whose baseline window
    holds them (same channel, format and checkpoint, published up to `window` after).
    The report recomputes a forgotten one; the analyst stores it again."""
    if not publication_ids:
        return 0
    pg = await driver(session)
    rows = await pg.fetch(
        "SELECT channel, format, checkpoint, min(published_at) AS since, "
        "max(published_at) AS until FROM metrics.checkpoint_snapshots "
        "WHERE workspace_id = $1 AND publication_id = ANY($2::text[]) "
        "AND checkpoint = ANY($3::text[]) AND published_at IS NOT NULL "
        "GROUP BY 1, 2, 3",
        workspace_id,
        list(publication_ids),
        list(checkpoints),
    )
    await pg.execute(
        "UPDATE metrics.checkpoint_snapshots SET findings = NULL WHERE workspace_id = $1 "
        "AND publication_id = ANY($2::text[]) AND findings IS NOT NULL",
        workspace_id,
        list(publication_ids),
    )
    forgotten = 0
    for r in rows:
        fmt_sql = (
            "format = $3" if r["format"] is not None else "format IS NULL AND $3::text IS NULL"
        )
        status = await pg.execute(
            "UPDATE metrics.checkpoint_snapshots SET findings = NULL "
            f"WHERE workspace_id = $1 AND channel = $2 AND {fmt_sql} AND checkpoint = $4 "
            "AND published_at >= $5 AND published_at <= $6 AND findings IS NOT NULL",
            workspace_id,
            r["channel"],
            r["format"],
            r["checkpoint"],
            r["since"],
            r["until"] + window,
        )
        forgotten += int(status.rsplit(" ", 1)[-1])
    return forgotten


async def upsert_snapshot(
    session: AsyncSession,
    workspace_id: str,
    publication_id: str,
    checkpoint: str,
    captured_at: datetime,
    values: Mapping[str, float],
    channel: str | None = None,
    format: str | None = None,
    published_at: datetime | None = None,
) -> None:
    """A post's values at a checkpoint (merged when the checkpoint is reported again)."""
    pg = await driver(session)
    await pg.execute(
        """
        INSERT INTO metrics.checkpoint_snapshots AS s
            (workspace_id, publication_id, checkpoint, captured_at, values, channel, format,
             published_at)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
        ON CONFLICT (workspace_id, publication_id, checkpoint) DO UPDATE
        SET values = s.values || excluded.values,
            captured_at = greatest(s.captured_at, excluded.captured_at),
            channel = excluded.channel, format = excluded.format,
            published_at = excluded.published_at, findings = NULL
        """,
        workspace_id,
        publication_id,
        checkpoint,
        captured_at,
        json.dumps(dict(values)),
        channel,
        format,
        published_at,
    )


async def purge_raw(session: AsyncSession, older_than: datetime, limit: int = 5000) -> int:
    """Drop raw payloads captured before `older_than` (bounded, oldest months first)."""
    pg = await driver(session)
    status = await pg.execute(
        """
        UPDATE metrics.observations o SET raw = NULL
        FROM (
            SELECT workspace_id, series, metric, observed_at, source
            FROM metrics.observations
            WHERE observed_at < $1 AND captured_at < $1 AND raw IS NOT NULL
            LIMIT $2
        ) old
        WHERE o.workspace_id = old.workspace_id AND o.series = old.series
          AND o.metric = old.metric AND o.observed_at = old.observed_at
          AND o.source = old.source
        """,
        older_than,
        limit,
    )
    return int(status.rsplit(" ", 1)[-1])
