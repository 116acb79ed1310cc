"""Reports from the warehouse: the database aggregates, the domain assembles.

One statement reads the daily rollups of the period and the one before it and returns,
for each period, the sums per metric overall, per dimension value (GROUPING SETS) and per
day. Counters are summed; gauges (followers) take each series' last level in the period;
stored ratios are not totalled (derived ratios are recomputed from summed parts). Only the
few top and bottom posts are read in full, with their diagnosis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.domain.diagnosis import (
    Diagnosis,
    DiagnosisConfig,
    PostSnapshot,
    diagnose,
    diagnose_in_order,
    diagnosis_from_dict,
)
from services.metrics.domain.dictionary import (
    ENGAGEMENT_PARTS,
    EXPOSURE_FALLBACK,
    METRICS,
    MetricKind,
    with_derived,
)
from services.metrics.domain.goals import GoalStatus
from services.metrics.domain.reports import (
    DIMENSIONS,
    Aggregates,
    CompetitorFigure,
    ReportPost,
    ReportRange,
    assemble_report,
)
from services.metrics.repository import (
    goal_from_row,
    json_value,
    measure_goal,
    peer_snapshots,
    post_totals,
    snapshots,
)
from services.metrics.warehouse import (
    driver,
    invalidate_diagnoses,
    publication_series,
    read_transaction,
)

GAUGES = [n for n, d in METRICS.items() if d.kind is MetricKind.GAUGE]
RATIOS = [n for n, d in METRICS.items() if d.kind is MetricKind.RATIO and not d.derived]

_DIMS = """CROSS JOIN LATERAL (VALUES ('all', ''), ('channel', coalesce(channel, '')),
        ('format', coalesce(format, '')), ('pillar', coalesce(pillar, '')),
        ('campaign', coalesce(campaign_id, '')), ('account', coalesce(account_id, '')))
        AS x(dimension, key)"""

# Counters from daily_totals (a few thousand rows per period whatever the volume); gauges
# (followers) from the rollups: each series' last level in the period, summed.
_AGGREGATE = f"""
WITH g AS (
    SELECT (day >= $2) AS cur, series, metric, day, level,
           channel, format, pillar, campaign_id, account_id
    FROM metrics.daily_rollups
    WHERE workspace_id = $1 AND metric = ANY($5::text[]) AND day >= $3 AND day <= $4
), last AS (
    SELECT DISTINCT ON (cur, series, metric) * FROM g ORDER BY cur, series, metric, day DESC
)
SELECT (day >= $2) AS cur, dimension, key, metric, sum(value) AS total, NULL::date AS day
FROM metrics.daily_totals
WHERE workspace_id = $1 AND day >= $3 AND day <= $4
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT true, 'day', '', metric, value, day
FROM metrics.daily_totals
WHERE workspace_id = $1 AND dimension = 'all' AND day >= $2 AND day <= $4
UNION ALL
SELECT cur, x.dimension, x.key, metric, sum(level), NULL::date
FROM last {_DIMS}
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT true, 'day', '', metric, sum(level), day FROM g WHERE cur GROUP BY metric, day
"""


async def aggregates(
    session: AsyncSession, workspace_id: str, window: ReportRange
) -> tuple[Aggregates, Aggregates]:
    pg = await driver(session)
    length = (window.last_day - window.first_day).days + 1
    if window.kind == "month":
        prev_first = (window.first_day - timedelta(days=1)).replace(day=1)
    else:
        prev_first = window.first_day - timedelta(days=length)
    rows = await pg.fetch(
        _AGGREGATE, workspace_id, window.first_day, prev_first, window.last_day, GAUGES
    )
    sums: dict[bool, dict[str, float]] = {True: {}, False: {}}
    by: dict[bool, dict[str, dict[Any, dict[str, float]]]] = {True: {}, False: {}}
    daily: dict[date, dict[str, float]] = {}
    for r in rows:
        cur, dimension, metric, total = r["cur"], r["dimension"], r["metric"], float(r["total"])
        if dimension == "day":
            daily.setdefault(r["day"], {})[metric] = total
        elif dimension == "all":
            sums[cur][metric] = total
        else:
            key = r["key"] or None
            by[cur].setdefault(dimension, {}).setdefault(key, {})[metric] = total

    def finish(cur: bool, with_daily: bool) -> Aggregates:
        groups = {
            d: {k: with_derived(v) for k, v in by[cur].get(d, {}).items()} for d in DIMENSIONS
        }
        days = {d: with_derived(v) for d, v in daily.items()} if with_daily else {}
        return Aggregates(with_derived(sums[cur]), groups, days)

    return finish(True, True), finish(False, False)


def _primary_inputs(metric: str) -> list[str]:
    if metric == "engagements":
        return list(ENGAGEMENT_PARTS)
    if metric == "engagement_rate":
        return [*ENGAGEMENT_PARTS, *EXPOSURE_FALLBACK]
    if metric == "ctr":
        return ["clicks", "impressions"]
    return [metric]


async def diagnose_post(
    session: AsyncSession,
    workspace_id: str,
    publication_id: str,
    channel: str,
    format: str | None,
    published_at: datetime,
    config: DiagnosisConfig = DiagnosisConfig(),
) -> list[tuple[str, Diagnosis]]:
    """(checkpoint, finding) at each of the post's diagnosed checkpoints (24 h, 72 h)."""
    out: list[tuple[str, Diagnosis]] = []
    for snap in await snapshots(session, workspace_id, publication_id):
        if snap["checkpoint"] not in config.checkpoints:
            continue
        post = PostSnapshot(
            publication_id,
            channel,
            format or "",
            published_at,
            snap["checkpoint"],
            {k: float(v) for k, v in snap["values"].items()},
        )
        peers = await peer_snapshots(
            session,
            workspace_id,
            channel,
            format,
            [snap["checkpoint"]],
            published_at - config.window,
            published_at,
        )
        for finding in diagnose(post, peers, config):
            out.append((snap["checkpoint"], finding))
    return out


