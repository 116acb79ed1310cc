"""kill -9 a publisher dispatch worker again and again during 2,000 dispatches.

Real processes: the sandbox platform (10 ms per call), two `mediaops worker publisher`, the
scheduler and the outbox relay. 2,000 publications over 50 accounts fall due over ~15 s;
while they flow, a random worker is SIGKILLed every 0.4-1.2 s and started again. Every
publication must end `published` exactly once, counted on the sandbox's own list of posts
(one post per idempotency key, posts == 2000, duplicate_keys == []), with one
`publication.published` event each.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from typing import Any

import asyncpg
import httpx
import pytest

from tests.faults.conftest import poll

pytestmark = pytest.mark.infra

POSTS = 2000
ACCOUNTS = 50
SPREAD_S = 15.0
WORKSPACE = "faults-kill"

PUBLISHER_ENV = {
    "MEDIAOPS_DB_POOL_SIZE": "3",  # the PostgreSQL is shared: few connections
    "MEDIAOPS_PUBLISHER_SCHEDULER_POLL_S": "0.05",
    "MEDIAOPS_PUBLISHER_MAINTENANCE_POLL_S": "0.2",
    "MEDIAOPS_PUBLISHER_CLAIM_BATCH": "500",
    "MEDIAOPS_PUBLISHER_ACCOUNT_CONCURRENCY": "100",
    "MEDIAOPS_PUBLISHER_ACCOUNT_RATE_PER_S": "100000",
    "MEDIAOPS_PUBLISHER_ACCOUNT_BURST": "100000",
    "MEDIAOPS_PUBLISHER_CHANNEL_RATE_PER_S": "100000",
    "MEDIAOPS_PUBLISHER_CHANNEL_BURST": "100000",
    "MEDIAOPS_PUBLISHER_POLLER_POLL_S": "3600",
    "MEDIAOPS_PUBLISHER_RECONCILE_DELAY_S": "0.2",
    "MEDIAOPS_PUBLISHER_BACKOFF_BASE_S": "0.05",
    "MEDIAOPS_PUBLISHER_BACKOFF_CAP_S": "0.5",
    "MEDIAOPS_PUBLISHER_MAX_ATTEMPTS": "30",
    "MEDIAOPS_PUBLISHER_DISPATCH_LEASE_S": "10",
    "MEDIAOPS_PUBLISHER_CONNECTOR_TIMEOUT_S": "5",
}


async def seed(
    db_url: str, n: int, spread_s: float, workspace: str, accounts: int = ACCOUNTS
) -> list[str]:
    """Accounts, one approved snapshot and n publications falling due over `spread_s`."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            """INSERT INTO publisher.accounts (id, workspace_id, channel, name, settings,
                   credential_keys, status, version)
               SELECT gen_random_uuid(), $2::text, 'sandbox', 'acc' || g,
                      jsonb_build_object('handle', $2::text || '-' || g), '[]', 'active', 1
               FROM generate_series(1, $1) g""",
            accounts,
            workspace,
        )
        snap = await conn.fetchval(
            """INSERT INTO publisher.approved_snapshots (id, workspace_id, item_id, version,
                   content_hash, title, format, account_ids, variants, approved_at)
               VALUES (gen_random_uuid(), $1, 'item', 1, 'h', 'Faults', 'post', '[]',
                   '[{"variant_id": "v1", "channel": "sandbox", "body": "fault post"}]', now())
               RETURNING id""",
            workspace,
        )
        rows = await conn.fetch(
            """INSERT INTO publisher.publications (id, workspace_id, item_id, variant_key,
                   account_id, channel, snapshot_id, content_hash, occurrence, mode, timezone,
                   scheduled_at, due_at, status, attempts, cancel_requested, waiting_reauth,
                   stats_done)
               SELECT gen_random_uuid(), $4, 'item-' || g, '', a.id, 'sandbox', $2, 'h', 0,
                      'asap', 'UTC', now(), now() + make_interval(secs => g * $5::float8 / $1),
                      'scheduled', 0, false, false, '[]'
               FROM generate_series(0, $1 - 1) g
               JOIN (SELECT id, row_number() OVER () - 1 AS k FROM publisher.accounts
                     WHERE workspace_id = $4) a
                 ON a.k = g % $3
               RETURNING id""",
            n,
            snap,
            accounts,
            workspace,
            spread_s,
        )
        return [str(r["id"]) for r in rows]
    finally:
        await conn.close()


async def statuses(db_url: str, workspace: str) -> dict[str, int]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM publisher.publications WHERE workspace_id = $1 "
            "GROUP BY status",
            workspace,
        )
        return {r["status"]: int(r["n"]) for r in rows}
    finally:
        await conn.close()


async def attempt_statuses(db_url: str, workspace: str) -> dict[str, int]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            """SELECT a.status, count(*) AS n FROM publisher.attempts a
               JOIN publisher.publications p ON p.id = a.publication_id
               WHERE p.workspace_id = $1 GROUP BY a.status""",
            workspace,
        )
        return {r["status"]: int(r["n"]) for r in rows}
    finally:
        await conn.close()


async def wait_consumers(prefix: str, queue: str, count: int, timeout: float = 30) -> None:
    import aio_pika

    from tests.support import infra

    conn = await aio_pika.connect(infra.AMQP_URL)
    try:

        async def enough() -> bool:
            ch = await conn.channel()
            try:
                q = await ch.declare_queue(f"{prefix}{queue}", passive=True)
                return (q.declaration_result.consumer_count or 0) >= count
            except Exception:
                return False
            finally:
                if not ch.is_closed:
                    await ch.close()

        await poll(enough, timeout, f"{count} consumers on {queue}", 0.2)
    finally:
        await conn.close()


async def check_exactly_once(db_url: str, sandbox_url: str, ids: list[str], workspace: str) -> Any:
    """Each publication published once: one post per key on the sandbox, one event each."""
    async with httpx.AsyncClient(timeout=30) as h:
        summary = (await h.get(f"{sandbox_url}/v1/summary")).json()
        posts = (await h.get(f"{sandbox_url}/v1/posts")).json()["posts"]
    assert summary["duplicate_keys"] == [], summary["duplicate_keys"][:5]
    assert summary["posts"] == len(ids) and summary["distinct_keys"] == len(ids), summary
    by_key = {p["idempotency_key"]: p for p in posts}
    assert set(by_key) == {f"mo-{i}" for i in ids}
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, external_id FROM publisher.publications "
            "WHERE workspace_id = $1",
            workspace,
        )
        events = await conn.fetch(
            """SELECT envelope->'data'->>'publication_id' AS id, count(*) AS n
               FROM publisher.outbox
               WHERE routing_key = 'mediaops.publisher.publication.published'
               GROUP BY 1""",
        )
    finally:
        await conn.close()
    assert all(by_key[f"mo-{r['id']}"]["id"] == r["external_id"] for r in rows)
    counts = {r["id"]: int(r["n"]) for r in events}
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    return summary


async def test_kill_9_workers_again_and_again_during_2000_dispatches(stack) -> None:  # type: ignore[no-untyped-def]
    s = stack()
    sandbox = s.sandbox()
    async with httpx.AsyncClient() as h:
        r = await h.put(f"{sandbox.url}/v1/behaviour", json={"latency_ms": 10})
        assert r.status_code == 200, r.text
    env = {"MEDIAOPS_SANDBOX_URL": sandbox.url, **PUBLISHER_ENV}
    workers = [
        s.start(f"worker{i}", ["worker", "publisher", "--concurrency", "20"], env) for i in (1, 2)
    ]
    await wait_consumers(s.prefix, "publisher.dispatch", 2)
    started = time.monotonic()
    ids = await seed(s.db_url, POSTS, SPREAD_S, WORKSPACE)
    s.start("relay", ["relay", "--service", "publisher"], env)
    s.start("scheduler", ["worker", "publisher.scheduler"], env)

    rng = random.Random(20261126)
    kills = 0
    deadline = started + 120
    while time.monotonic() < deadline:
        counts = await statuses(s.db_url, WORKSPACE)
        if counts.get("published", 0) == POSTS:
            break
        await asyncio.sleep(rng.uniform(0.4, 1.2))
        # keep killing while dispatches are still coming in, then let them finish
        if time.monotonic() - started < SPREAD_S + 3:
            victim = rng.choice(workers)
            if victim.alive():
                victim.kill(signal.SIGKILL)
                kills += 1
            victim.start()
    for w in workers:
        if not w.alive():
            w.start()
    counts = await poll(
        lambda: _all_published(s.db_url), max(5.0, deadline - time.monotonic()), "all published"
    )
    elapsed = time.monotonic() - started
    summary = await check_exactly_once(s.db_url, sandbox.url, ids, WORKSPACE)
    attempts = await attempt_statuses(s.db_url, WORKSPACE)
    print(
        f"\n{POSTS} dispatches, {kills} worker kills (SIGKILL), all published once in "
        f"{elapsed:.1f} s; sandbox requests by outcome {summary['requests_by_outcome']}; "
        f"attempts by status {attempts}"
    )
    assert kills >= 8, f"only {kills} kills happened"
    # kills hit work in flight: its redeliveries were reconciled (looked up on the platform)
    # before any new call; whether one lands between the platform's answer and the outcome
    # commit ("found") is down to timing, and is pinned by
    # tests/integration/publisher/test_flow.py::test_worker_death_mid_call_is_reconciled_not_reposted
    assert attempts.get("found", 0) + attempts.get("missing", 0) > 0, attempts
    assert counts == {"published": POSTS}


async def _all_published(db_url: str) -> dict[str, int] | None:
    counts = await statuses(db_url, WORKSPACE)
    return counts if counts.get("published", 0) == POSTS else None
