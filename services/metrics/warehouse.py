"""The metrics warehouse: storing observations and keeping the daily rollups in step.

Hot path, so it speaks asyncpg directly (the session's own connection, same transaction, or
the pool for the API's one-statement batch).

Storing is one statement: the observations are inserted (`ON CONFLICT DO NOTHING`: the same
observation twice is stored once) and each new one is queued in `rollup_queue`, atomically.
A 202 means stored; the rollups follow within the rollup worker's lag (`roll_up_pending`):

1. a transaction-scoped advisory lock per workspace shard (its series by hash): rollup
   arithmetic of a series never interleaves, nor with the moves of a post's dimensions
   (`lock_rollups` takes every shard); shards are applied in parallel (daily_totals rows
   are shared: their upserts wait for each other, in key order);
2. one statement deletes a chunk of the workspace's queue (oldest first, `SKIP LOCKED`, so
   replicas share the queue) and upserts each touched (series, metric, local day) with its
   closing level (the value at the latest observed_at of that day) and the latest levels;
3. one statement recomputes `value` of the touched days and the days after them (the closing
   level minus the previous day's closing level for counters, the closing level for gauges
   and ratios) and adds the counters' changes to `daily_totals` (per day and dimension
   value, what reports read); then the posts' engagements.

A crash before the worker's commit leaves the queue rows in place: nothing is lost, the next
pass applies them. Applying an observation twice changes nothing (levels are compared by
time, values recomputed from levels), so a rebuild racing the queue is harmless.

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

import orjson
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
    months = sorted({_month(m) for m in moments})
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


# A workspace's series are spread over this many shards (by a hash of the series); each
# shard's chunks are applied under its own advisory lock, so that two transactions (two
# tasks or replicas of the worker) apply one workspace at once on disjoint series. Fixed:
# every replica must agree on the lock keys.
ROLLUP_SHARDS = 4


def rollup_lock_key(workspace_id: str, shard: int) -> str:
    return f"metrics.rollups/{workspace_id}/{shard}"


async def lock_rollups(session: AsyncSession, workspace_id: str) -> None:
    """Wait for every rollup lock of the workspace (held by the rollup worker while it
    applies a chunk), in shard order. Writers that move rollup rows take them before they
    change a post's dimensions."""
    pg = await driver(session)
    await pg.execute(
        "SELECT count(pg_advisory_xact_lock(hashtextextended($1 || s, 0))) "
        "FROM generate_series(0, $2 - 1) AS s",
        rollup_lock_key(workspace_id, 0)[:-1],
        ROLLUP_SHARDS,
    )


# The new observations' queue rows, from the INSERT's RETURNING (duplicates are not queued).
_QUEUE = """
, queued AS (
    INSERT INTO metrics.rollup_queue (workspace_id, series, metric, value, observed_at)
    SELECT $1, series, metric, value, observed_at FROM ins
)
"""

_STORE = (
    """
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[],
                         $7::timestamptz[], $8::text[], $9::text[], $10::timestamptz[],
                         $11::text[])
        AS t(series, publication_id, account_id, metric, value, observed_at, source,
             checkpoint, captured_at, raw)
), ins AS (
    INSERT INTO metrics.observations AS o (workspace_id, series, publication_id, account_id,
        metric, value, observed_at, source, checkpoint, captured_at, raw)
    SELECT $1, series, publication_id, account_id, metric, value, observed_at, source,
           checkpoint, captured_at, raw::jsonb
    FROM input
    ON CONFLICT DO NOTHING
    RETURNING o.series, o.metric, o.value, o.observed_at
)"""
    + _QUEUE
    + "SELECT count(*) FROM ins"
)