# Top n by (engagements desc, id), then the bottom n of the rest (the same order's tail).
_RANK_ENGAGEMENTS = """
WITH week AS MATERIALIZED (
    SELECT publication_id, engagements FROM metrics.publications
    WHERE workspace_id = $1 AND published_at >= $2 AND published_at < $3
      AND engagements IS NOT NULL
), top AS (
    SELECT publication_id FROM week ORDER BY engagements DESC, publication_id LIMIT $4
), bottom AS (
    SELECT publication_id FROM week
    WHERE publication_id NOT IN (SELECT publication_id FROM top)
    ORDER BY engagements, publication_id DESC LIMIT $4
)
SELECT coalesce(array_agg(publication_id), '{}')
FROM (SELECT publication_id FROM top UNION ALL SELECT publication_id FROM bottom) chosen
"""


async def report_posts(
    session: AsyncSession, workspace_id: str, window: ReportRange, primary: str, top_n: int
) -> list[ReportPost]:
    """Top and bottom posts published in the period (read in full, with their diagnosis)."""
    pg = await driver(session)
    bounds = window.bounds
    if primary == "engagements":
        # Ranked on the stored value (kept by ingestion): two top-n reads of the week's posts.
        chosen = await pg.fetchval(_RANK_ENGAGEMENTS, workspace_id, bounds.start, bounds.end, top_n)
    else:
        inputs = await post_totals(
            session, workspace_id, bounds.start, bounds.end, _primary_inputs(primary)
        )
        ranked = sorted(inputs, key=lambda p: (-(with_derived(inputs[p]).get(primary) or 0.0), p))
        chosen = ranked[:top_n] + [p for p in ranked[top_n:][-top_n:]]
    if not chosen:
        return []
    rows = await pg.fetch(
        "SELECT publication_id, title, channel, format, published_at FROM metrics.publications "
        "WHERE workspace_id = $1 AND publication_id = ANY($2::text[])",
        workspace_id,
        chosen,
    )
    values = await _values_of(session, workspace_id, chosen)
    findings = await _diagnose_many(session, workspace_id, rows)
    return [
        ReportPost(
            r["publication_id"],
            r["title"] or "",
            r["channel"],
            r["format"],
            r["published_at"],
            values.get(r["publication_id"], {}),
            latest_findings(findings.get(r["publication_id"], [])),
        )
        for r in rows
    ]


