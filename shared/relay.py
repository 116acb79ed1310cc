"""The outbox relay: publishes committed outbox rows with confirms, then marks them sent.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays may run. A row is marked
sent only after the broker confirmed it; a crash in between re-publishes it (consumers
dedupe by event id). LISTEN/NOTIFY wakes the relay; polling is the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter, Histogram
from sqlalchemy import text

from shared.bus import Bus, Message
from shared.db import Database, plain_url
from shared.outbox import NOTIFY_CHANNEL

log = logging.getLogger("mediaops.relay")

RELAYED = Counter("mediaops_outbox_relayed_total", "Outbox rows published", ["schema"])
RELAY_LAG = Histogram(
    "mediaops_outbox_lag_seconds",
    "Commit-to-confirm lag of relayed outbox rows",
    ["schema"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RELAY_ERRORS = Counter("mediaops_outbox_relay_errors_total", "Relay errors", ["schema"])


class Relay:
    def __init__(
        self,
        databases: dict[str, Database],
        bus: Bus,
        *,
        batch: int = 500,
        poll_s: float = 1.0,
        retention_s: float = 86400.0,
        linger_s: float = 0.002,
        inbox_retention_s: float = 7 * 86400.0,
    ) -> None:
        self.databases = databases  # schema -> database holding it
        self.bus = bus
        self.batch = batch
        self.poll_s = poll_s
        self.retention_s = retention_s
        self.linger_s = linger_s
        self.inbox_retention_s = inbox_retention_s
        self._wake: dict[str, asyncio.Event] = {s: asyncio.Event() for s in databases}
        self._listeners: list[asyncpg.Connection] = []

    async def drain_once(self, schema: str) -> int:
        """Publish up to one batch of unsent rows of `schema`; returns how many were sent."""
        db = self.databases[schema]
        async with db.engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT seq, id::text, kind, routing_key, envelope::text, "
                        f"extract(epoch from now() - created_at) AS age "
                        f'FROM "{schema}".outbox WHERE sent_at IS NULL '
                        f"ORDER BY seq LIMIT :n FOR UPDATE SKIP LOCKED"
                    ),
                    {"n": self.batch},
                )
            ).all()
            if not rows:
                return 0
            messages = [
                Message(
                    exchange="commands" if r.kind == "command" else "events",
                    routing_key=r.routing_key,
                    body=r.envelope.encode(),
                    message_id=r.id,
                )
                for r in rows
            ]
            await self.bus.publish(messages)
            await conn.execute(
                text(f'UPDATE "{schema}".outbox SET sent_at = now() WHERE seq = ANY(:seqs)'),
                {"seqs": [r.seq for r in rows]},
            )
        RELAYED.labels(schema).inc(len(rows))
        for r in rows:
            RELAY_LAG.labels(schema).observe(float(r.age))
        return len(rows)

    async def drain(self, schema: str) -> int:
        total = 0
        while True:
            n = await self.drain_once(schema)
            total += n
            if n < self.batch:
                return total

    async def purge_sent(self, schema: str) -> None:
        db = self.databases[schema]
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    f'DELETE FROM "{schema}".outbox WHERE seq IN (SELECT seq FROM "{schema}".outbox '
                    f"WHERE sent_at < now() - make_interval(secs => :s) LIMIT 10000)"
                ),
                {"s": self.retention_s},
            )
            # The inbox only has to remember an event for as long as it can be redelivered.
            await conn.execute(
                text(
                    f'DELETE FROM "{schema}".inbox WHERE ctid IN (SELECT ctid FROM "{schema}".inbox '
                    f"WHERE received_at < now() - make_interval(secs => :s) LIMIT 10000)"
                ),
                {"s": self.inbox_retention_s},
            )

    async def _listen(self) -> None:
        await self._close_listeners()
        seen: set[str] = set()
        for db in self.databases.values():
            if db.url in seen:
                continue
            seen.add(db.url)
            conn = await asyncpg.connect(plain_url(db.url), timeout=5)

            def on_notify(_c: object, _pid: int, _channel: str, payload: str) -> None:
                event = self._wake.get(payload)
                if event is not None:
                    event.set()

            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            self._listeners.append(conn)

    async def _close_listeners(self) -> None:
        for conn in self._listeners:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        self._listeners.clear()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        tasks = [asyncio.create_task(self._run_schema(s, stop)) for s in self.databases]
        tasks.append(asyncio.create_task(self._keep_listening(stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await self._close_listeners()

    async def _keep_listening(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                if not self._listeners or any(c.is_closed() for c in self._listeners):
                    await self._listen()
                    for ev in self._wake.values():
                        ev.set()  # we may have missed notifications while disconnected
                delay = 0.5
            except Exception as exc:
                log.warning("relay listener unavailable: %r", exc)
                delay = min(delay * 2, 10)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay if self._listeners else 0.5)

    async def _run_schema(self, schema: str, stop: asyncio.Event) -> None:
        wake = self._wake[schema]
        backoff = 0.2
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            wake.clear()
            try:
                sent = await self.drain(schema)
                backoff = 0.2
                if loop.time() - last_purge > 60:
                    last_purge = loop.time()
                    await self.purge_sent(schema)
            except Exception as exc:
                RELAY_ERRORS.labels(schema).inc()
                log.warning("relay %s failed: %r", schema, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)
                continue
            # After a pass that found rows, look again soon: producers notify at most once per
            # interval (see shared.outbox), so stragglers are picked up within the linger.
            wait = self.linger_s if sent else self.poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)


def schemas_of(databases: Sequence[tuple[str, Database]]) -> dict[str, Database]:
    return dict(databases)