# The API's batch: each row names a publication or an account of the workspace; rows naming
# an unknown one come back by index (per-row errors), the others are stored and queued. The
# rows travel as one JSON array of arrays (orjson): asyncpg's encoding of ten 1,000-element
# arrays cost the API more CPU (~5 ms a batch) than PostgreSQL spends reading the JSON.
_STORE_CHECKED = (
    """
WITH input AS (
    SELECT (r->>0)::int AS idx, r->>1 AS publication_id, r->>2 AS account_id,
           r->>3 AS metric, (r->>4)::float8 AS value, (r->>5)::timestamptz AS observed_at,
           r->>6 AS source, r->7 AS raw
    FROM jsonb_array_elements($2::text::jsonb) AS r
), known AS MATERIALIZED (
    SELECT i.*, coalesce('p:' || p.publication_id, 'a:' || a.account_id) AS series,
           coalesce(p.account_id, a.account_id) AS owner
    FROM input i
    LEFT JOIN metrics.publications p
           ON p.workspace_id = $1 AND p.publication_id = i.publication_id
    LEFT JOIN metrics.accounts a ON a.workspace_id = $1 AND a.account_id = i.account_id
), ins AS (
    INSERT INTO metrics.observations AS o (workspace_id, series, publication_id, account_id,
        metric, value, observed_at, source, captured_at, raw)
    SELECT $1, series, publication_id, owner, metric, value, observed_at, source, $3,
           CASE WHEN jsonb_typeof(raw) = 'null' THEN NULL ELSE raw END
    FROM known WHERE series IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING o.series, o.metric, o.value, o.observed_at
)"""
    + _QUEUE
    + """
SELECT (SELECT count(*) FROM ins) AS stored,
       (SELECT coalesce(array_agg(idx), '{}') FROM known WHERE series IS NULL) AS unknown
"""
)

# A checked row: position in the batch, publication_id, account_id, metric, value,
# observed_at, source, raw payload (a JSON-able mapping or None).
CheckedRow = tuple[int, str | None, str | None, str, float, datetime, str, Mapping[str, Any] | None]


async def store_checked(
    pool: Any,
    known_months: set[datetime],
    workspace_id: str,
    rows: Sequence[CheckedRow],
    now: datetime,
) -> tuple[int, list[int]]:
    """Store a batch in one statement on the pool (atomic by itself): (stored, positions of
    rows naming an unknown publication or account)."""
    if not rows:
        return 0, []
    first, last = min(r[5] for r in rows), max(r[5] for r in rows)
    if last - first < timedelta(days=366):
        months = set(_months_between(first, last)) - known_months
    else:  # a long history: only the months that have points
        months = {_month(r[5]) for r in rows} - known_months
    async with pool.acquire() as pg:
        if months:
            await _create_partitions(pg, months)
            known_months.update(months)
        row = await pg.fetchrow(_STORE_CHECKED, workspace_id, orjson.dumps(rows).decode(), now)
    return int(row["stored"]), list(row["unknown"])


def _months_between(first: datetime, last: datetime) -> Iterable[datetime]:
    """Every month from first's to last's (a comparison per row instead of a month per row;
    a month in between without a point gets its partition early)."""
    month, end = _month(first), _month(last)
    while month <= end:
        yield month
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def _month(moment: datetime) -> datetime:
    at = moment.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


async def _create_partitions(pg: Any, months: Iterable[datetime]) -> None:
    """Each month's partition, created if missing, each in its own short transaction
    (autocommit on a pool connection): see `ensure_partitions` for why."""
    for month in sorted(months):
        await pg.execute("SELECT metrics.ensure_observation_partition($1)", month)


async def store_observations(
    session: AsyncSession,
    workspace_id: str,
    timezone: str,
    points: Sequence[NewObservation],
    dims: Mapping[str, SeriesDims],
) -> int:
    """Insert the points (duplicates dropped) and queue them for the rollups, in the
    session's transaction; returns rows stored. Every point's series must be in `dims`."""
    if not points:
        return 0
    await ensure_partitions(session, (p.observed_at for p in points))
    pg = await driver(session)
    return int(
        await pg.fetchval(
            _STORE,
            workspace_id,
            [p.series for p in points],
            [dims[p.series].publication_id for p in points],
            [dims[p.series].account_id for p in points],
            [p.metric for p in points],
            [float(p.value) for p in points],
            [p.observed_at for p in points],
            [p.source for p in points],
            [p.checkpoint for p in points],
            [p.captured_at for p in points],
            [None if p.raw is None else json.dumps(p.raw, default=str) for p in points],
        )
    )


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


