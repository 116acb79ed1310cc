"""Queries shared by routes, handlers and the analyst (always filtered by workspace)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.domain.diagnosis import DiagnosisConfig, PostSnapshot
from services.metrics.domain.dictionary import (
    ENGAGEMENT_PARTS,
    EXPOSURE_FALLBACK,
    METRICS,
    with_derived,
)
from services.metrics.domain.goals import (
    Goal,
    GoalScope,
    GoalStatus,
    Observation,
    goal_value,
    progress,
)
from services.metrics.warehouse import (
    LEVEL_METRICS,
    SeriesDims,
    account_series,
    driver,
    invalidate_diagnoses,
    lock_rollups,
    publication_series,
    totals_upsert,
)

# --- publications, accounts, items -------------------------------------------------------


@dataclass(frozen=True)
class PublicationInfo:
    publication_id: str
    item_id: str | None
    topic_id: str | None
    campaign_id: str | None
    account_id: str | None
    channel: str
    format: str | None
    pillar: str | None
    title: str | None
    published_at: datetime
    external_id: str | None = None
    url: str | None = None

    @property
    def dims(self) -> SeriesDims:
        return SeriesDims(
            publication_series(self.publication_id),
            self.publication_id,
            self.account_id,
            self.channel,
            self.format,
            self.pillar,
            self.campaign_id,
        )


_PUB_COLUMNS = (
    "publication_id, item_id, topic_id, campaign_id, account_id, channel, format, pillar, "
    "title, published_at, external_id, url"
)


def _publication(row: Mapping[str, Any]) -> PublicationInfo:
    return PublicationInfo(**{k: row[k] for k in _PUB_COLUMNS.split(", ")})


async def register_account(
    session: AsyncSession, workspace_id: str, account_id: str, channel: str
) -> None:
    pg = await driver(session)
    await pg.execute(
        """
        INSERT INTO metrics.accounts (workspace_id, account_id, channel) VALUES ($1, $2, $3)
        ON CONFLICT (workspace_id, account_id) DO UPDATE SET channel = excluded.channel
        WHERE metrics.accounts.channel IS DISTINCT FROM excluded.channel
        """,
        workspace_id,
        account_id,
        channel,
    )


async def register_publication(
    session: AsyncSession, workspace_id: str, data: Mapping[str, Any]
) -> PublicationInfo:
    """Upsert a post from publication.published (or stats_captured when it came first).

    Missing format / pillar / title are taken from the approved item when known; rollup rows
    already written for the post get the new dimensions.
    """
    # Before the post's row changes: the rollup worker applies chunks under this lock and
    # reads dimensions then, so its rows and these moves never interleave (and it waits for
    # no row lock of ours while we wait for it).
    await lock_rollups(session, workspace_id)
    pg = await driver(session)
    row = await pg.fetchrow(
        f"""
        INSERT INTO metrics.publications AS p (workspace_id, publication_id, item_id,
            variant_id, topic_id, campaign_id, account_id, channel, external_id, url, format,
            pillar, title, published_at)
        SELECT $1, $2, $3, $4, coalesce($5, i.topic_id), coalesce($6, i.campaign_id), $7, $8,
               $9, $10, coalesce($11, i.format), coalesce($12, i.pillar),
               coalesce($13, i.title), $14
        FROM (SELECT 1) one
        LEFT JOIN metrics.items i ON i.workspace_id = $1 AND i.item_id = $3
        ON CONFLICT (workspace_id, publication_id) DO UPDATE SET
            item_id = coalesce(excluded.item_id, p.item_id),
            variant_id = coalesce(excluded.variant_id, p.variant_id),
            topic_id = coalesce(excluded.topic_id, p.topic_id),
            campaign_id = coalesce(excluded.campaign_id, p.campaign_id),
            account_id = coalesce(excluded.account_id, p.account_id),
            channel = excluded.channel,
            external_id = coalesce(excluded.external_id, p.external_id),
            url = coalesce(excluded.url, p.url),
            format = coalesce(excluded.format, p.format),
            pillar = coalesce(excluded.pillar, p.pillar),
            title = coalesce(excluded.title, p.title),
            published_at = excluded.published_at
        RETURNING {_PUB_COLUMNS}
        """,
        workspace_id,
        data["publication_id"],
        data.get("item_id"),
        data.get("variant_id"),
        data.get("topic_id"),
        data.get("campaign_id"),
        data.get("account_id"),
        data["channel"],
        data.get("external_id"),
        data.get("url"),
        data.get("format"),
        data.get("pillar"),
        data.get("title"),
        data["published_at"],
    )
    info = _publication(row)
    if info.account_id:
        await register_account(session, workspace_id, info.account_id, info.channel)
    await _refresh_rollup_dims(session, workspace_id, [info])
    return info


async def _refresh_rollup_dims(
    session: AsyncSession, workspace_id: str, pubs: Sequence[PublicationInfo]
) -> None:
    """Give a post's rollup rows its current dimensions, moving its totals along."""
    if not pubs:
        return
    pg = await driver(session)
    moved_where = """
        WHERE s.workspace_id = $1 AND s.publication_id = ANY($2::text[])
          AND p.workspace_id = s.workspace_id AND p.publication_id = s.publication_id
          AND (s.channel, s.format, s.published_at)
              IS DISTINCT FROM (p.channel, p.format, p.published_at)
    """
    ids = [p.publication_id for p in pubs]
    moved = await pg.fetch(
        "SELECT DISTINCT s.publication_id FROM metrics.checkpoint_snapshots s, "
        f"metrics.publications p {moved_where}",
        workspace_id,
        ids,
    )
    if moved:
        # Stored diagnoses around the old place and the new one become stale.
        cfg = DiagnosisConfig()
        moved_ids = [r["publication_id"] for r in moved]
        await invalidate_diagnoses(session, workspace_id, moved_ids, cfg.checkpoints, cfg.window)
        await pg.execute(
            "UPDATE metrics.checkpoint_snapshots s SET channel = p.channel, format = p.format, "
            f"published_at = p.published_at FROM metrics.publications p {moved_where}",
            workspace_id,
            ids,
        )
        await invalidate_diagnoses(session, workspace_id, moved_ids, cfg.checkpoints, cfg.window)
    args = [
        workspace_id,
        [p.dims.series for p in pubs],
        [p.channel for p in pubs],
        [p.format for p in pubs],
        [p.pillar for p in pubs],
        [p.campaign_id for p in pubs],
        [p.account_id for p in pubs],
    ]
    target = """
        FROM metrics.daily_rollups r,
             unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
             AS d(series, channel, format, pillar, campaign_id, account_id)
        WHERE r.workspace_id = $1 AND r.series = d.series
          AND (r.channel, r.format, r.pillar, r.campaign_id, r.account_id)
              IS DISTINCT FROM (d.channel, d.format, d.pillar, d.campaign_id, d.account_id)
    """
    changed = await pg.fetch(f"SELECT DISTINCT r.series {target}", *args)
    if not changed:
        return
    series = sorted(r["series"] for r in changed)
    moved = (
        "SELECT day, metric, channel, format, pillar, campaign_id, account_id, {sign} value "
        "AS delta FROM metrics.daily_rollups WHERE workspace_id = $1 "
        "AND series = ANY($2::text[])"
    )
    await pg.execute(
        totals_upsert(moved.format(sign="-"), levels="$3"),
        workspace_id,
        series,
        list(LEVEL_METRICS),
    )
    await pg.execute(
        f"""
        UPDATE metrics.daily_rollups u
        SET channel = d.channel, format = d.format, pillar = d.pillar,
            campaign_id = d.campaign_id, account_id = d.account_id
        {target}
          AND u.workspace_id = r.workspace_id AND u.series = r.series
          AND u.metric = r.metric AND u.day = r.day
        """,
        *args,
    )
    await pg.execute(
        totals_upsert(moved.format(sign=""), levels="$3"), workspace_id, series, list(LEVEL_METRICS)
    )


