"""The stats poller (worker `publisher.poller`): platform counters at post-age checkpoints.

A published post is polled when its next checkpoint (`shared.checkpoints`, compressed by
`settings.time_scale`) is due; the raw values go out as `publication.stats_captured`, once
per checkpoint (several at once after an outage). Once a local day per account, the
connector's account figures (followers) go out as `account.stats_captured` where it has them.
Rows are leased (next_stats_at moved ahead) in a short transaction, so replicas never poll
one post together and no transaction is open during a platform call.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text

from services.publisher.bootstrap import connectors, credential_box
from services.publisher.config import publisher_config
from services.publisher.repository import ACCOUNT_STATS, STATS_CAPTURED, connector_account
from services.publisher.tables import Account, Publication
from shared.checkpoints import due_checkpoints, next_checkpoint_at
from shared.service import ServiceContext

log = logging.getLogger("mediaops.publisher.poller")

LEASE = """
WITH due AS (
    SELECT id FROM "{s}".publications
    WHERE status = 'published' AND next_stats_at IS NOT NULL AND next_stats_at <= :now
    ORDER BY next_stats_at LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE "{s}".publications p SET next_stats_at = :lease
FROM due WHERE p.id = due.id
RETURNING p.id
"""


async def poll_once(ctx: ServiceContext) -> int:
    cfg = publisher_config(ctx)
    now = ctx.clock()
    async with ctx.db.session() as s, s.begin():
        ids = [
            r.id
            for r in await s.execute(
                text(LEASE.format(s=ctx.spec.schema)),
                {"now": now, "lease": now + timedelta(seconds=60), "batch": cfg.poller_batch},
            )
        ]
        if not ids:
            return 0
        pubs = (await s.scalars(select(Publication).where(Publication.id.in_(ids)))).all()
        accounts = {
            a.id: a
            for a in await s.scalars(
                select(Account).where(Account.id.in_({p.account_id for p in pubs}))
            )
        }
    box = credential_box(ctx)
    registry = connectors(ctx)
    sem = asyncio.Semaphore(16)

    async def one(pub: Publication) -> None:
        account = accounts[pub.account_id]
        if pub.channel not in registry or not pub.external_id:
            return
        acc = connector_account(account, box.decrypt(account.credentials_enc))
        async with sem:
            try:
                stats = await registry.get(pub.channel).fetch_stats(pub.external_id, acc)
            except Exception as exc:
                log.warning("stats of %s not fetched: %r", pub.id, exc)
                return
        await _record(ctx, pub.id, stats)

    await asyncio.gather(*(one(p) for p in pubs))
    await _account_stats(ctx, list(accounts.values()))
    return len(pubs)


async def _record(ctx: ServiceContext, publication_id: Any, stats: Any) -> None:
    scale = ctx.settings.time_scale
    now = ctx.clock()
    async with ctx.db.session() as s, s.begin():
        pub = await s.get(Publication, publication_id, with_for_update=True)
        if pub is None or pub.published_at is None:
            return
        done = list(pub.stats_done or [])
        for cp in due_checkpoints(pub.published_at, done, now, scale):
            await ctx.outbox.emit(
                s,
                STATS_CAPTURED,
                {
                    "publication_id": str(pub.id),
                    "item_id": pub.item_id,
                    "account_id": str(pub.account_id),
                    "channel": pub.channel,
                    "external_id": pub.external_id,
                    "checkpoint": cp.name,
                    "published_at": pub.published_at,
                    "captured_at": stats.captured_at,
                    "values": stats.values,
                    "raw": stats.raw if isinstance(stats.raw, dict) else {},
                },
                workspace_id=pub.workspace_id,
                subject=str(pub.id),
            )
            done.append(cp.name)
        pub.stats_done = done
        pub.next_stats_at = next_checkpoint_at(pub.published_at, done, now, scale)


async def _account_stats(ctx: ServiceContext, accounts: list[Account]) -> None:
    registry = connectors(ctx)
    box = credential_box(ctx)
    now = ctx.clock()
    for account in accounts:
        day = now.date().isoformat()
        if account.stats_captured_on == day or account.channel not in registry:
            continue
        fetch = getattr(registry.get(account.channel), "fetch_account_stats", None)
        if fetch is None:
            continue
        try:
            values = await fetch(connector_account(account, box.decrypt(account.credentials_enc)))
        except Exception as exc:
            log.warning("account stats of %s not fetched: %r", account.id, exc)
            continue
        async with ctx.db.session() as s, s.begin():
            row = await s.get(Account, account.id, with_for_update=True)
            if row is None or row.stats_captured_on == day:
                continue
            row.stats_captured_on = day
            await ctx.outbox.emit(
                s,
                ACCOUNT_STATS,
                {
                    "account_id": str(row.id),
                    "channel": row.channel,
                    "captured_at": now,
                    "followers": values.get("followers"),
                    "values": values,
                },
                workspace_id=row.workspace_id,
                subject=str(row.id),
            )


async def run_poller(ctx: ServiceContext) -> None:
    cfg = publisher_config(ctx)
    while True:
        n = await poll_once(ctx)
        if n < cfg.poller_batch:
            await asyncio.sleep(cfg.poller_poll_s)