# A chunk of a workspace's queue (oldest first; rows another replica holds are skipped),
# deleted and applied in one statement, each rollup row written once:
# - latest levels: each (series, metric)'s newest point if newer than the stored level;
# - agg: each touched (series, metric, local day)'s closing level among the points;
# - old / before: the stored rows from each (series, metric)'s earliest touched day on, and
#   the closing level of the day before (index range scans on the primary key), read only
#   when its latest level is on or after that day: points arriving in time order (the usual
#   case) have no stored tail, and the day before closed at the latest level;
# - merged: the new closing level of each day of those tails (the later point wins); calc:
#   its value (the increase over the previous day's closing level for counters, the level
#   for gauges and ratios); only the rows whose level or value changed are written;
# - daily_totals gets each counter row's change of value, under the dimensions of the row
#   (an existing row keeps its own; a new one takes its series' current dimensions).
_ROLL = (
    """
WITH claimed AS MATERIALIZED (
    DELETE FROM metrics.rollup_queue q
    WHERE q.ctid = ANY(ARRAY(
        SELECT ctid FROM metrics.rollup_queue
        WHERE workspace_id = $1 AND (hashtext(series) & $7) = $6
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED))
    RETURNING q.series, q.metric, q.value, q.observed_at, q.queued_at
), newest AS MATERIALIZED (
    SELECT DISTINCT ON (series COLLATE "C", metric COLLATE "C") series, metric, value,
           observed_at
    FROM claimed
    ORDER BY series COLLATE "C", metric COLLATE "C", observed_at DESC
), lat AS (
    INSERT INTO metrics.latest_levels AS l (workspace_id, series, metric, level, level_at)
    SELECT $1, series, metric, value, observed_at
    FROM newest
    ON CONFLICT (workspace_id, series, metric) DO UPDATE
    SET level = excluded.level, level_at = excluded.level_at
    WHERE excluded.level_at >= l.level_at
), agg AS MATERIALIZED (
    SELECT DISTINCT ON (series COLLATE "C", metric COLLATE "C", day) series, metric, day,
           value AS level, observed_at AS level_at
    FROM (SELECT *, (observed_at AT TIME ZONE $3)::date AS day FROM claimed) c
    ORDER BY series COLLATE "C", metric COLLATE "C", day, observed_at DESC
), aff AS MATERIALIZED (
    SELECT series, metric, min(day) AS from_day FROM agg GROUP BY 1, 2
), cur AS MATERIALIZED (
    SELECT a.series, a.metric, a.from_day, l.level,
           (l.level_at AT TIME ZONE $3)::date AS last_day
    FROM aff a
    LEFT JOIN metrics.latest_levels l
           ON l.workspace_id = $1 AND l.series = a.series AND l.metric = a.metric
), old AS MATERIALIZED (
    SELECT a.series, a.metric, r.*
    FROM cur a
    JOIN LATERAL (
        SELECT day, level, level_at, value, channel, format, pillar, campaign_id, account_id
        FROM metrics.daily_rollups r
        WHERE r.workspace_id = $1 AND r.series = a.series AND r.metric = a.metric
          AND r.day >= a.from_day
        ORDER BY r.workspace_id, r.series, r.metric, r.day
        OFFSET 0  -- keep it a per-series probe of the primary key, not a join of everything
    ) r ON true
    WHERE a.last_day >= a.from_day
), before AS (
    SELECT a.series, a.metric,
           CASE WHEN a.last_day IS NULL THEN NULL
                WHEN a.last_day < a.from_day THEN a.level
                ELSE (SELECT p.level FROM metrics.daily_rollups p
                      WHERE p.workspace_id = $1 AND p.series = a.series
                        AND p.metric = a.metric AND p.day < a.from_day
                      ORDER BY p.workspace_id DESC, p.series DESC, p.metric DESC, p.day DESC
                      LIMIT 1)
           END AS level
    FROM cur a
), merged AS (
    SELECT coalesce(o.series, n.series) AS series, coalesce(o.metric, n.metric) AS metric,
           coalesce(o.day, n.day) AS day,
           CASE WHEN n.level_at IS NOT NULL AND (o.level_at IS NULL OR n.level_at >= o.level_at)
                THEN n.level ELSE o.level END AS level,
           CASE WHEN n.level_at IS NOT NULL AND (o.level_at IS NULL OR n.level_at >= o.level_at)
                THEN n.level_at ELSE o.level_at END AS level_at,
           o.day IS NULL AS fresh, o.level AS old_level, o.level_at AS old_level_at,
           o.value AS old_value, o.channel, o.format, o.pillar, o.campaign_id, o.account_id
    FROM old o
    FULL JOIN agg n ON n.series = o.series AND n.metric = o.metric AND n.day = o.day
), calc AS MATERIALIZED (
    SELECT m.*,
           CASE WHEN m.metric = ANY($5::text[]) THEN m.level
                ELSE m.level - coalesce(
                    lag(m.level) OVER (PARTITION BY m.series COLLATE "C", m.metric COLLATE "C"
                                       ORDER BY m.day),
                    b.level, 0)
           END AS value
    FROM merged m JOIN before b USING (series, metric)
), dims AS MATERIALIZED (
    SELECT s.series,
           CASE WHEN s.series LIKE 'p:%' THEN substr(s.series, 3) END AS publication_id,
           coalesce(p.account_id, a.account_id,
                    CASE WHEN s.series LIKE 'a:%' THEN substr(s.series, 3) END) AS account_id,
           coalesce(p.channel, a.channel) AS channel, p.format, p.pillar, p.campaign_id
    FROM (SELECT DISTINCT series FROM aff) s
    LEFT JOIN metrics.publications p ON s.series LIKE 'p:%' AND p.workspace_id = $1
         AND p.publication_id = substr(s.series, 3)
    LEFT JOIN metrics.accounts a ON s.series LIKE 'a:%' AND a.workspace_id = $1
         AND a.account_id = substr(s.series, 3)
), changed AS MATERIALIZED (
    SELECT c.series, c.metric, c.day, c.level, c.level_at, c.value,
           c.value - coalesce(c.old_value, 0) AS delta,
           CASE WHEN c.fresh THEN d.channel ELSE c.channel END AS channel,
           CASE WHEN c.fresh THEN d.format ELSE c.format END AS format,
           CASE WHEN c.fresh THEN d.pillar ELSE c.pillar END AS pillar,
           CASE WHEN c.fresh THEN d.campaign_id ELSE c.campaign_id END AS campaign_id,
           CASE WHEN c.fresh THEN d.account_id ELSE c.account_id END AS account_id,
           d.publication_id
    FROM calc c JOIN dims d USING (series)
    WHERE (c.level, c.level_at, c.value)
          IS DISTINCT FROM (c.old_level, c.old_level_at, c.old_value)
), up AS (
    INSERT INTO metrics.daily_rollups AS r (workspace_id, series, metric, day, publication_id,
        account_id, channel, format, pillar, campaign_id, level, level_at, value)
    SELECT $1, series, metric, day, publication_id, account_id, channel, format, pillar,
           campaign_id, level, level_at, value
    FROM changed
    ON CONFLICT (workspace_id, series, metric, day) DO UPDATE SET
        level = excluded.level, level_at = excluded.level_at, value = excluded.value
), tot AS ("""
    + totals_upsert(
        "SELECT day, metric, channel, format, pillar, campaign_id, account_id, "
        "sum(delta) AS delta FROM changed WHERE delta <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7",
        levels="$5",
    )
    + """)
SELECT (SELECT count(*) FROM claimed) AS claimed,
       (SELECT min(queued_at) FROM claimed) AS oldest,
       (SELECT coalesce(array_agg(substr(series, 3)), '{}') FROM
           (SELECT DISTINCT series FROM newest
            WHERE series LIKE 'p:%' AND metric = ANY($4::text[])) e) AS ranked
"""
)


