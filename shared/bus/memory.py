"""In-process bus for the embedded default: same interface, same retry/dead-letter rules.

Nothing here survives a restart, which is fine: the outbox is the durable part, and the relay
marks a row sent only after `publish` handed it to every matching queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence

from shared.bus.base import (
    DeadLetter,
    Delivery,
    Message,
    PoisonMessage,
    Subscription,
    retry_delay_ms,
    topic_matches,
)
from shared.config import Settings

log = logging.getLogger("mediaops.bus")


class MemoryBus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._subs: dict[str, Subscription] = {}
        self._bindings: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._queues: dict[str, asyncio.Queue[Delivery]] = {}
        self._dlq: dict[str, list[tuple[Delivery, str]]] = defaultdict(list)
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        for h in self._timers:
            h.cancel()
        self._timers.clear()

    async def publish(self, messages: Sequence[Message]) -> None:
        for m in messages:
            for name, (exchange, keys) in self._bindings.items():
                if exchange == m.exchange and any(topic_matches(k, m.routing_key) for k in keys):
                    self._queues[name].put_nowait(
                        Delivery(
                            queue=name,
                            routing_key=m.routing_key,
                            body=m.body,
                            message_id=m.message_id,
                            headers=dict(m.headers),
                            attempt=1,
                        )
                    )

    async def declare(self, subscriptions: Sequence[Subscription]) -> None:
        for sub in subscriptions:
            self._queues.setdefault(sub.queue, asyncio.Queue())
            self._bindings[sub.queue] = (sub.exchange, sub.routing_keys)

    async def subscribe(self, subscription: Subscription) -> None:
        await self.declare([subscription])
        self._subs[subscription.queue] = subscription
        workers = max(1, min(subscription.prefetch, 16))
        for _ in range(workers):
            self._tasks.append(asyncio.create_task(self._consume(subscription)))

    async def _consume(self, sub: Subscription) -> None:
        queue = self._queues[sub.queue]
        while True:
            delivery = await queue.get()
            try:
                await sub.handler(delivery)
            except Exception as exc:
                if isinstance(exc, PoisonMessage) or delivery.attempt >= self.settings.max_attempts:
                    self._dlq[sub.queue].append((delivery, repr(exc)[:500]))
                    log.error("dead-lettered", extra={"queue": sub.queue})
                    continue
                delay = retry_delay_ms(self.settings.retry_delays_ms, delivery.attempt) / 1000
                retry = Delivery(
                    queue=delivery.queue,
                    routing_key=delivery.routing_key,
                    body=delivery.body,
                    message_id=delivery.message_id,
                    headers=delivery.headers,
                    attempt=delivery.attempt + 1,
                )
                loop = asyncio.get_running_loop()
                handle = loop.call_later(delay, queue.put_nowait, retry)
                self._timers.add(handle)

    async def check(self, queues: Sequence[str]) -> None:
        missing = [q for q in queues if q not in self._queues]
        if missing:
            raise LookupError(f"queues not declared: {missing}")

    async def queue_depth(self, queue: str) -> tuple[int, int]:
        q = self._queues.get(queue)
        consumers = 1 if queue in self._subs else 0
        return (q.qsize() if q else 0), consumers

    async def dlq_list(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        return [
            DeadLetter(
                queue=queue,
                message_id=d.message_id,
                routing_key=d.routing_key,
                error=err,
                attempts=d.attempt,
                body=d.body,
            )
            for d, err in self._dlq.get(queue, [])[:limit]
        ]

    async def dlq_replay(self, queue: str, limit: int = 1000) -> int:
        items = self._dlq.get(queue, [])
        replay, self._dlq[queue] = items[:limit], items[limit:]
        for d, _ in replay:
            self._queues[queue].put_nowait(
                Delivery(
                    queue=queue,
                    routing_key=d.routing_key,
                    body=d.body,
                    message_id=d.message_id,
                    headers=d.headers,
                    attempt=1,
                )
            )
        return len(replay)
