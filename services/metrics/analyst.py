"""The analyst worker: goal progress, insights and the weekly report, workspace by workspace.

Each pass claims workspaces one at a time (`FOR UPDATE SKIP LOCKED` on `workspaces`, the
claim committed at once, so several replicas share the work and none repeats it within the
interval), then runs short transactions: goals, insights, the scheduled report. Before that,
housekeeping: the observation partitions of this month and the next, and the purge of raw
payloads past the retention.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.metrics import reporting
from services.metrics.config import MetricsConfig, config_of
from services.metrics.domain.dictionary import (
    ENGAGEMENT_PARTS,
    EXPOSURE_FALLBACK,
    engagements,
)
from services.metrics.domain.goals import GoalStatus, should_emit
from services.metrics.domain.insights import (
    Insight,
    PostPerformance,
    TitleTest,
    anomalies,
    anomaly_insights,
    best_hours_insights,
    channel_weight_insight,
    channel_weights,
    format_performance,
    goals_at_risk,
    performance_insight,
    pillar_performance,
    title_tests,
    topic_performance,
)
from services.metrics.domain.reports import report_range
from services.metrics.domain.stats import VariantResult
from services.metrics.repository import (
    GOAL_COLUMNS,
    goal_from_row,
    local_day,
    measure_goal,
    post_totals,
    publications_between,
)
from services.metrics.warehouse import driver, ensure_partitions, purge_raw
from shared.service import ServiceContext

log = logging.getLogger("mediaops.metrics.analyst")

GOAL_PROGRESSED = "mediaops.metrics.goal.progressed"
INSIGHT_GENERATED = "mediaops.metrics.insight.generated"
REPORT_READY = "mediaops.metrics.report.ready"


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, Mapping):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def fingerprint(insight: Insight) -> str:
    """What must change for an insight to be announced again.

    A goal at risk is announced when it becomes at risk and when its confidence changes; its
    numbers move every pass (goal.progressed carries them) and only refresh the stored row.
    """
    if insight.kind == "goal_at_risk":
        stable: Any = [insight.evidence.get("target"), insight.confidence.value]
    else:
        stable = [insight.recommendation, insight.confidence.value, _round(insight.evidence)]
    canonical = json.dumps(stable, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Analyst:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @property
    def config(self) -> MetricsConfig:
        return config_of(self.ctx)

    async def run(self) -> None:
        while True:
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("analyst pass failed; next pass as scheduled")
            await asyncio.sleep(self.config.analyst_interval_s)

    async def run_pass(self) -> list[str]:
        """Housekeeping, then every workspace whose turn it is. Returns those analysed."""
        await self.housekeeping()
        done = []
        while (claimed := await self.claim()) is not None:
            workspace_id, tz = claimed
            await self.analyse(workspace_id, tz)
            done.append(workspace_id)
        return done

    async def housekeeping(self) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.session() as session, session.begin():
            await ensure_partitions(session, [now, now + timedelta(days=31)])
        cutoff = now - timedelta(days=self.config.raw_retention_days)
        async with self.ctx.db.session() as session, session.begin():
            purged = await purge_raw(session, cutoff)
        if purged:
            log.info("metrics: purged raw payloads of %d observations", purged)

    async def claim(self) -> tuple[str, str] | None:
        now = self.ctx.clock()
        due = now - timedelta(seconds=self.config.analyst_interval_s)
        async with self.ctx.db.session() as session, session.begin():
            pg = await driver(session)
            row = await pg.fetchrow(
                """
                UPDATE metrics.workspaces w SET analysed_at = $1
                WHERE w.workspace_id = (
                    SELECT workspace_id FROM metrics.workspaces
                    WHERE analysed_at IS NULL OR analysed_at <= $2
                    ORDER BY analysed_at NULLS FIRST, workspace_id
                    LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING w.workspace_id, w.timezone
                """,
                now,
                due,
            )
        return None if row is None else (row["workspace_id"], row["timezone"])

    async def analyse(self, workspace_id: str, tz: str) -> None:
        statuses = await self.goals(workspace_id, tz)
        await self.insights(workspace_id, tz, statuses)
        await self.diagnoses(workspace_id)
        await self.weekly_report(workspace_id, tz)

    async def diagnoses(self, workspace_id: str) -> int:
        """Store the diagnoses the stats handler left to compute (forgotten when a late peer
        changed their baseline), so that reports read them instead of recomputing."""
        try:
            async with self.ctx.db.session() as session, session.begin():
                pg = await driver(session)
                await pg.execute("SET LOCAL lock_timeout = '5s'")
                return await reporting.refresh_diagnoses(session, workspace_id)
        except Exception:  # the report recomputes what is not stored; next pass retries
            log.warning("metrics: storing diagnoses of %s failed", workspace_id, exc_info=True)
            return 0

    # --- goals ----------------------------------------------------------------------------

    async def goals(self, workspace_id: str, tz: str) -> list[GoalStatus]:
        cfg = self.config
        now = self.ctx.clock()
        statuses = []
        async with self.ctx.db.session() as session, session.begin():
            pg = await driver(session)
            rows = await pg.fetch(
                f"SELECT {GOAL_COLUMNS} FROM metrics.goals WHERE workspace_id = $1 "
                "AND status = 'active' AND period_start <= $2 AND period_end > $3 "
                "ORDER BY goal_id FOR UPDATE SKIP LOCKED",
                workspace_id,
                now,
                now - timedelta(days=1),
            )
            for row in rows:
                status = await measure_goal(session, workspace_id, goal_from_row(row), tz, now)
                statuses.append(status)
                pace = status.pace
                flipped = row["emitted_on_track"] is not None and (
                    row["emitted_on_track"] != pace.on_track
                )
                emit = should_emit(
                    row["emitted_value"],
                    pace.current,
                    row["emitted_at"],
                    now,
                    cfg.goal_emit_min_interval_s,
                    cfg.goal_emit_min_change,
                    on_track_changed=flipped,
                )
                await pg.execute(
                    """
                    UPDATE metrics.goals SET current = $2, ratio = $3, expected = $4,
                        on_track = $5, measured_at = $6,
                        emitted_value = CASE WHEN $7 THEN $2 ELSE emitted_value END,
                        emitted_on_track = CASE WHEN $7 THEN $5 ELSE emitted_on_track END,
                        emitted_at = CASE WHEN $7 THEN $6 ELSE emitted_at END
                    WHERE id = $1
                    """,
                    row["id"],
                    pace.current,
                    pace.ratio,
                    pace.expected,
                    pace.on_track,
                    now,
                    emit,
                )
                if emit:
                    await self.ctx.outbox.emit(
                        session,
                        GOAL_PROGRESSED,
                        {
                            "goal_id": row["goal_id"],
                            "metric": row["metric"],
                            "current": pace.current,
                            "target": row["target"],
                            "ratio": pace.ratio,
                            "expected": pace.expected,
                            "on_track": pace.on_track,
                            "measured_at": now,
                        },
                        workspace_id=workspace_id,
                        subject=row["goal_id"],
                    )
        return statuses

    # --- insights -------------------------------------------------------------------------

    async def compute_insights(
        self, session: Any, workspace_id: str, tz: str, statuses: Sequence[GoalStatus]
    ) -> list[Insight]:
        now = self.ctx.clock()
        since = now - timedelta(days=self.config.insight_window_days)
        pubs = await publications_between(session, workspace_id, since, now)
        totals = await post_totals(
            session,
            workspace_id,
            since,
            now,
            [*ENGAGEMENT_PARTS, *EXPOSURE_FALLBACK, "clicks"],
        )
        posts = [
            PostPerformance(
                publication_id=p.publication_id,
                channel=p.channel,
                published_at=p.published_at,
                result=engagements(totals[p.publication_id]) or 0.0,
                account_id=p.account_id,
                format=p.format,
                pillar=p.pillar,
                topic=p.topic_id,
            )
            for p in pubs
            if p.publication_id in totals
        ]
        found: list[Insight] = []
        found += best_hours_insights(posts, tz)
        for dimension, groups in (
            ("format", format_performance(posts)),
            ("pillar", pillar_performance(posts)),
            ("topic", topic_performance(posts)),
        ):
            insight = performance_insight(dimension, groups)
            if insight is not None:
                found.append(insight)
        weights = channel_weight_insight(channel_weights(posts))
        if weights is not None:
            found.append(weights)
        found += title_tests(self._title_tests(pubs, totals))
        found += goals_at_risk(statuses, now)
        found += await self._anomalies(session, workspace_id, tz, now)
        unique = {i.key: i for i in found}
        return list(unique.values())

    @staticmethod
    def _title_tests(
        pubs: Sequence[Any], totals: Mapping[str, Mapping[str, float]]
    ) -> list[TitleTest]:
        """Posts of one item under different titles: clicks (else reads) over impressions
        (else reach, views)."""
        by_item: dict[str, dict[str, list[Mapping[str, float]]]] = {}
        for p in pubs:
            if p.item_id and p.title and p.publication_id in totals:
                by_item.setdefault(p.item_id, {}).setdefault(p.title, []).append(
                    totals[p.publication_id]
                )
        tests = []
        for item_id, titles in sorted(by_item.items()):
            if len(titles) < 2:
                continue
            variants = []
            for title, values in sorted(titles.items()):
                success_metric = "clicks" if any("clicks" in v for v in values) else "reads"
                trial_metric = next(
                    (m for m in ("impressions", "reach", "views") if any(m in v for v in values)),
                    "impressions",
                )
                variants.append(
                    VariantResult(
                        title,
                        int(sum(v.get(success_metric, 0.0) for v in values)),
                        int(sum(v.get(trial_metric, 0.0) for v in values)),
                    )
                )
            tests.append(TitleTest(item_id, variants))
        return tests

    async def _anomalies(
        self, session: Any, workspace_id: str, tz: str, now: datetime
    ) -> list[Insight]:
        pg = await driver(session)
        today = local_day(now, tz)
        rows = await pg.fetch(
            """
            SELECT channel, day, sum(value) AS total FROM metrics.daily_rollups
            WHERE workspace_id = $1 AND day > $2 AND day <= $3 AND metric = ANY($4::text[])
              AND publication_id IS NOT NULL
            GROUP BY channel, day
            """,
            workspace_id,
            today - timedelta(days=60),
            today,
            list(ENGAGEMENT_PARTS),
        )
        series: dict[str, list[tuple[Any, float]]] = {}
        for r in rows:
            series.setdefault(r["channel"] or "", []).append((r["day"], float(r["total"])))
        out: list[Insight] = []
        recent = today - timedelta(days=7)
        for channel, points in sorted(series.items()):
            found = [a for a in anomalies(points) if a.day > recent]
            out += anomaly_insights("engagements", {"channel": channel}, found)
        return out

    async def insights(self, workspace_id: str, tz: str, statuses: Sequence[GoalStatus]) -> int:
        """Upsert the current insights; emit the new or changed ones; drop the stale ones."""
        emitted = 0
        now = self.ctx.clock()
        async with self.ctx.db.session() as session, session.begin():
            pg = await driver(session)
            await pg.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('metrics.insights/' || $1, 0))",
                workspace_id,
            )
            found = await self.compute_insights(session, workspace_id, tz, statuses)
            existing = {
                r["key"]: r
                for r in await pg.fetch(
                    "SELECT id, key, fingerprint FROM metrics.insights WHERE workspace_id = $1",
                    workspace_id,
                )
            }
            for insight in found:
                print_ = fingerprint(insight)
                old = existing.get(insight.key)
                data = insight.as_dict()
                if old is not None and old["fingerprint"] == print_:
                    await pg.execute(
                        """
                        UPDATE metrics.insights SET recommendation = $3,
                            evidence = $4::jsonb, updated_at = $5
                        WHERE workspace_id = $1 AND key = $2
                          AND (recommendation, evidence) IS DISTINCT FROM ($3, $4::jsonb)
                        """,
                        workspace_id,
                        insight.key,
                        insight.recommendation,
                        json.dumps(data["evidence"], default=str),
                        now,
                    )
                    continue
                insight_id = old["id"] if old is not None else uuid.uuid4()
                await pg.execute(
                    """
                    INSERT INTO metrics.insights AS i (id, workspace_id, key, kind, scope,
                        recommendation, evidence, confidence, fingerprint, created_at,
                        updated_at)
                    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10, $10)
                    ON CONFLICT (workspace_id, key) DO UPDATE SET
                        kind = excluded.kind, scope = excluded.scope,
                        recommendation = excluded.recommendation,
                        evidence = excluded.evidence, confidence = excluded.confidence,
                        fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
                    """,
                    insight_id,
                    workspace_id,
                    insight.key,
                    insight.kind,
                    json.dumps(data["scope"], default=str),
                    insight.recommendation,
                    json.dumps(data["evidence"], default=str),
                    insight.confidence.value,
                    print_,
                    now,
                )
                await self.ctx.outbox.emit(
                    session,
                    INSIGHT_GENERATED,
                    {
                        "insight_id": str(insight_id),
                        "key": insight.key,
                        "kind": insight.kind,
                        "scope": json.loads(json.dumps(data["scope"], default=str)),
                        "recommendation": insight.recommendation,
                        "evidence": json.loads(json.dumps(data["evidence"], default=str)),
                        "confidence": insight.confidence.value,
                    },
                    workspace_id=workspace_id,
                    subject=insight.key,
                )
                emitted += 1
            stale = [k for k in existing if k not in {i.key for i in found}]
            if stale:
                await pg.execute(
                    "DELETE FROM metrics.insights WHERE workspace_id = $1 "
                    "AND key = ANY($2::text[])",
                    workspace_id,
                    stale,
                )
        return emitted

    # --- scheduled report -----------------------------------------------------------------

    async def weekly_report(self, workspace_id: str, tz: str) -> str | None:
        """The last complete week's report, once per workspace (remembered in report_runs)."""
        now = self.ctx.clock()
        today = local_day(now, tz)
        start = today - timedelta(days=today.weekday() + 7)
        window = report_range("week", start, tz)
        async with self.ctx.db.session() as session, session.begin():
            pg = await driver(session)
            has_data = await pg.fetchval(
                "SELECT EXISTS (SELECT 1 FROM metrics.daily_rollups WHERE workspace_id = $1 "
                "AND day <= $2)",
                workspace_id,
                window.last_day,
            )
            if not has_data:
                return None
            report_id = await pg.fetchval(
                """
                INSERT INTO metrics.report_runs (workspace_id, period, start, report_id,
                    generated_at, body)
                VALUES ($1, 'week', $2, $3, $4, '{}'::jsonb)
                ON CONFLICT DO NOTHING RETURNING report_id
                """,
                workspace_id,
                window.first_day,
                uuid.uuid4(),
                now,
            )
            if report_id is None:
                return None
            body = await reporting.build(session, workspace_id, window, tz, now)
            await pg.execute(
                "UPDATE metrics.report_runs SET body = $2::jsonb WHERE report_id = $1",
                report_id,
                json.dumps(body, default=str),
            )
            await self.ctx.outbox.emit(
                session,
                REPORT_READY,
                {
                    "report_id": str(report_id),
                    "period": "week",
                    "start": window.first_day.isoformat(),
                    "end": window.last_day.isoformat(),
                    "url": f"/metrics/v1/reports?period=week&start={window.first_day}",
                },
                workspace_id=workspace_id,
                subject=str(report_id),
            )
        return str(report_id)


def analyst_tasks(ctx: ServiceContext) -> list[Any]:
    return [Analyst(ctx).run]