async def register_item(session: AsyncSession, workspace_id: str, data: Mapping[str, Any]) -> None:
    """Upsert an approved item; its already-published posts get the missing dimensions."""
    await lock_rollups(session, workspace_id)  # see register_publication
    pg = await driver(session)
    await pg.execute(
        """
        INSERT INTO metrics.items AS i (workspace_id, item_id, title, format, pillar, topic_id,
            campaign_id, title_alternatives)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
        ON CONFLICT (workspace_id, item_id) DO UPDATE SET
            title = excluded.title, format = excluded.format,
            pillar = coalesce(excluded.pillar, i.pillar),
            topic_id = coalesce(excluded.topic_id, i.topic_id),
            campaign_id = coalesce(excluded.campaign_id, i.campaign_id),
            title_alternatives = excluded.title_alternatives
        """,
        workspace_id,
        data["item_id"],
        data.get("title"),
        data.get("format"),
        data.get("pillar"),
        data.get("topic_id"),
        data.get("campaign_id"),
        json.dumps(list(data.get("title_alternatives") or [])),
    )
    rows = await pg.fetch(
        f"""
        UPDATE metrics.publications p SET
            format = coalesce(p.format, i.format), pillar = coalesce(p.pillar, i.pillar),
            title = coalesce(p.title, i.title), topic_id = coalesce(p.topic_id, i.topic_id),
            campaign_id = coalesce(p.campaign_id, i.campaign_id)
        FROM metrics.items i
        WHERE p.workspace_id = $1 AND p.item_id = $2
          AND i.workspace_id = p.workspace_id AND i.item_id = p.item_id
        RETURNING {", ".join("p." + c for c in _PUB_COLUMNS.split(", "))}
        """,
        workspace_id,
        data["item_id"],
    )
    await _refresh_rollup_dims(session, workspace_id, [_publication(r) for r in rows])


