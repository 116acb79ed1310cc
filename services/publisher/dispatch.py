"""The dispatch worker (worker `publisher.worker`, queue `publisher.dispatch`).

Not the inbox-wrapped default: a platform call must never sit inside a database
transaction, so each command runs as
  tx1  lock the publication, skip what is terminal or stale, record an attempt (committed);
  ---  call the connector with the deterministic idempotency key (no transaction open),
       behind per-account concurrency and per-account/per-channel token buckets;
  tx2  lock again, record the outcome on the attempt, move the state machine, emit events.
A redelivered command whose attempt is still `started` (the worker died mid-call) and every
`unknown` publication are reconciled (`connector.find_existing`) before any new post.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from pydantic import ValidationError
from sqlalchemy import insert, select, update

from services.publisher.bootstrap import connectors, credential_box
from services.publisher.config import publisher_config
from services.publisher.connectors.base import Permanent, Post, Published, Retriable
from services.publisher.connectors.registry import UnknownChannel
from services.publisher.domain.publications import (
    PublicationStatus,
    hold_for_reauth,
    mark_failed,
    mark_published,
    mark_unknown,
    reconciled_found,
    reconciled_missing,
    retry_later,
)
from services.publisher.domain.ratelimit import Limit, RateLimiter
from services.publisher.domain.retry import (
    Action,
    BackoffPolicy,
    after_reconcile_missing,
    decide,
)
from services.publisher.ops import DISPATCH_QUEUE
from services.publisher.repository import (
    CANCELLED,
    DISPATCH,
    FAILED,
    NEEDS_REAUTH,
    PUBLISHED,
    UNKNOWN,
    apply_state,
    build_post,
    connector_account,
    published_payload,
    ref_payload,
    to_state,
)
from services.publisher.tables import Account, ApprovedSnapshot, Attempt, Publication
from shared.bus import Delivery, PoisonMessage, Subscription
from shared.checkpoints import DEFAULT_CHECKPOINTS, checkpoint_due_at
from shared.events import CloudEvent
from shared.service import ServiceContext

ATTEMPTS = Counter(
    "mediaops_publisher_attempts_total",
    "Connector calls by channel and outcome",
    ["channel", "outcome"],
)
LATENCY = Histogram(
    "mediaops_publisher_connector_seconds", "Connector call latency", ["channel", "kind"]
)


@dataclass
class Work:
    publication_id: uuid.UUID
    attempt_id: uuid.UUID
    kind: str  # publish | reconcile
    channel: str
    account_key: str
    post: Post
    account: Any
    rate_per_s: float | None
    snapshot: Any = None


class Dispatcher:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.cfg = publisher_config(ctx)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.policy = BackoffPolicy(
            self.cfg.backoff_base_s, self.cfg.backoff_cap_s, self.cfg.max_attempts
        )
        self.rng = random.Random()
        self.limiter = RateLimiter(
            default_limits={
                "account": Limit(self.cfg.account_rate_per_s, self.cfg.account_burst),
                "channel": Limit(self.cfg.channel_rate_per_s, self.cfg.channel_burst),
            }
        )
        self._account_slots: dict[str, asyncio.Semaphore] = {}

    # -- entry point ------------------------------------------------------------------------
    async def __call__(self, delivery: Delivery) -> None:
        try:
            event = CloudEvent.model_validate_json(delivery.body)
            publication_id = uuid.UUID(str(event.data["publication_id"]))
            claim = int(event.data.get("attempt") or 0)
        except (ValidationError, KeyError, ValueError) as exc:
            raise PoisonMessage(f"not a dispatch command: {exc!r}"[:300]) from exc
        # Only a redelivery can find an attempt this claim already started.
        maybe_started = delivery.redelivered or delivery.attempt > 1
        work = await self._begin(event, publication_id, claim, maybe_started)
        if work is None:
            return
        outcome, error, latency_ms = await self._call(work)
        await self._finish(event, work, outcome, error, latency_ms)

    # -- tx1 ---------------------------------------------------------------------------------
    async def _begin(
        self, event: CloudEvent, publication_id: uuid.UUID, claim: int, maybe_started: bool = True
    ) -> Work | None:
        ctx = self.ctx
        now = ctx.clock()
        async with ctx.db.session() as s, s.begin():
            found = (
                await s.execute(
                    select(Publication, Account, ApprovedSnapshot)
                    .join(Account, Account.id == Publication.account_id)
                    .join(ApprovedSnapshot, ApprovedSnapshot.id == Publication.snapshot_id)
                    .where(
                        Publication.id == publication_id,
                        Publication.workspace_id == event.workspaceid,
                    )
                    .with_for_update(of=Publication)
                )
            ).first()
            row, account, snap = found if found is not None else (None, None, None)
            if row is None or claim != row.attempts:
                return None  # unknown or stale command (a newer claim exists)
            if row.status == PublicationStatus.DISPATCHING.value:
                open_attempt = maybe_started and await s.scalar(
                    select(Attempt.id).where(
                        Attempt.publication_id == row.id,
                        Attempt.number == row.attempts,
                        Attempt.status == "started",
                    )
                )
                if open_attempt:
                    kind = "reconcile"  # redelivered after a worker died mid-call
                elif row.cancel_requested:
                    # Nothing left yet: honour the cancel before any call.
                    apply_state(row, mark_failed(to_state(row), "cancelled before dispatch"))
                    await ctx.outbox.emit(
                        s,
                        CANCELLED,
                        ref_payload(row, "cancelled before dispatch"),
                        workspace_id=row.workspace_id,
                        subject=str(row.id),
                    )
                    return None
                else:
                    kind = "publish"
            elif row.status == PublicationStatus.UNKNOWN.value:
                kind = "reconcile"
            else:
                return None  # terminal, or back to scheduled: nothing to do
            assert account is not None and snap is not None
            attempt_id = uuid.uuid4()
            await s.execute(
                insert(Attempt).values(
                    id=attempt_id,
                    publication_id=row.id,
                    number=row.attempts,
                    kind=kind,
                    started_at=now,
                    worker_id=self.worker_id,
                    request_id=event.requestid or event.id,
                    status="started",
                )
            )
            credentials = credential_box(ctx).decrypt(account.credentials_enc)
            rate = (account.settings or {}).get("rate_per_minute")
            return Work(
                publication_id=row.id,
                attempt_id=attempt_id,
                kind=kind,
                channel=row.channel,
                account_key=str(account.id),
                post=build_post(row, snap),
                account=connector_account(account, credentials),
                rate_per_s=float(rate) / 60.0 if rate else None,
                snapshot=snap,
            )

    # -- the call, outside any transaction -----------------------------------------------------
    async def _call(self, work: Work) -> tuple[Published | None, BaseException | None, float]:
        try:
            connector = connectors(self.ctx).get(work.channel)
        except UnknownChannel as exc:
            return None, Permanent(f"channel {work.channel} is not available here: {exc}"), 0.0
        slot = self._account_slots.setdefault(
            work.account_key, asyncio.Semaphore(self.cfg.account_concurrency)
        )
        async with slot:
            if work.kind == "publish":
                await self._take_tokens(work)
            started = time.perf_counter()
            try:
                if work.kind == "publish":
                    result: Published | None = await connector.publish(work.post, work.account)
                else:
                    result = await connector.find_existing(work.post, work.account)
                error = None
            except Exception as exc:  # classified in tx2; never lost
                result, error = None, exc
            latency = (time.perf_counter() - started) * 1000.0
        LATENCY.labels(work.channel, work.kind).observe(latency / 1000.0)
        outcome = "ok" if error is None else type(error).__name__
        ATTEMPTS.labels(work.channel, f"{work.kind}:{outcome}").inc()
        return result, error, latency

    async def _take_tokens(self, work: Work) -> None:
        key = ("account", work.account_key)
        if work.rate_per_s and key not in self.limiter.buckets:
            self.limiter.configure(key, Limit(work.rate_per_s, max(1.0, work.rate_per_s)))
        keys = [key, ("channel", work.channel)]
        while True:
            wait = self.limiter.try_acquire(keys, time.monotonic())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    # -- tx2 ---------------------------------------------------------------------------------
    async def _finish(
        self,
        event: CloudEvent,
        work: Work,
        result: Published | None,
        error: BaseException | None,
        latency_ms: float,
    ) -> None:
        ctx = self.ctx
        now = ctx.clock()
        async with ctx.db.session() as s, s.begin():
            row = await s.scalar(
                select(Publication).where(Publication.id == work.publication_id).with_for_update()
            )
            assert row is not None
            emit = _Emitter(ctx, s, row, work.snapshot)
            if work.kind == "publish":
                status = await self._after_publish(s, row, result, error, now, emit)
            else:
                status = await self._after_reconcile(row, result, error, now, emit)
            await s.execute(
                update(Attempt)
                .where(Attempt.id == work.attempt_id)
                .values(
                    finished_at=now,
                    latency_ms=round(latency_ms, 3),
                    error=None if error is None else f"{type(error).__name__}: {error}"[:2000],
                    status=status,
                )
            )

    async def _after_publish(
        self,
        s: Any,
        row: Publication,
        result: Published | None,
        error: BaseException | None,
        now: datetime,
        emit: _Emitter,
    ) -> str:
        state = to_state(row)
        if result is not None:
            if row.status in ("dispatching", "unknown"):
                apply_state(
                    row,
                    mark_published(
                        state,
                        external_id=result.external_id,
                        url=result.url,
                        published_at=result.published_at,
                    ),
                )
            elif row.status != "published":
                # The claim was reaped meanwhile; the post is out all the same.
                apply_state(
                    row,
                    replace(
                        mark_published(
                            replace(state, status=PublicationStatus.DISPATCHING),
                            external_id=result.external_id,
                            url=result.url,
                            published_at=result.published_at,
                        )
                    ),
                )
            else:
                return "published"
            await self._published(s, row, emit)
            return "published"
        assert error is not None
        if row.status != "dispatching":
            return "superseded"
        if isinstance(error, Retriable):
            error.defer_s = min(error.defer_s, self.cfg.max_defer_s)
        decision = decide(error, row.attempts, self.policy, self.rng)
        if decision.action is Action.RETRY:
            apply_state(
                row, retry_later(state, now + timedelta(seconds=decision.delay_s), decision.reason)
            )
            if row.status == "cancelled":
                await emit(CANCELLED, ref_payload(row, "cancelled during a retry"))
            return "retry"
        if decision.action is Action.FAIL:
            apply_state(row, mark_failed(state, decision.reason))
            await self._failed_or_cancelled(row, decision.reason, emit)
            return "failed"
        if decision.action is Action.REAUTH:
            apply_state(row, hold_for_reauth(state, decision.reason))
            account = await s.get(Account, row.account_id, with_for_update=True)
            if account is not None and account.status == "active":
                account.status, account.status_reason = "needs_reauth", decision.reason[:500]
                await emit(
                    NEEDS_REAUTH,
                    {
                        "account_id": str(account.id),
                        "channel": account.channel,
                        "reason": decision.reason[:500],
                    },
                    subject=str(account.id),
                )
            if row.status == "cancelled":
                await emit(CANCELLED, ref_payload(row, "cancelled while waiting for re-auth"))
            return "reauth"
        # RECONCILE: the request may have left. Look it up later, never blind-retry.
        apply_state(row, mark_unknown(state, decision.reason))
        row.due_at = now + timedelta(seconds=self.cfg.reconcile_delay_s)
        await emit(UNKNOWN, ref_payload(row, decision.reason[:500]))
        return "unknown"

    async def _after_reconcile(
        self,
        row: Publication,
        found: Published | None,
        error: BaseException | None,
        now: datetime,
        emit: _Emitter,
    ) -> str:
        if row.status not in ("dispatching", "unknown"):
            return "superseded"
        state = to_state(row)
        if state.status is PublicationStatus.DISPATCHING:
            state = mark_unknown(state, "worker died during the call")
        if error is not None:
            delay = self.policy.ceiling(min(row.attempts, 10))
            apply_state(row, state)
            row.due_at = now + timedelta(seconds=max(self.cfg.reconcile_delay_s, delay))
            return "lookup_failed"
        if found is not None:
            apply_state(
                row,
                reconciled_found(
                    state,
                    external_id=found.external_id,
                    url=found.url,
                    published_at=found.published_at,
                ),
            )
            await self._published(None, row, emit)
            return "found"
        decision = after_reconcile_missing(row.attempts, self.policy, self.rng)
        if decision.action is Action.RETRY:
            apply_state(row, reconciled_missing(state, now + timedelta(seconds=decision.delay_s)))
            if row.status == "cancelled":
                await emit(CANCELLED, ref_payload(row, "cancelled; the post was never made"))
            return "missing"
        apply_state(row, mark_failed(state, decision.reason))
        await self._failed_or_cancelled(row, decision.reason, emit)
        return "missing"

    async def _failed_or_cancelled(self, row: Publication, reason: str, emit: _Emitter) -> None:
        if row.status == "cancelled":
            await emit(CANCELLED, ref_payload(row, reason[:500]))
        else:
            await emit(
                FAILED,
                {
                    "publication_id": str(row.id),
                    "item_id": row.item_id,
                    "account_id": str(row.account_id),
                    "channel": row.channel,
                    "reason": reason[:1000],
                    "attempts": row.attempts,
                },
            )

    async def _published(self, s: Any, row: Publication, emit: _Emitter) -> None:
        snap = emit.snapshot or await emit.session.get(ApprovedSnapshot, row.snapshot_id)
        assert snap is not None and row.published_at is not None
        first = DEFAULT_CHECKPOINTS[0]
        row.next_stats_at = checkpoint_due_at(row.published_at, first, self.ctx.settings.time_scale)
        await emit(PUBLISHED, published_payload(row, snap))


class _Emitter:
    def __init__(
        self, ctx: ServiceContext, session: Any, row: Publication, snapshot: Any = None
    ) -> None:
        self.ctx, self.session, self.row, self.snapshot = ctx, session, row, snapshot

    async def __call__(self, type_: str, data: Any, subject: str | None = None) -> None:
        await self.ctx.outbox.emit(
            self.session,
            type_,
            data,
            workspace_id=self.row.workspace_id,
            subject=subject or str(self.row.id),
        )


def dispatch_subscription(ctx: ServiceContext) -> list[Subscription]:
    """Queue `publisher.dispatch` on the commands exchange; prefetch = --concurrency."""
    handler = ctx.extras.get("publisher_dispatcher")
    if handler is None:
        handler = ctx.extras["publisher_dispatcher"] = Dispatcher(ctx)
    return [
        Subscription(
            queue=DISPATCH_QUEUE,
            exchange="commands",
            routing_keys=(DISPATCH,),
            handler=handler,
            prefetch=ctx.settings.prefetch,
        )
    ]
