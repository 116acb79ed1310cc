"""Helpers of the publisher integration tests: approvals, a sandbox on a free port, polling."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import uvicorn

from deploy.sandbox.app import create_sandbox_app
from shared.events import new_event
from shared.service import HandlerContext, ServiceContext

APPROVED = "mediaops.content.item.approved"
REVISED = "mediaops.content.item.revised"


def approved_data(
    item_id: str | None = None,
    *,
    content_hash: str | None = None,
    planned_for: datetime | None = None,
    account_ids: list[str] | None = None,
    channel: str = "sandbox",
    body: str = "Hello from mediaops",
) -> dict[str, Any]:
    item_id = item_id or str(uuid.uuid4())
    return {
        "item_id": item_id,
        "version": 1,
        "content_hash": content_hash or f"h-{uuid.uuid4().hex[:12]}",
        "title": "Spring launch",
        "format": "post",
        "pillar": "product",
        "topic_id": "topic-1",
        "campaign_id": "camp-1",
        "planned_for": planned_for.isoformat() if planned_for else None,
        "account_ids": account_ids or [],
        "variants": [
            {
                "variant_id": f"v-{channel}-{item_id[:8]}",
                "channel": channel,
                "title": "Spring",
                "body": body,
            },
            {
                "variant_id": f"v-master-{item_id[:8]}",
                "channel": "master",
                "body": "master " + body,
            },
        ],
    }


async def deliver(
    ctx: ServiceContext, type_: str, data: dict[str, Any], workspace: str = "ws-a"
) -> None:
    """Run the service's handlers for one event in one transaction (as the consumer does)."""
    event = new_event(type_, data, workspace_id=workspace, source="/tests")
    async with ctx.db.session() as session, session.begin():
        hctx = HandlerContext(session=session, event=event, service=ctx)
        for handler in ctx.spec.event_handlers[type_]:
            await handler(hctx, event)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxServer:
    """The sandbox app under uvicorn in this process, on a free port."""

    def __init__(self, clock: Callable[[], float] | None = None, **behaviour: Any) -> None:
        kw: dict[str, Any] = {"clock": clock} if clock else {}
        self.app = create_sandbox_app(behaviour=behaviour or None, **kw)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
                # a request still held open (a simulated timeout) must not stall the exit
                timeout_graceful_shutdown=2,
            )
        )
        self.task: asyncio.Task[None] | None = None

    @property
    def world(self) -> Any:
        return self.app.state.world

    async def __aenter__(self) -> SandboxServer:
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 5
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in time: {what} (last: {last!r})")


def utcnow() -> datetime:
    return datetime.now(UTC)
