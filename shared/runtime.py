"""The composition root: builds each service's context and runs the roles of a process.

Roles: `api` (HTTP only), `consumers` (each service's event queue), `relay` (the outbox
relay) and the services' named workers, e.g. `publisher.scheduler`, `publisher.worker`.
`mediaops up` runs them all in one process; production runs one role per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from shared.bus import Bus, Subscription, create_bus
from shared.config import SERVICES, Settings
from shared.consumer import event_subscription
from shared.db import Database
from shared.inbox import Inbox
from shared.outbox import Outbox
from shared.relay import Relay
from shared.service import ServiceContext, ServiceSpec, utc_clock

log = logging.getLogger("mediaops.runtime")

STOP_GRACE_S = 10.0


def load_spec(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    module = importlib.import_module(f"services.{name}.service")
    spec: ServiceSpec = module.SERVICE
    return spec


async def _noop(_d: Any) -> None:
    return None


def topology(ctx: ServiceContext) -> list[Subscription]:
    """Every queue a service owns, declared at start-up whoever consumes them."""
    subs: list[Subscription] = []
    own = event_subscription(ctx)
    if own is not None:
        subs.append(own)
    for worker in ctx.spec.workers.values():
        subs.extend(worker.subscriptions(ctx))
    return subs


class Runtime:
    def __init__(
        self,
        settings: Settings,
        services: Iterable[str | ServiceSpec] = SERVICES,
        *,
        roles: Iterable[str] = ("api",),
        bus: Bus | None = None,
        clock: Callable[[], datetime] = utc_clock,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.roles = set(roles)
        self.bus: Bus = bus or create_bus(settings)
        self.clock = clock
        self.databases: dict[str, Database] = {}
        self.contexts: dict[str, ServiceContext] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.relay: Relay | None = None
        shared_extras = extras or {}
        for item in services:
            spec = load_spec(item) if isinstance(item, str) else item
            url = settings.service_database_url(spec.name)
            if not url:
                raise RuntimeError(f"no database URL for {spec.name}: set DATABASE_URL")
            db = self.databases.get(url)
            if db is None:
                db = Database(
                    url,
                    pool_size=settings.db_pool_size,
                    connect_timeout_s=settings.db_connect_timeout_s,
                    statement_timeout_ms=settings.db_statement_timeout_ms,
                )
                self.databases[url] = db
            ctx = ServiceContext(
                spec=spec,
                settings=settings,
                db=db,
                bus=self.bus,
                outbox=Outbox(spec.metadata, spec.name),
                inbox=Inbox(spec.metadata),
                clock=clock,
                extras=dict(shared_extras),
            )
            ctx.ready_queues = [s.queue for s in topology(ctx)]
            self.contexts[spec.name] = ctx

    def _run(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            delay = 0.5
            while not self._stop.is_set():
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background task %s crashed; restarting", name)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def start(self) -> None:
        await self.bus.start()
        all_subs = [s for ctx in self.contexts.values() for s in topology(ctx)]
        await self.bus.declare(all_subs)
        for ctx in self.contexts.values():
            if ctx.spec.setup is not None:
                await ctx.spec.setup(ctx)
            if "consumers" in self.roles:
                own = event_subscription(ctx)
                if own is not None:
                    await self.bus.subscribe(own)
            for wname, worker in ctx.spec.workers.items():
                if f"{ctx.name}.{wname}" not in self.roles:
                    continue
                for sub in worker.subscriptions(ctx):
                    await self.bus.subscribe(sub)
                for i, task in enumerate(worker.tasks(ctx)):
                    self._run(f"{ctx.name}.{wname}.{i}", task)
        if "relay" in self.roles:
            self.relay = Relay(
                {ctx.spec.schema: ctx.db for ctx in self.contexts.values()},
                self.bus,
                batch=self.settings.relay_batch,
                poll_s=self.settings.relay_poll_s,
                retention_s=self.settings.outbox_retention_s,
                inbox_retention_s=self.settings.inbox_retention_s,
            )
            relay = self.relay
            self._run("relay", lambda: relay.run(self._stop))
        log.info("runtime started", extra={"roles": sorted(self.roles)})

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            # bounded: a task that swallows its cancellation must not hang shutdown
            done, stuck = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
            for t in done:
                if not t.cancelled():
                    t.exception()  # retrieved: it was logged where it happened
            for t in stuck:
                log.warning("task %s did not stop in %.0f s", t.get_name(), STOP_GRACE_S)
        self._tasks.clear()
        for ctx in self.contexts.values():
            if ctx.spec.teardown is not None:
                with contextlib.suppress(Exception):
                    await ctx.spec.teardown(ctx)
        await self.bus.close()
        for db in self.databases.values():
            await db.dispose()


def all_roles(services: Iterable[str] = SERVICES) -> set[str]:
    """Every role of every service that belongs in `mediaops up`."""
    roles = {"api", "consumers", "relay"}
    for name in services:
        spec = load_spec(name)
        roles.update(f"{name}.{w}" for w, worker in spec.workers.items() if worker.in_up)
    return roles