async def _diagnose_many(
    session: AsyncSession,
    workspace_id: str,
    posts: Sequence[Any],
    config: DiagnosisConfig = DiagnosisConfig(),
) -> dict[str, list[tuple[str, Diagnosis]]]:
    """Diagnoses of several posts: one baseline query per channel and format."""
    pg = await driver(session)
    own = await pg.fetch(
        "SELECT publication_id, checkpoint, values, findings FROM metrics.checkpoint_snapshots "
        "WHERE workspace_id = $1 AND publication_id = ANY($2::text[]) "
        "AND checkpoint = ANY($3::text[])",
        workspace_id,
        [p["publication_id"] for p in posts],
        list(config.checkpoints),
    )
    # A report shows the latest diagnosed checkpoint of each post (72 h over 24 h).
    order = list(config.checkpoints)
    snaps: dict[str, list[Any]] = {}
    for r in sorted(own, key=lambda r: order.index(r["checkpoint"])):
        snaps[r["publication_id"]] = [r]
    groups: dict[tuple[str, str | None], list[Any]] = {}
    out: dict[str, list[tuple[str, Diagnosis]]] = {}
    for p in posts:
        snap = snaps.get(p["publication_id"])
        if snap is None:
            continue
        stored = snap[0]["findings"]
        if stored is not None:  # stored when the snapshot arrived, still valid
            cp = snap[0]["checkpoint"]
            found = [(cp, diagnosis_from_dict(d)) for d in json_value(stored)]
            if found:
                out[p["publication_id"]] = found
            continue
        groups.setdefault((p["channel"], p["format"]), []).append(p)
    for (channel, fmt), members in groups.items():
        since = min(m["published_at"] for m in members) - config.window
        until = max(m["published_at"] for m in members)
        wanted = sorted({snaps[m["publication_id"]][0]["checkpoint"] for m in members})
        candidates = await peer_snapshots(session, workspace_id, channel, fmt, wanted, since, until)
        for m in members:
            for snap in snaps[m["publication_id"]]:
                post = PostSnapshot(
                    m["publication_id"],
                    channel,
                    fmt or "",
                    m["published_at"],
                    snap["checkpoint"],
                    {k: float(v) for k, v in json_value(snap["values"]).items()},
                )
                for finding in diagnose(post, candidates, config):
                    out.setdefault(m["publication_id"], []).append((snap["checkpoint"], finding))
    return out


async def lock_diagnosis_group(
    session: AsyncSession, workspace_id: str, channel: str, format: str | None, checkpoint: str
) -> None:
    """Serialise the writers of one baseline group (channel, format, checkpoint): a stored
    diagnosis must never be computed from peers a concurrent transaction is changing."""
    pg = await driver(session)
    key = "/".join((workspace_id, channel, format or "", checkpoint))
    await pg.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('metrics.diagnosis/' || $1, 0))", key
    )


