"""The consuming edge: one message = one transaction with its inbox row and outbox rows."""

from __future__ import annotations

import logging

from prometheus_client import Counter
from pydantic import ValidationError

from shared.bus import Delivery, PoisonMessage, Subscription
from shared.events import CloudEvent
from shared.service import HandlerContext, ServiceContext

log = logging.getLogger("mediaops.consumer")

HANDLED = Counter("mediaops_events_handled_total", "Events handled", ["service", "type", "outcome"])


class EventConsumer:
    """Routes an incoming CloudEvent to the service's handlers, exactly once in effect."""

    def __init__(self, ctx: ServiceContext, consumer_name: str | None = None) -> None:
        self.ctx = ctx
        self.name = consumer_name or ctx.spec.name
        self.handlers = ctx.spec.event_handlers

    async def __call__(self, delivery: Delivery) -> None:
        try:
            event = CloudEvent.model_validate_json(delivery.body)
        except ValidationError as exc:
            raise PoisonMessage(f"not a CloudEvent: {exc.errors()[:3]}") from exc
        handlers = self.handlers.get(event.type, [])
        if not handlers:
            return
        try:
            async with self.ctx.db.session() as session, session.begin():
                if not await self.ctx.inbox.first_time(session, self.name, event.id, event.type):
                    HANDLED.labels(self.ctx.name, event.type, "duplicate").inc()
                    return
                hctx = HandlerContext(session=session, event=event, service=self.ctx)
                for handler in handlers:
                    await handler(hctx, event)
        except Exception:
            HANDLED.labels(self.ctx.name, event.type, "error").inc()
            raise
        HANDLED.labels(self.ctx.name, event.type, "ok").inc()


def event_subscription(ctx: ServiceContext) -> Subscription | None:
    """The service's own queue, bound to exactly the types it has handlers for."""
    keys = tuple(sorted(ctx.spec.event_handlers))
    if not keys:
        return None
    return Subscription(
        queue=ctx.spec.queue,
        exchange="events",
        routing_keys=keys,
        handler=EventConsumer(ctx),
        prefetch=ctx.settings.prefetch,
    )