async def get_publication(
    session: AsyncSession, workspace_id: str, publication_id: str
) -> PublicationInfo | None:
    pg = await driver(session)
    row = await pg.fetchrow(
        f"SELECT {_PUB_COLUMNS} FROM metrics.publications "
        "WHERE workspace_id = $1 AND publication_id = $2",
        workspace_id,
        publication_id,
    )
    return None if row is None else _publication(row)


async def series_dims(
    session: AsyncSession,
    workspace_id: str,
    publication_ids: Iterable[str],
    account_ids: Iterable[str],
) -> tuple[dict[str, SeriesDims], dict[str, SeriesDims]]:
    """Known publications and accounts among the ids (unknown ones are simply absent)."""
    pg = await driver(session)
    pub_ids, acc_ids = sorted(set(publication_ids)), sorted(set(account_ids))
    pubs: dict[str, SeriesDims] = {}
    accs: dict[str, SeriesDims] = {}
    if pub_ids:
        for row in await pg.fetch(
            f"SELECT {_PUB_COLUMNS} FROM metrics.publications "
            "WHERE workspace_id = $1 AND publication_id = ANY($2::text[])",
            workspace_id,
            pub_ids,
        ):
            pubs[row["publication_id"]] = _publication(row).dims
    if acc_ids:
        for row in await pg.fetch(
            "SELECT account_id, channel FROM metrics.accounts "
            "WHERE workspace_id = $1 AND account_id = ANY($2::text[])",
            workspace_id,
            acc_ids,
        ):
            aid = row["account_id"]
            accs[aid] = SeriesDims(account_series(aid), None, aid, row["channel"])
    return pubs, accs


async def publications_by_external_id(
    session: AsyncSession, workspace_id: str, external_ids: Iterable[str]
) -> dict[str, str]:
    ids = sorted(set(external_ids))
    if not ids:
        return {}
    pg = await driver(session)
    rows = await pg.fetch(
        "SELECT external_id, publication_id FROM metrics.publications "
        "WHERE workspace_id = $1 AND external_id = ANY($2::text[])",
        workspace_id,
        ids,
    )
    return {r["external_id"]: r["publication_id"] for r in rows}


async def latest_values(
    session: AsyncSession, workspace_id: str, series: str
) -> tuple[dict[str, float], datetime | None]:
    pg = await driver(session)
    rows = await pg.fetch(
        """
        SELECT DISTINCT ON (metric) metric, value, observed_at
        FROM metrics.observations
        WHERE workspace_id = $1 AND series = $2
        ORDER BY metric, observed_at DESC, source DESC
        """,
        workspace_id,
        series,
    )
    last = max((r["observed_at"] for r in rows), default=None)
    return {r["metric"]: r["value"] for r in rows}, last


