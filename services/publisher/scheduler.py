"""The scheduler (worker `publisher.scheduler`): claims due publications and sends them to
the dispatch queue through the outbox; also the reaper, overdue alarms, reconciliation
dispatch and the proactive token refresh.

Claims use `FOR UPDATE SKIP LOCKED` in batches, so several replicas never claim one row
twice; the claim (status `dispatching`, attempts + 1) and its dispatch commands commit in
one transaction, so a crash loses neither.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text

from services.publisher.bootstrap import connectors, credential_box
from services.publisher.config import publisher_config
from services.publisher.connectors.base import NeedsReauth
from services.publisher.credentials import merge_credentials
from services.publisher.ops import queue_snapshot
from services.publisher.repository import (
    DISPATCH,
    NEEDS_REAUTH,
    OVERDUE,
    UNKNOWN,
    connector_account,
)
from services.publisher.tables import Account
from shared.events import new_event
from shared.service import ServiceContext

log = logging.getLogger("mediaops.publisher.scheduler")

CLAIM = """
WITH due AS (
    SELECT p.id FROM "{s}".publications p
    JOIN "{s}".accounts a ON a.id = p.account_id
    WHERE p.status = 'scheduled' AND NOT p.waiting_reauth AND p.due_at <= :now
      AND a.status = 'active'
    ORDER BY p.due_at
    LIMIT :batch
    FOR UPDATE OF p SKIP LOCKED
)
UPDATE "{s}".publications p
SET status = 'dispatching', attempts = p.attempts + 1, claimed_at = :now, updated_at = :now
FROM due WHERE p.id = due.id
RETURNING p.id, p.workspace_id, p.attempts
"""

# Unknown outcomes whose reconciliation is due: re-sent to a worker, which looks the post
# up before anything else; due_at moves ahead as a lease so the command is sent once.
RECONCILE = """
WITH due AS (
    SELECT id FROM "{s}".publications
    WHERE status = 'unknown' AND due_at <= :now
    ORDER BY due_at LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE "{s}".publications p SET due_at = :lease, updated_at = :now
FROM due WHERE p.id = due.id
RETURNING p.id, p.workspace_id, p.attempts
"""

# A claim older than the lease: the worker died or the command was lost. Nobody knows if
# the request left, so it becomes `unknown` and is reconciled.
REAP = """
WITH stale AS (
    SELECT id FROM "{s}".publications
    WHERE status = 'dispatching' AND claimed_at < :cutoff
    ORDER BY claimed_at LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE "{s}".publications p
SET status = 'unknown', due_at = :now, claimed_at = NULL, updated_at = :now,
    last_error = 'dispatch lease expired (worker died or command lost)'
FROM stale WHERE p.id = stale.id
RETURNING p.id, p.workspace_id, p.item_id, p.account_id, p.channel
"""

FLAG_OVERDUE = """
WITH late AS (
    SELECT id FROM "{s}".publications
    WHERE status = 'scheduled' AND NOT waiting_reauth AND overdue_at IS NULL
      AND due_at <= :cutoff
    ORDER BY due_at LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE "{s}".publications p SET overdue_at = :now
FROM late WHERE p.id = late.id
RETURNING p.id, p.workspace_id, p.item_id, p.account_id, p.channel, p.due_at
"""


def _dispatch_events(ctx: ServiceContext, rows: list[Any]) -> list[Any]:
    return [
        new_event(
            DISPATCH,
            {"publication_id": str(r.id), "attempt": int(r.attempts)},
            workspace_id=r.workspace_id,
            source=ctx.outbox.source,
            subject=str(r.id),
        )
        for r in rows
    ]


async def claim_due(ctx: ServiceContext) -> int:
    """One batch: due publications -> dispatching + one dispatch command each."""
    cfg = publisher_config(ctx)
    now = ctx.clock()
    s = ctx.spec.schema
    async with ctx.db.session() as session, session.begin():
        rows = list(
            (
                await session.execute(
                    text(CLAIM.format(s=s)), {"now": now, "batch": cfg.claim_batch}
                )
            ).all()
        )
        await ctx.outbox.add(session, _dispatch_events(ctx, rows))
    return len(rows)


async def dispatch_reconciliations(ctx: ServiceContext) -> int:
    cfg = publisher_config(ctx)
    now = ctx.clock()
    lease = now + timedelta(seconds=cfg.dispatch_lease_s)
    async with ctx.db.session() as session, session.begin():
        rows = list(
            (
                await session.execute(
                    text(RECONCILE.format(s=ctx.spec.schema)),
                    {"now": now, "lease": lease, "batch": cfg.claim_batch},
                )
            ).all()
        )
        await ctx.outbox.add(session, _dispatch_events(ctx, rows))
    return len(rows)


async def reap_stale(ctx: ServiceContext) -> int:
    cfg = publisher_config(ctx)
    now = ctx.clock()
    cutoff = now - timedelta(seconds=cfg.dispatch_lease_s)
    async with ctx.db.session() as session, session.begin():
        rows = list(
            (
                await session.execute(
                    text(REAP.format(s=ctx.spec.schema)),
                    {"now": now, "cutoff": cutoff, "batch": cfg.claim_batch},
                )
            ).all()
        )
        for r in rows:
            await ctx.outbox.emit(
                session,
                UNKNOWN,
                _ref(r, "dispatch lease expired"),
                workspace_id=r.workspace_id,
                subject=str(r.id),
            )
    if rows:
        log.warning("reaped %d stale dispatches", len(rows))
    return len(rows)


async def flag_overdue(ctx: ServiceContext) -> int:
    cfg = publisher_config(ctx)
    now = ctx.clock()
    cutoff = now - timedelta(seconds=cfg.overdue_after_s)
    async with ctx.db.session() as session, session.begin():
        rows = list(
            (
                await session.execute(
                    text(FLAG_OVERDUE.format(s=ctx.spec.schema)),
                    {"now": now, "cutoff": cutoff, "batch": cfg.claim_batch},
                )
            ).all()
        )
        for r in rows:
            late = (now - r.due_at).total_seconds()
            await ctx.outbox.emit(
                session,
                OVERDUE,
                _ref(r, f"due {late:.0f}s ago and not dispatched"),
                workspace_id=r.workspace_id,
                subject=str(r.id),
            )
    return len(rows)


def _ref(r: Any, reason: str) -> dict[str, Any]:
    return {
        "publication_id": str(r.id),
        "item_id": r.item_id,
        "account_id": str(r.account_id),
        "channel": r.channel,
        "reason": reason,
    }


async def refresh_tokens(ctx: ServiceContext) -> int:
    """Accounts whose token expires soon get new credentials through `connector.refresh`.

    The account row stays locked during the call (SKIP LOCKED for the others): refresh
    tokens are often single-use, so two replicas must never refresh one account at once.
    """
    cfg = publisher_config(ctx)
    registry = connectors(ctx)
    box = credential_box(ctx)
    done = 0
    while True:
        now = ctx.clock()
        async with ctx.db.session() as session, session.begin():
            account = await session.scalar(
                select(Account)
                .where(
                    Account.status == "active",
                    Account.token_expires_at.is_not(None),
                    Account.token_expires_at <= now + timedelta(seconds=cfg.refresh_ahead_s),
                )
                .order_by(Account.token_expires_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if account is None or account.channel not in registry:
                return done
            old = box.decrypt(account.credentials_enc)
            try:
                fresh = await registry.get(account.channel).refresh(connector_account(account, old))
            except NeedsReauth as exc:
                account.status, account.status_reason = "needs_reauth", exc.message
                await ctx.outbox.emit(
                    session,
                    NEEDS_REAUTH,
                    {
                        "account_id": str(account.id),
                        "channel": account.channel,
                        "reason": exc.message,
                    },
                    workspace_id=account.workspace_id,
                    subject=str(account.id),
                )
                done += 1
                continue
            except Exception as exc:  # transient: try again next round
                log.warning("token refresh failed for %s: %r", account.id, exc)
                return done
            if fresh is None:
                # Nothing to refresh: stop asking until the next expiry is known.
                account.token_expires_at = None
            else:
                merged = merge_credentials(old, fresh.credentials)
                account.credentials_enc = box.encrypt(merged)
                account.credential_keys = sorted(k for k, v in merged.items() if v)
                account.token_expires_at = fresh.expires_at
            account.version += 1
            done += 1


async def run_scheduler(ctx: ServiceContext) -> None:
    cfg = publisher_config(ctx)
    while True:
        claimed = await claim_due(ctx)
        if claimed < cfg.claim_batch:
            await asyncio.sleep(cfg.scheduler_poll_s)


async def run_maintenance(ctx: ServiceContext) -> None:
    """Reaper, overdue alarms, reconciliation dispatch, gauges; token refresh less often."""
    cfg = publisher_config(ctx)
    last_refresh = last_gauges = -1e9
    loop = asyncio.get_running_loop()
    every = max(cfg.scheduler_poll_s, cfg.maintenance_poll_s)
    while True:
        await reap_stale(ctx)
        await dispatch_reconciliations(ctx)
        await flag_overdue(ctx)
        if loop.time() - last_gauges >= cfg.gauges_every_s:
            last_gauges = loop.time()
            try:
                await queue_snapshot(ctx)
            except Exception as exc:
                log.debug("gauges not refreshed: %r", exc)
        if loop.time() - last_refresh >= cfg.refresh_poll_s:
            last_refresh = loop.time()
            await refresh_tokens(ctx)
        await asyncio.sleep(every)