async def store_diagnosis(
    session: AsyncSession,
    workspace_id: str,
    publication_id: str,
    checkpoint: str,
    config: DiagnosisConfig = DiagnosisConfig(),
) -> list[Diagnosis] | None:
    """Diagnose a post at a checkpoint whose snapshot just arrived and store the findings;
    the stored diagnoses of the later posts whose baseline holds this one are forgotten
    (recomputed by the report, stored again by the analyst). None when not diagnosed."""
    if checkpoint not in config.checkpoints:
        return None
    pg = await driver(session)
    row = await pg.fetchrow(
        "SELECT channel, format, published_at, values FROM metrics.checkpoint_snapshots "
        "WHERE workspace_id = $1 AND publication_id = $2 AND checkpoint = $3",
        workspace_id,
        publication_id,
        checkpoint,
    )
    if row is None or row["channel"] is None or row["published_at"] is None:
        return None
    channel, fmt, published_at = row["channel"], row["format"], row["published_at"]
    await lock_diagnosis_group(session, workspace_id, channel, fmt, checkpoint)
    await invalidate_diagnoses(session, workspace_id, [publication_id], [checkpoint], config.window)
    peers = await peer_snapshots(
        session,
        workspace_id,
        channel,
        fmt,
        [checkpoint],
        published_at - config.window,
        published_at,
    )
    post = PostSnapshot(
        publication_id,
        channel,
        fmt or "",
        published_at,
        checkpoint,
        {k: float(v) for k, v in json_value(row["values"]).items()},
    )
    findings = diagnose(post, peers, config)
    await pg.execute(
        "UPDATE metrics.checkpoint_snapshots SET findings = $4::jsonb "
        "WHERE workspace_id = $1 AND publication_id = $2 AND checkpoint = $3",
        workspace_id,
        publication_id,
        checkpoint,
        json.dumps([f.as_dict() for f in findings]),
    )
    return findings


async def refresh_diagnoses(
    session: AsyncSession, workspace_id: str, config: DiagnosisConfig = DiagnosisConfig()
) -> int:
    """Store the diagnoses not stored yet (or forgotten) of a workspace, a baseline group at
    a time in one pass over its posts (`diagnose_in_order`); returns how many were stored."""
    pg = await driver(session)
    groups = await pg.fetch(
        "SELECT channel, format, checkpoint, min(published_at) AS since, "
        "max(published_at) AS until FROM metrics.checkpoint_snapshots "
        "WHERE workspace_id = $1 AND findings IS NULL AND checkpoint = ANY($2::text[]) "
        "AND channel IS NOT NULL AND published_at IS NOT NULL "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2 NULLS FIRST, 3",
        workspace_id,
        list(config.checkpoints),
    )
    stored = 0
    for g in groups:
        channel, fmt, checkpoint = g["channel"], g["format"], g["checkpoint"]
        await lock_diagnosis_group(session, workspace_id, channel, fmt, checkpoint)
        fmt_sql = "format = $3" if fmt is not None else "format IS NULL AND $3::text IS NULL"
        missing = {
            r["publication_id"]
            for r in await pg.fetch(
                "SELECT publication_id FROM metrics.checkpoint_snapshots "
                f"WHERE workspace_id = $1 AND channel = $2 AND {fmt_sql} AND checkpoint = $4 "
                "AND findings IS NULL AND published_at IS NOT NULL",
                workspace_id,
                channel,
                fmt,
                checkpoint,
            )
        }
        if not missing:
            continue
        posts = await peer_snapshots(
            session,
            workspace_id,
            channel,
            fmt,
            [checkpoint],
            g["since"] - config.window,
            g["until"] + timedelta(microseconds=1),
        )
        posts.sort(key=lambda p: p.published_at)
        ids: list[str] = []
        bodies: list[str] = []
        for post, findings in diagnose_in_order(posts, config):
            if post.publication_id in missing:
                ids.append(post.publication_id)
                bodies.append(json.dumps([f.as_dict() for f in findings]))
        await pg.execute(
            "UPDATE metrics.checkpoint_snapshots s SET findings = u.findings::jsonb "
            "FROM unnest($2::text[], $3::text[]) AS u(publication_id, findings) "
            "WHERE s.workspace_id = $1 AND s.publication_id = u.publication_id "
            "AND s.checkpoint = $4",
            workspace_id,
            ids,
            bodies,
            checkpoint,
        )
        stored += len(ids)
    return stored


