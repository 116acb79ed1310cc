"""What a service is (its spec) and what it runs with (its context).

Each service module exposes `SERVICE: ServiceSpec`; the composition root (shared.runtime)
builds one ServiceContext per service with the real db, bus and clock, or tests build it
with their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import CloudEvent
from shared.outbox import Outbox

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.bus import Bus, Subscription
    from shared.config import Settings
    from shared.db import Database
    from shared.inbox import Inbox


def utc_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class HandlerContext:
    """What an event handler gets: the message's transaction and a way to emit events."""

    session: AsyncSession
    event: CloudEvent
    service: ServiceContext

    async def emit(
        self, type: str, data: Any, *, subject: str | None = None, workspace_id: str | None = None
    ) -> CloudEvent:
        return await self.service.outbox.emit(
            self.session,
            type,
            data,
            workspace_id=workspace_id or self.event.workspaceid,
            subject=subject,
            request_id=self.event.requestid,
            traceparent=self.event.traceparent,
        )

    def now(self) -> datetime:
        return self.service.clock()


EventHandler = Callable[[HandlerContext, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Worker:
    """A named background role of a service (e.g. publisher scheduler, dispatch worker).

    `subscriptions` are extra queues it consumes; `tasks` are long-running coroutines.
    """

    name: str
    subscriptions: Callable[[ServiceContext], list[Subscription]] = lambda ctx: []
    tasks: Callable[[ServiceContext], list[Callable[[], Awaitable[None]]]] = lambda ctx: []
    in_up: bool = True  # part of `mediaops up`


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    description: str
    metadata: MetaData
    routers: Callable[[], list[APIRouter]]
    event_handlers: dict[str, list[EventHandler]]
    workers: dict[str, Worker] = field(default_factory=dict)
    large_body_paths: tuple[str, ...] = ()  # path suffixes with their own limit (uploads)
    setup: Callable[[ServiceContext], Awaitable[None]] | None = None
    teardown: Callable[[ServiceContext], Awaitable[None]] | None = None

    @property
    def schema(self) -> str:
        return self.metadata.schema or self.name

    @property
    def queue(self) -> str:
        """The service's own event queue."""
        return self.name


@dataclass
class ServiceContext:
    spec: ServiceSpec
    settings: Settings
    db: Database
    bus: Bus
    outbox: Outbox
    inbox: Inbox
    clock: Callable[[], datetime] = utc_clock
    extras: dict[str, Any] = field(default_factory=dict)
    ready_queues: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def add_metrics_hook(self, key: str, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` before each /metrics scrape (gauges read from the database); one hook
        per key, so installing twice (several roles in one process) keeps one."""
        self.extras.setdefault("metrics_hooks", {}).setdefault(key, hook)