@dataclass(frozen=True, slots=True)
class Rolled:
    claimed: int
    oldest: datetime | None  # when the oldest applied row was queued


async def roll_up_pending(
    session: AsyncSession,
    workspace_id: str,
    limit: int,
    shard: int = 0,
    *,
    wait: bool = False,
) -> Rolled | None:
    """Apply up to `limit` queued observations of a workspace's shard to the rollups,
    totals, latest levels and engagements, in the session's transaction. None when another
    transaction holds the shard's lock (unless `wait`)."""
    pg = await driver(session)
    key = rollup_lock_key(workspace_id, shard)
    if wait:
        await pg.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
    elif not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", key):
        return None
    timezone = await workspace_timezone(session, workspace_id)
    row = await pg.fetchrow(
        _ROLL,
        workspace_id,
        limit,
        timezone,
        list(ENGAGEMENT_PARTS),
        list(LEVEL_METRICS),
        shard,
        ROLLUP_SHARDS - 1,
    )
    if row["ranked"]:
        await pg.execute(_ENGAGEMENTS, workspace_id, sorted(row["ranked"]), list(ENGAGEMENT_PARTS))
    return Rolled(int(row["claimed"]), row["oldest"])


# The workspaces with queued rows, the one with the oldest row first.
PENDING_WORKSPACES = """
SELECT workspace_id AS ws FROM metrics.rollup_queue GROUP BY 1 ORDER BY min(id)
"""

# The backlog: rows waiting and the age of the oldest.
BACKLOG = "SELECT count(*) AS pending, min(queued_at) AS oldest FROM metrics.rollup_queue"


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
    await lock_rollups(session, workspace_id)
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
