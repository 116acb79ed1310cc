"""Transactional outbox: events are rows committed with the state change that caused them."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import MetaData, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import COMMANDS, CloudEvent, new_event

NOTIFY_CHANNEL = "mediaops_outbox"
# NOTIFY serialises commits (a global lock at commit): measured here it halves the rate of
# small transactions. So each process notifies at most once per interval and schema; the
# relay keeps draining for a short linger after any pass that found rows, which picks up
# the transactions that did not notify, and polls as the safety net.
NOTIFY_INTERVAL_S = float(os.environ.get("MEDIAOPS_OUTBOX_NOTIFY_INTERVAL_S", "0.02"))
_last_notify: dict[str, float] = {}


def claim_notify(schema: str) -> bool:
    """True when this process should NOTIFY for `schema` now (at most once per interval).

    For code that writes outbox rows with its own SQL (hot paths) and adds the NOTIFY itself.
    """
    now = time.monotonic()
    if now - _last_notify.get(schema, 0.0) >= NOTIFY_INTERVAL_S:
        _last_notify[schema] = now
        return True
    return False


class Outbox:
    """Writes outbox rows in the caller's transaction; a NOTIFY wakes the relay at commit."""

    def __init__(self, metadata: MetaData, service: str) -> None:
        self.schema = metadata.schema or service
        self.service = service
        self.table: Table = metadata.tables[f"{self.schema}.outbox"]
        self.source = f"/mediaops/{service}"

    async def emit(
        self,
        session: AsyncSession,
        type: str,
        data: BaseModel | dict[str, Any],
        *,
        workspace_id: str,
        subject: str | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
    ) -> CloudEvent:
        event = new_event(
            type,
            data,
            workspace_id=workspace_id,
            source=self.source,
            subject=subject,
            request_id=request_id,
            traceparent=traceparent,
        )
        await self.add(session, [event])
        return event

    async def add(self, session: AsyncSession, events: list[CloudEvent]) -> None:
        if not events:
            return
        rows = [
            {
                "id": uuid.UUID(e.id),
                "kind": "command" if e.type in COMMANDS else "event",
                "routing_key": e.type,
                "envelope": e.to_json_dict(),
            }
            for e in events
        ]
        await session.execute(insert(self.table), rows)
        if claim_notify(self.schema):
            # Delivered at commit only; a rolled-back transaction wakes nobody.
            await session.execute(
                text("SELECT pg_notify(:channel, :schema)"),
                {"channel": NOTIFY_CHANNEL, "schema": self.schema},
            )
