"""The scheduler on real PostgreSQL: two replicas never dispatch one publication twice; stale
claims are reaped to `unknown`; overdue publications raise an event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from services.publisher.config import PublisherConfig
from services.publisher.scheduler import claim_due, flag_overdue, reap_stale
from tests.conftest import settings_for_tests
from tests.integration.publisher.support import APPROVED, approved_data, deliver, utcnow

pytestmark = pytest.mark.infra


async def seed(ctx, n: int, due_offset_s: float = -1.0) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """An account, an approved item and n due publications (inserted in one statement)."""
    account_id = uuid.uuid4()
    data = approved_data()
    await deliver(ctx, APPROVED, data)
    due = utcnow() + timedelta(seconds=due_offset_s)
    async with ctx.db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO publisher.accounts (id, workspace_id, channel, name, settings, credential_keys, status, version)"
                " VALUES (:id, 'ws-a', 'sandbox', 'bulk', '{}', '[]', 'active', 1)"
            ),
            {"id": account_id},
        )
        snap = await conn.scalar(
            text("SELECT id FROM publisher.approved_snapshots WHERE item_id = :i"),
            {"i": data["item_id"]},
        )
        ids = (
            (
                await conn.execute(
                    text("""INSERT INTO publisher.publications
                (id, workspace_id, item_id, variant_key, account_id, channel, snapshot_id, content_hash,
                 occurrence, mode, timezone, scheduled_at, due_at, status, attempts, cancel_requested,
                 waiting_reauth, stats_done)
                SELECT gen_random_uuid(), 'ws-a', :item, '', :acc, 'sandbox', :snap, :hash, g, 'at', 'UTC',
                       :due, :due, 'scheduled', 0, false, false, '[]'
                FROM generate_series(0, :n - 1) g RETURNING id"""),
                    {
                        "item": data["item_id"],
                        "acc": account_id,
                        "snap": snap,
                        "hash": data["content_hash"],
                        "due": due,
                        "n": n,
                    },
                )
            )
            .scalars()
            .all()
        )
    return str(account_id), [str(i) for i in ids]


async def test_two_schedulers_never_double_dispatch(pg_url, make_runtime):
    cfg = PublisherConfig(claim_batch=25)
    settings = settings_for_tests(pg_url)
    r1 = await make_runtime(settings, ["publisher"], roles=[], extras={"publisher_config": cfg})
    r2 = await make_runtime(settings, ["publisher"], roles=[], extras={"publisher_config": cfg})
    c1, c2 = r1.contexts["publisher"], r2.contexts["publisher"]
    assert c1.db is not c2.db
    _, ids = await seed(c1, 400)

    async def drain(ctx) -> int:  # type: ignore[no-untyped-def]
        total = 0
        while n := await claim_due(ctx):
            total += n
        return total

    a, b = await asyncio.gather(drain(c1), drain(c2))
    assert a + b >= 400 and a > 0 and b > 0  # both did work
    async with c1.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT envelope->'data'->>'publication_id' AS p, count(*) AS n FROM publisher.outbox "
                    "WHERE routing_key = 'mediaops.publisher.publication.dispatch' "
                    "AND envelope->'data'->>'publication_id' = ANY(:ids) GROUP BY 1"
                ),
                {"ids": ids},
            )
        ).all()
        statuses = (
            await conn.execute(
                text(
                    "SELECT status, attempts, count(*) FROM publisher.publications WHERE id::text = ANY(:ids) GROUP BY 1, 2"
                ),
                {"ids": ids},
            )
        ).all()
    assert len(rows) == 400 and all(r.n == 1 for r in rows)
    assert [tuple(s) for s in statuses] == [("dispatching", 1, 400)]


async def test_reaper_and_overdue(pg_url, make_runtime):
    cfg = PublisherConfig(dispatch_lease_s=60, overdue_after_s=120)
    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(
        settings, ["publisher"], roles=[], extras={"publisher_config": cfg}
    )
    ctx = runtime.contexts["publisher"]
    _, late = await seed(ctx, 3, due_offset_s=-600)
    _, stuck = await seed(ctx, 2, due_offset_s=-1)
    async with ctx.db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE publisher.publications SET status='dispatching', attempts=1, "
                "claimed_at = now() - interval '5 minutes' WHERE id::text = ANY(:ids)"
            ),
            {"ids": stuck},
        )
    assert await flag_overdue(ctx) >= 3
    assert await flag_overdue(ctx) == 0  # once per publication
    assert await reap_stale(ctx) >= 2
    async with ctx.db.engine.connect() as conn:
        st = dict(
            (
                await conn.execute(
                    text(
                        "SELECT id::text, status FROM publisher.publications WHERE id::text = ANY(:ids)"
                    ),
                    {"ids": stuck},
                )
            ).all()
        )
        overdue = await conn.scalar(
            text(
                "SELECT count(*) FROM publisher.outbox WHERE routing_key = 'mediaops.publisher.publication.overdue' "
                "AND envelope->'data'->>'publication_id' = ANY(:ids)"
            ),
            {"ids": late},
        )
    assert set(st.values()) == {"unknown"} and overdue == 3
    from services.publisher.ops import queue_snapshot

    snap = await queue_snapshot(ctx)
    assert snap["overdue"] >= 3 and snap["oldest_due_age_s"] >= 590 and snap["unknown"] >= 2