async def snapshots(
    session: AsyncSession, workspace_id: str, publication_id: str
) -> list[Mapping[str, Any]]:
    pg = await driver(session)
    rows = await pg.fetch(
        "SELECT checkpoint, captured_at, values FROM metrics.checkpoint_snapshots "
        "WHERE workspace_id = $1 AND publication_id = $2 ORDER BY captured_at",
        workspace_id,
        publication_id,
    )
    return [
        {
            "checkpoint": r["checkpoint"],
            "captured_at": r["captured_at"],
            "values": json_value(r["values"]),
        }
        for r in rows
    ]


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def peer_snapshots(
    session: AsyncSession,
    workspace_id: str,
    channel: str,
    format: str | None,
    checkpoints: Sequence[str],
    since: datetime,
    until: datetime,
) -> list[PostSnapshot]:
    """Checkpoint values of posts on the same channel and format published in [since, until)."""
    pg = await driver(session)
    fmt_sql = "s.format = $3" if format is not None else "s.format IS NULL AND $3::text IS NULL"
    rows = await pg.fetch(
        f"""
        SELECT s.publication_id, s.published_at, s.checkpoint, {_SNAPSHOT_FIELDS}
        FROM metrics.checkpoint_snapshots s
        WHERE s.workspace_id = $1 AND s.channel = $2
          AND {fmt_sql} AND s.checkpoint = ANY($4::text[])
          AND s.published_at >= $5 AND s.published_at < $6
        """,
        workspace_id,
        channel,
        format,
        list(checkpoints),
        since,
        until,
    )
    return [
        PostSnapshot(
            r["publication_id"],
            channel,
            format or "",
            r["published_at"],
            r["checkpoint"],
            {m: r[m] for m in DIAGNOSED_METRICS if r[m] is not None},
        )
        for r in rows
    ]


# What the diagnosis reads of a peer, as typed columns (cheaper than decoding JSON per row).
DIAGNOSED_METRICS = (
    *EXPOSURE_FALLBACK,
    *ENGAGEMENT_PARTS,
    "clicks",
    "follows_gained",
    "conversions",
)
_SNAPSHOT_FIELDS = ", ".join(f"(s.values->>'{m}')::float8 AS {m}" for m in DIAGNOSED_METRICS)


# --- goals -------------------------------------------------------------------------------


