"""RabbitMQ bus on aio-pika, with the 3.10 pitfalls handled (see quality.md).

- publisher confirms awaited in windows; `mandatory` + `on_return_raises` so nothing vanishes
- durable queues (quorum by default, classic configurable) with explicit `x-delivery-limit`
  and a dead-letter queue, so a crash-looping message cannot loop forever
- handler failure -> republished (confirmed) to a TTL retry queue that dead-letters back to
  the work queue, then acked; after `max_attempts` -> `<queue>.dlq`
- manual ack only after the handler's transaction committed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)

from shared.bus.base import (
    DeadLetter,
    Delivery,
    Message,
    PoisonMessage,
    Subscription,
)
from shared.config import Settings

log = logging.getLogger("mediaops.bus")

ATTEMPT = "x-mediaops-attempt"
ROUTING_KEY = "x-mediaops-routing-key"
ERROR = "x-mediaops-error"
WINDOW = 500


class AmqpBus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumer_channels: list[AbstractChannel] = []
        self._lock = asyncio.Lock()
        # Names this bus declared (queues, exchanges): for operators' tooling and test cleanup.
        self.declared_queues: set[str] = set()
        self.declared_exchanges: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        async with self._lock:
            if self.connection is not None:
                return
            url = self.settings.amqp_url or ""
            sep = "&" if "?" in url else "?"
            if "heartbeat=" not in url:
                url = f"{url}{sep}heartbeat=30"
            self.connection = await aio_pika.connect_robust(
                url, client_properties={"connection_name": "mediaops"}, timeout=10
            )
            self._publish_channel = await self.connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            # Events nobody is bound to go to a capped `unrouted` queue (alternate exchange),
            # so `mandatory` only ever fails for a command without its work queue.
            unrouted = f"{self.settings.amqp_prefix}mediaops.unrouted"
            ae = await self._publish_channel.declare_exchange(
                unrouted, aio_pika.ExchangeType.FANOUT, durable=True
            )
            q = await self._publish_channel.declare_queue(
                unrouted,
                durable=True,
                arguments={"x-max-length": 10000, "x-overflow": "drop-head"},
            )
            await q.bind(ae)
            self.declared_queues.add(unrouted)
            self.declared_exchanges.update(
                {unrouted, self.settings.exchange_events, self.settings.exchange_commands}
            )
            self._exchanges["events"] = await self._publish_channel.declare_exchange(
                self.settings.exchange_events,
                aio_pika.ExchangeType.TOPIC,
                durable=True,
                arguments={"alternate-exchange": unrouted},
            )
            self._exchanges["commands"] = await self._publish_channel.declare_exchange(
                self.settings.exchange_commands, aio_pika.ExchangeType.TOPIC, durable=True
            )

    async def close(self, grace_s: float = 10.0) -> None:
        """Close channels and the connection; a broker that stopped answering must not hang
        shutdown, so each close is bounded (the socket goes with the process anyway)."""
        channels, self._consumer_channels = self._consumer_channels, []
        for ch in channels:
            if not ch.is_closed:
                with contextlib.suppress(TimeoutError, aio_pika.exceptions.AMQPError, OSError):
                    await asyncio.wait_for(ch.close(), grace_s)
        connection, self.connection = self.connection, None
        self._publish_channel = None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), grace_s)
            except TimeoutError:
                log.warning("the AMQP connection did not close in %.0f s: dropped", grace_s)

    # -- publishing --------------------------------------------------------------------
    async def publish(self, messages: Sequence[Message]) -> None:
        if self.connection is None:
            await self.start()
        for start in range(0, len(messages), WINDOW):
            window = messages[start : start + WINDOW]
            await asyncio.gather(*(self._publish_one(m) for m in window))

    async def _publish_one(self, m: Message) -> None:
        exchange = self._exchanges[m.exchange]
        await exchange.publish(
            aio_pika.Message(
                m.body,
                content_type="application/cloudevents+json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=m.message_id,
                headers=m.headers or None,
            ),
            routing_key=m.routing_key,
            mandatory=True,
            timeout=self.settings.publish_timeout_s,
        )

    async def _publish_to_queue(
        self, queue: str, msg: AbstractIncomingMessage, headers: dict
    ) -> None:
        assert self._publish_channel is not None
        await self._publish_channel.default_exchange.publish(
            aio_pika.Message(
                msg.body,
                content_type=msg.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=msg.message_id,
                headers=headers,
            ),
            routing_key=queue,
            mandatory=True,
            timeout=self.settings.publish_timeout_s,
        )

    # -- topology ----------------------------------------------------------------------
    def _queue_args(self, name: str) -> dict[str, Any]:
        args: dict[str, Any] = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": f"{name}.dlq",
        }
        if self.settings.queue_type == "quorum":
            args["x-queue-type"] = "quorum"
            # 3.10 has no default: without it a crash-looping message redelivers forever.
            args["x-delivery-limit"] = max(self.settings.max_attempts * 2, 10)
        return args

    async def declare(self, subscriptions: Sequence[Subscription]) -> None:
        if self.connection is None:
            await self.start()
        assert self.connection is not None
        channel = await self.connection.channel()
        try:
            for sub in subscriptions:
                name = self.settings.queue(sub.queue)
                retries = [
                    f"{name}.retry.{i}" for i in range(1, len(self.settings.retry_delays_ms) + 1)
                ]
                self.declared_queues.update({name, f"{name}.dlq", *retries})
                await channel.declare_queue(f"{name}.dlq", durable=True)
                for i, delay in enumerate(self.settings.retry_delays_ms, start=1):
                    await channel.declare_queue(
                        f"{name}.retry.{i}",
                        durable=True,
                        arguments={
                            "x-message-ttl": int(delay),
                            "x-dead-letter-exchange": "",
                            "x-dead-letter-routing-key": name,
                        },
                    )
                queue = await channel.declare_queue(
                    name, durable=True, arguments=self._queue_args(name)
                )
                exchange = (
                    self.settings.exchange_events
                    if sub.exchange == "events"
                    else self.settings.exchange_commands
                )
                for key in sub.routing_keys:
                    await queue.bind(exchange, routing_key=key)
        finally:
            await channel.close()

    async def subscribe(self, subscription: Subscription) -> None:
        await self.declare([subscription])
        assert self.connection is not None
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=subscription.prefetch)
        self._consumer_channels.append(channel)
        name = self.settings.queue(subscription.queue)
        queue = await channel.declare_queue(name, durable=True, arguments=self._queue_args(name))

        async def on_message(msg: AbstractIncomingMessage) -> None:
            await self._handle(subscription, name, msg)

        await queue.consume(on_message, no_ack=False)

    async def _handle(self, sub: Subscription, name: str, msg: AbstractIncomingMessage) -> None:
        headers = dict(msg.headers or {})
        attempt = int(headers.get(ATTEMPT, 0)) + 1  # type: ignore[call-overload]
        delivery = Delivery(
            queue=sub.queue,
            routing_key=str(headers.get(ROUTING_KEY) or msg.routing_key or ""),
            body=msg.body,
            message_id=msg.message_id,
            headers=headers,
            attempt=attempt,
            redelivered=bool(msg.redelivered),
        )
        try:
            await sub.handler(delivery)
        except Exception as exc:
            poison = isinstance(exc, PoisonMessage)
            if not poison:
                log.warning(
                    "handler failed",
                    extra={"queue": name, "attempt": attempt, "error": repr(exc)[:300]},
                )
            try:
                new_headers = {
                    **headers,
                    ATTEMPT: attempt,
                    ROUTING_KEY: delivery.routing_key,
                    ERROR: repr(exc)[:500],
                }
                if poison or attempt >= self.settings.max_attempts:
                    await self._publish_to_queue(f"{name}.dlq", msg, new_headers)
                    log.error("dead-lettered", extra={"queue": name, "message_id": msg.message_id})
                else:
                    level = min(attempt, len(self.settings.retry_delays_ms))
                    await self._publish_to_queue(f"{name}.retry.{level}", msg, new_headers)
                await msg.ack()
            except Exception:
                log.exception("could not park a failed message; leaving it to the broker")
                await msg.nack(requeue=True)
            return
        await msg.ack()

    # -- operations --------------------------------------------------------------------
    async def check(self, queues: Sequence[str]) -> None:
        if self.connection is None or self.connection.is_closed:
            raise ConnectionError("broker connection is closed")
        channel = await asyncio.wait_for(self.connection.channel(), 3)
        try:
            for q in queues:
                await asyncio.wait_for(
                    channel.declare_queue(self.settings.queue(q), passive=True), 3
                )
        finally:
            await channel.close()

    async def queue_depth(self, queue: str) -> tuple[int, int]:
        assert self.connection is not None
        channel = await self.connection.channel()
        try:
            q = await channel.declare_queue(self.settings.queue(queue), passive=True)
            result = q.declaration_result
            return int(result.message_count or 0), int(result.consumer_count or 0)
        finally:
            await channel.close()

    async def dlq_list(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        if self.connection is None:
            await self.start()
        assert self.connection is not None
        channel = await self.connection.channel()
        out: list[DeadLetter] = []
        try:
            q = await channel.declare_queue(f"{self.settings.queue(queue)}.dlq", durable=True)
            while len(out) < limit:
                msg = await q.get(no_ack=False, fail=False)
                if msg is None:
                    break
                h = dict(msg.headers or {})
                out.append(
                    DeadLetter(
                        queue=queue,
                        message_id=msg.message_id,
                        routing_key=str(h.get(ROUTING_KEY) or msg.routing_key or ""),
                        error=str(h.get(ERROR)) if h.get(ERROR) else None,
                        attempts=int(h.get(ATTEMPT, 0)),  # type: ignore[call-overload]
                        body=msg.body,
                    )
                )
        finally:
            await channel.close()  # unacked messages return to the DLQ
        return out

    async def dlq_replay(self, queue: str, limit: int = 1000) -> int:
        if self.connection is None:
            await self.start()
        assert self.connection is not None
        channel = await self.connection.channel()
        name = self.settings.queue(queue)
        count = 0
        try:
            q = await channel.declare_queue(f"{name}.dlq", durable=True)
            while count < limit:
                msg = await q.get(no_ack=False, fail=False)
                if msg is None:
                    break
                h = dict(msg.headers or {})
                h.pop(ERROR, None)
                h[ATTEMPT] = 0
                await self._publish_to_queue(name, msg, h)
                await msg.ack()
                count += 1
        finally:
            await channel.close()
        return count
