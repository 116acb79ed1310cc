"""The publisher service: accounts, publications, scheduler, dispatch workers, connectors."""

from __future__ import annotations

from services.publisher.api import routers
from services.publisher.dispatch import dispatch_subscription
from services.publisher.handlers import EVENT_HANDLERS
from services.publisher.ops import install_metrics_hook
from services.publisher.tables import metadata
from shared.service import ServiceContext, ServiceSpec, Worker


async def _setup(ctx: ServiceContext) -> None:
    install_metrics_hook(ctx)


async def _teardown(ctx: ServiceContext) -> None:
    registry = ctx.extras.get("publisher_connectors")
    if registry is None:
        return
    for channel in registry.channels():
        close = getattr(registry.get(channel), "aclose", None)
        if close is not None:
            await close()


def _scheduler_tasks(ctx: ServiceContext) -> list:  # type: ignore[type-arg]
    from services.publisher.scheduler import run_maintenance, run_scheduler

    return [lambda: run_scheduler(ctx), lambda: run_maintenance(ctx)]


def _webhook_subscriptions(ctx: ServiceContext) -> list:  # type: ignore[type-arg]
    from services.publisher.webhooks.delivery import fanout_subscription

    return fanout_subscription(ctx)


def _webhook_tasks(ctx: ServiceContext) -> list:  # type: ignore[type-arg]
    from services.publisher.webhooks.delivery import sender_tasks

    return sender_tasks(ctx)


def _poller_tasks(ctx: ServiceContext) -> list:  # type: ignore[type-arg]
    from services.publisher.poller import run_poller

    return [lambda: run_poller(ctx)]


SERVICE = ServiceSpec(
    name="publisher",
    title="mediaops publisher",
    description="Channel accounts, scheduled publications, the scheduler and dispatch workers "
    "that post exactly once through each platform's connector.",
    metadata=metadata,
    routers=routers,
    event_handlers=EVENT_HANDLERS,
    workers={
        "scheduler": Worker("scheduler", tasks=_scheduler_tasks),
        "worker": Worker("worker", subscriptions=dispatch_subscription),
        "poller": Worker("poller", tasks=_poller_tasks),
        # Outside tools: fan-out of every event to webhook subscriptions, and the sender.
        "webhooks": Worker("webhooks", subscriptions=_webhook_subscriptions, tasks=_webhook_tasks),
    },
    setup=_setup,
    teardown=_teardown,
)
