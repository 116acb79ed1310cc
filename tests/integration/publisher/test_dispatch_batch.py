"""The micro-batched dispatcher on real PostgreSQL against the sandbox: one tx1 and one tx2
per batch, stale / duplicate / cancelled commands inside a batch, a failing batch tx2 retried
item by item, and a tx2 that never commits (crash after the calls) reconciled on redelivery
without a second post."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import text

from services.publisher.config import PublisherConfig
from services.publisher.dispatch import Dispatcher
from services.publisher.scheduler import claim_due
from shared.bus import Delivery
from tests.conftest import settings_for_tests
from tests.integration.publisher.support import SandboxServer
from tests.integration.publisher.test_scheduler import seed

pytestmark = pytest.mark.infra

DISPATCH = "mediaops.publisher.publication.dispatch"


async def setup(pg_url, make_runtime, sandbox: SandboxServer, n: int):  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url, MEDIAOPS_SANDBOX_URL=sandbox.url)
    cfg = PublisherConfig(dispatch_batch_wait_s=0.05, backoff_base_s=0.05, backoff_cap_s=0.1)
    runtime = await make_runtime(
        settings, ["publisher"], roles=["api"], extras={"publisher_config": cfg}
    )
    ctx = runtime.contexts["publisher"]
    _account, ids = await seed(ctx, n)
    assert await claim_due(ctx) == n
    async with ctx.db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM publisher.outbox WHERE routing_key = :t"), {"t": DISPATCH}
        )
        commands = {r.envelope["data"]["publication_id"]: r.envelope for r in rows}
    return ctx, ids, commands


def delivery(cmd: dict[str, Any], *, redelivered: bool = False, **data: Any) -> Delivery:
    cmd = {**cmd, "data": {**cmd["data"], **data}}
    return Delivery(
        "publisher.dispatch", DISPATCH, json.dumps(cmd).encode(), cmd["id"], {}, 1, redelivered
    )


async def rows(ctx, sql: str, **params: Any) -> list[Any]:  # type: ignore[no-untyped-def]
    async with ctx.db.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def statuses(ctx, ids: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    found = await rows(
        ctx,
        "SELECT id::text, status FROM publisher.publications WHERE id::text = ANY(:ids)",
        ids=ids,
    )
    return {r.id: r.status for r in found}


async def test_one_batch_with_stale_duplicate_and_cancelled_commands(pg_url, make_runtime):
    async with SandboxServer() as sandbox:
        ctx, ids, commands = await setup(pg_url, make_runtime, sandbox, 6)
        cancelled = ids[5]
        async with ctx.db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE publisher.publications SET cancel_requested = true WHERE id = :i"),
                {"i": cancelled},
            )
        batch = [delivery(commands[i]) for i in ids]
        batch.append(delivery(commands[ids[0]]))  # the same command twice (relay re-publish)
        batch.append(delivery(commands[ids[1]], attempt=0))  # a stale claim
        dispatcher = Dispatcher(ctx)
        await asyncio.gather(*(dispatcher(d) for d in batch))

        assert await statuses(ctx, ids) == {
            **{i: "published" for i in ids[:5]},
            cancelled: "cancelled",
        }
        summary = sandbox.world.summary()
        assert summary["posts"] == 5 and summary["duplicate_keys"] == []
        attempts = await rows(
            ctx,
            "SELECT publication_id::text AS pid, status, started_at, finished_at, worker_id,"
            " latency_ms FROM publisher.attempts WHERE publication_id::text = ANY(:ids)",
            ids=ids,
        )
        assert sorted(a.pid for a in attempts) == sorted(ids[:5])  # one each, none for dupes
        assert all(a.status == "published" and a.latency_ms is not None for a in attempts)
        # the five were recorded by one tx1 and finished by one tx2
        assert len({a.started_at for a in attempts}) == 1
        assert len({a.finished_at for a in attempts}) == 1
        events = await rows(
            ctx,
            "SELECT routing_key, envelope->'data'->>'publication_id' AS pid FROM publisher.outbox"
            " WHERE routing_key <> :d AND envelope->'data'->>'publication_id' = ANY(:ids)",
            d=DISPATCH,
            ids=ids,
        )
        assert sorted((e.routing_key.rsplit(".", 1)[1], e.pid) for e in events) == sorted(
            [("published", i) for i in ids[:5]] + [("cancelled", cancelled)]
        )
        published = await rows(
            ctx,
            "SELECT external_id, url, published_at, next_stats_at, claimed_at"
            " FROM publisher.publications WHERE status = 'published' AND id::text = ANY(:ids)",
            ids=ids,
        )
        assert all(p.external_id and p.published_at and p.next_stats_at for p in published)
        assert all(p.claimed_at is None for p in published)


async def test_failing_batch_tx2_is_retried_item_by_item(pg_url, make_runtime, monkeypatch):
    async with SandboxServer() as sandbox:
        ctx, ids, commands = await setup(pg_url, make_runtime, sandbox, 4)
        dispatcher = Dispatcher(ctx)
        finish = dispatcher._finish
        sizes: list[int] = []

        async def only_single(works, results):  # type: ignore[no-untyped-def]
            sizes.append(len(works))
            if len(works) > 1:
                raise RuntimeError("batch tx2 refused")
            await finish(works, results)

        monkeypatch.setattr(dispatcher, "_finish", only_single)
        await asyncio.gather(*(dispatcher(delivery(commands[i])) for i in ids))
        assert sizes[0] == 4 and sizes[1:] == [1, 1, 1, 1]
        assert set((await statuses(ctx, ids)).values()) == {"published"}
        assert sandbox.world.summary()["posts"] == 4


async def test_tx2_lost_after_the_calls_is_reconciled_on_redelivery(pg_url, make_runtime):
    """The worker made the posts, then its tx2 never committed (crash, database gone): every
    handler of the batch fails, so nothing is acked; the redelivered commands find their
    `started` attempts and look the posts up instead of posting again."""
    async with SandboxServer() as sandbox:
        ctx, ids, commands = await setup(pg_url, make_runtime, sandbox, 3)
        dying = Dispatcher(ctx)

        async def lost(works, results):  # type: ignore[no-untyped-def]
            raise ConnectionError("database connection lost")

        dying._finish = lost  # type: ignore[method-assign]
        results = await asyncio.gather(
            *(dying(delivery(commands[i])) for i in ids), return_exceptions=True
        )
        assert all(isinstance(r, ConnectionError) for r in results)  # -> not acked
        assert set((await statuses(ctx, ids)).values()) == {"dispatching"}
        assert sandbox.world.summary()["posts"] == 3

        await asyncio.gather(
            *(Dispatcher(ctx)(delivery(commands[i], redelivered=True)) for i in ids)
        )
        assert set((await statuses(ctx, ids)).values()) == {"published"}
        summary = sandbox.world.summary()
        assert summary["posts"] == 3 and summary["duplicate_keys"] == []
        kinds = await rows(
            ctx,
            "SELECT kind, status FROM publisher.attempts WHERE publication_id::text = ANY(:ids)"
            " ORDER BY kind, publication_id",
            ids=ids,
        )
        assert [(k.kind, k.status) for k in kinds] == [("publish", "started")] * 3 + [
            ("reconcile", "found")
        ] * 3


async def test_needs_reauth_flags_the_account_once_per_batch(pg_url, make_runtime):
    async with SandboxServer(auth_token="secret") as sandbox:
        ctx, ids, commands = await setup(pg_url, make_runtime, sandbox, 3)
        await asyncio.gather(*(Dispatcher(ctx)(delivery(commands[i])) for i in ids))
        pubs = await rows(
            ctx,
            "SELECT status, waiting_reauth, attempts, account_id FROM publisher.publications"
            " WHERE id::text = ANY(:ids)",
            ids=ids,
        )
        assert {(p.status, p.waiting_reauth, p.attempts) for p in pubs} == {("scheduled", True, 1)}
        account = (
            await rows(
                ctx,
                "SELECT status, status_reason FROM publisher.accounts WHERE id = :a",
                a=pubs[0].account_id,
            )
        )[0]
        assert account.status == "needs_reauth" and "401" in account.status_reason
        events = await rows(
            ctx,
            "SELECT envelope FROM publisher.outbox WHERE routing_key = :t"
            " AND envelope->'data'->>'account_id' = :a",
            t="mediaops.publisher.account.needs_reauth",
            a=str(pubs[0].account_id),
        )
        assert len(events) == 1 and events[0].envelope["data"]["channel"] == "sandbox"
        attempts = await rows(
            ctx,
            "SELECT status FROM publisher.attempts WHERE publication_id::text = ANY(:ids)",
            ids=ids,
        )
        assert [a.status for a in attempts] == ["reauth"] * 3
        assert sandbox.world.summary()["posts"] == 0


async def test_one_undecryptable_account_fails_only_its_command(pg_url, make_runtime):
    """Its attempt is committed by tx1 before the failure, so the command is retried through
    reconciliation; the rest of the batch is published."""
    async with SandboxServer() as sandbox:
        ctx, ids, commands = await setup(pg_url, make_runtime, sandbox, 2)
        bad_account, bad = await seed(ctx, 1)
        assert await claim_due(ctx) == 1
        async with ctx.db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE publisher.accounts SET credentials_enc = 'garbage' WHERE id = :a"),
                {"a": bad_account},
            )
            cmd = (
                await conn.execute(
                    text(
                        "SELECT envelope FROM publisher.outbox WHERE routing_key = :t"
                        " AND envelope->'data'->>'publication_id' = :p"
                    ),
                    {"t": DISPATCH, "p": bad[0]},
                )
            ).scalar_one()
        dispatcher = Dispatcher(ctx)  # one dispatcher: the three share a batch
        results = await asyncio.gather(
            *(dispatcher(delivery(c)) for c in [commands[ids[0]], cmd, commands[ids[1]]]),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert "cannot be decrypted" in str(results[1])
        assert await statuses(ctx, [*ids, *bad]) == {
            ids[0]: "published",
            ids[1]: "published",
            bad[0]: "dispatching",
        }
        open_attempts = await rows(
            ctx,
            "SELECT kind, status FROM publisher.attempts WHERE publication_id::text = :p",
            p=bad[0],
        )
        assert [(a.kind, a.status) for a in open_attempts] == [("publish", "started")]
        assert sandbox.world.summary()["posts"] == 2