def goal_from_row(row: Mapping[str, Any]) -> Goal:
    return Goal(
        goal_id=row["goal_id"],
        metric=row["metric"],
        target=row["target"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        baseline=row["baseline"],
        scope=GoalScope(channel=row["channel"], campaign_id=row["campaign_id"]),
        name=row["name"],
    )


async def upsert_goal(session: AsyncSession, workspace_id: str, data: Mapping[str, Any]) -> None:
    pg = await driver(session)
    await pg.execute(
        """
        INSERT INTO metrics.goals AS g (id, workspace_id, goal_id, name, metric, target,
            baseline, period_start, period_end, channel, campaign_id, status)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (workspace_id, goal_id) DO UPDATE SET
            name = excluded.name, metric = excluded.metric, target = excluded.target,
            baseline = excluded.baseline, period_start = excluded.period_start,
            period_end = excluded.period_end, channel = excluded.channel,
            campaign_id = excluded.campaign_id, status = excluded.status, updated_at = now()
        """,
        uuid.uuid4(),
        workspace_id,
        data["goal_id"],
        data.get("name") or "",
        data["metric"],
        float(data["target"]),
        float(data.get("baseline") or 0.0),
        data["period_start"],
        data["period_end"],
        data.get("channel"),
        data.get("campaign_id"),
        data.get("status") or "active",
    )


GOAL_COLUMNS = (
    "id, goal_id, name, metric, target, baseline, period_start, period_end, channel, "
    "campaign_id, status, current, ratio, expected, on_track, measured_at, emitted_value, "
    "emitted_on_track, emitted_at, created_at"
)


def _goal_inputs(metric: str) -> list[str]:
    if metric == "engagements":
        return list(ENGAGEMENT_PARTS)
    if metric == "engagement_rate":
        return [*ENGAGEMENT_PARTS, *EXPOSURE_FALLBACK]
    if metric == "ctr":
        return ["clicks", "impressions"]
    if metric == "completion_rate":
        return ["completion_rate", "views"]
    return [metric]


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


async def goal_observations(
    session: AsyncSession, workspace_id: str, goal: Goal, tz: str
) -> list[Observation]:
    """Daily closing levels of the goal's inputs in its scope: every day of the period plus,
    per series, the last day before it (the level the period starts from)."""
    pg = await driver(session)
    first = local_day(goal.period_start, tz)
    last = local_day(goal.period_end - timedelta(microseconds=1), tz)
    args = [
        workspace_id,
        _goal_inputs(goal.metric),
        first,
        last,
        goal.scope.channel,
        goal.scope.campaign_id,
    ]
    scope_sql = "AND ($5::text IS NULL OR channel = $5) AND ($6::text IS NULL OR campaign_id = $6)"
    rows = await pg.fetch(
        f"""
        SELECT series, metric, level, level_at, channel, campaign_id, account_id
        FROM metrics.daily_rollups
        WHERE workspace_id = $1 AND metric = ANY($2::text[]) AND day BETWEEN $3 AND $4
        {scope_sql}
        UNION ALL
        SELECT * FROM (
            SELECT DISTINCT ON (series, metric) series, metric, level, level_at, channel,
                   campaign_id, account_id
            FROM metrics.daily_rollups
            WHERE workspace_id = $1 AND metric = ANY($2::text[]) AND day < $3
              AND series IN (
                  SELECT DISTINCT series FROM metrics.daily_rollups
                  WHERE workspace_id = $1 AND metric = ANY($2::text[])
                    AND day BETWEEN $3 AND $4 {scope_sql})
            ORDER BY series, metric, day DESC
        ) before_start
        """,
        *args,
    )
    return [
        Observation(
            series=r["series"],
            metric=r["metric"],
            value=r["level"],
            observed_at=r["level_at"],
            channel=r["channel"],
            campaign_id=r["campaign_id"],
            account_id=r["account_id"],
        )
        for r in rows
    ]


async def measure_goal(
    session: AsyncSession, workspace_id: str, goal: Goal, tz: str, now: datetime
) -> GoalStatus:
    value = None
    if now > goal.period_start and goal.period_end > goal.period_start:
        observations = await goal_observations(session, workspace_id, goal, tz)
        value = goal_value(
            goal.metric, goal.scope, goal.period_start, goal.period_end, observations
        )
    return GoalStatus(goal, progress(goal, value, now))


def goal_json(row: Mapping[str, Any], status: GoalStatus | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["goal_id"],
        "name": row["name"],
        "metric": row["metric"],
        "target": row["target"],
        "baseline": row["baseline"],
        "period_start": row["period_start"].isoformat(),
        "period_end": row["period_end"].isoformat(),
        "channel": row["channel"],
        "campaign_id": row["campaign_id"],
        "status": row["status"],
    }
    if status is not None:
        pace = status.pace
        body["progress"] = {
            "current": pace.current,
            "ratio": pace.ratio,
            "expected": pace.expected,
            "on_track": pace.on_track,
        }
    return body


# --- per-post results for insights and reports ---------------------------------------------


async def post_totals(
    session: AsyncSession,
    workspace_id: str,
    published_from: datetime,
    published_to: datetime,
    metrics: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Latest cumulative values per post published in [from, to)."""
    pg = await driver(session)
    wanted = list(metrics) if metrics else [m for m, d in METRICS.items() if not d.derived]
    rows = await pg.fetch(
        """
        SELECT p.publication_id, l.metric, l.level AS total
        FROM metrics.publications p
        JOIN metrics.latest_levels l
          ON l.workspace_id = p.workspace_id AND l.series = 'p:' || p.publication_id
         AND l.metric = ANY($4::text[])
        WHERE p.workspace_id = $1 AND p.published_at >= $2 AND p.published_at < $3

        """,
        workspace_id,
        published_from,
        published_to,
        wanted,
    )
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r["publication_id"], {})[r["metric"]] = float(r["total"])
    return out


async def publications_between(
    session: AsyncSession, workspace_id: str, since: datetime, until: datetime
) -> list[PublicationInfo]:
    pg = await driver(session)
    rows = await pg.fetch(
        f"SELECT {_PUB_COLUMNS} FROM metrics.publications WHERE workspace_id = $1 "
        "AND published_at >= $2 AND published_at < $3",
        workspace_id,
        since,
        until,
    )
    return [_publication(r) for r in rows]


def values_json(values: Mapping[str, float]) -> dict[str, float]:
    return with_derived(values)