def latest_findings(findings: Sequence[tuple[str, Diagnosis]]) -> list[Diagnosis]:
    """The findings of the latest diagnosed checkpoint (72 h over 24 h)."""
    if not findings:
        return []
    order = list(DiagnosisConfig().checkpoints)
    latest = max((cp for cp, _ in findings), key=lambda c: order.index(c) if c in order else -1)
    return [d for cp, d in findings if cp == latest]


async def _values_of(
    session: AsyncSession, workspace_id: str, publication_ids: Sequence[str]
) -> dict[str, dict[str, float]]:
    # By series (the primary key's prefix): a post's rollup rows are its series' rows.
    pg = await driver(session)
    rows = await pg.fetch(
        """
        SELECT publication_id, metric,
               CASE WHEN metric = ANY($3::text[])
                    THEN (array_agg(level ORDER BY day DESC))[1]
                    ELSE sum(value) END AS total
        FROM metrics.daily_rollups
        WHERE workspace_id = $1 AND series = ANY($2::text[])
        GROUP BY publication_id, metric
        """,
        workspace_id,
        [publication_series(p) for p in publication_ids],
        [*GAUGES, *RATIOS],
    )
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r["publication_id"], {})[r["metric"]] = float(r["total"])
    return out


async def report_goals(
    session: AsyncSession, workspace_id: str, window: ReportRange, tz: str, now: datetime
) -> list[GoalStatus]:
    pg = await driver(session)
    rows = await pg.fetch(
        "SELECT * FROM metrics.goals WHERE workspace_id = $1 AND status <> 'archived' "
        "AND period_start < $3 AND period_end > $2 ORDER BY period_end, goal_id LIMIT 50",
        workspace_id,
        window.bounds.start,
        window.bounds.end,
    )
    return [
        await measure_goal(session, workspace_id, goal_from_row(r), tz, min(now, r["period_end"]))
        for r in rows
    ]


async def report_competitors(
    session: AsyncSession, workspace_id: str, window: ReportRange
) -> list[CompetitorFigure]:
    """Each competitor's last known level by the end of the period and of the one before."""
    pg = await driver(session)
    rows = await pg.fetch(
        """
        SELECT c.name, c.channel, m.metric,
               (SELECT value FROM metrics.competitor_points p
                 WHERE p.workspace_id = c.workspace_id AND p.competitor_id = c.id
                   AND p.metric = m.metric AND p.observed_at < $2
                 ORDER BY observed_at DESC LIMIT 1) AS current,
               (SELECT value FROM metrics.competitor_points p
                 WHERE p.workspace_id = c.workspace_id AND p.competitor_id = c.id
                   AND p.metric = m.metric AND p.observed_at < $3
                 ORDER BY observed_at DESC LIMIT 1) AS previous
        FROM metrics.competitors c
        JOIN LATERAL (SELECT DISTINCT metric FROM metrics.competitor_points p
                      WHERE p.workspace_id = c.workspace_id AND p.competitor_id = c.id) m
          ON true
        WHERE c.workspace_id = $1
        ORDER BY c.name, m.metric
        """,
        workspace_id,
        window.bounds.end,
        window.bounds.start,
    )
    return [
        CompetitorFigure(r["name"], r["channel"], r["metric"], r["current"], r["previous"])
        for r in rows
        if r["current"] is not None
    ]


async def build(
    session: AsyncSession,
    workspace_id: str,
    window: ReportRange,
    tz: str,
    now: datetime,
    primary: str = "engagements",
    top_n: int = 5,
) -> dict[str, Any]:
    async with read_transaction(session):
        current, previous = await aggregates(session, workspace_id, window)
        posts = await report_posts(session, workspace_id, window, primary, top_n)
        goals = await report_goals(session, workspace_id, window, tz, now)
        competitors = await report_competitors(session, workspace_id, window)
    return assemble_report(
        window,
        current,
        previous,
        DIMENSIONS,
        posts,
        goals,
        competitors,
        primary,
        top_n,
    )
