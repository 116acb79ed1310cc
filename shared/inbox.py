"""Idempotent consumers: (consumer, event id) recorded in the handler's own transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import MetaData, Table, bindparam
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


class Inbox:
    def __init__(self, metadata: MetaData) -> None:
        self.table: Table = metadata.tables[f"{metadata.schema}.inbox"]
        # Built once: constructing the INSERT per message was a fifth of a consumer's CPU.
        self._record = (
            insert(self.table)
            .values(
                consumer=bindparam("consumer"),
                event_id=bindparam("event_id"),
                event_type=bindparam("event_type"),
            )
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )

    async def first_time(
        self, session: AsyncSession, consumer: str, event_id: str, event_type: str
    ) -> bool:
        """True when this consumer has not handled this event before (and records it)."""
        result = await session.execute(
            self._record,
            {"consumer": consumer, "event_id": uuid.UUID(event_id), "event_type": event_type},
        )
        return result.first() is not None
