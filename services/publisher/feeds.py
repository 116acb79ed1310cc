"""The database FeedStore of the RSS channel: entries in `publisher.feed_entries`."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.publisher.connectors.rss import FeedEntry
from services.publisher.tables import FeedEntryRow
from shared.db import Database


def _entry(row: FeedEntryRow) -> FeedEntry:
    return FeedEntry(
        key=row.key,
        entry_id=row.entry_id,
        title=row.title,
        content=row.content,
        published_at=row.published_at,
        updated_at=row.updated_at,
        link=row.link,
        categories=tuple(row.categories or ()),
    )


class DbFeedStore:
    """Each call is its own short transaction (the worker holds none across a publish)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_entry(self, feed_id: str, entry: FeedEntry) -> FeedEntry:
        account_id = uuid.UUID(feed_id)
        async with self.db.session() as s, s.begin():
            await s.execute(
                insert(FeedEntryRow)
                .values(
                    account_id=account_id,
                    key=entry.key,
                    entry_id=entry.entry_id,
                    title=entry.title,
                    content=entry.content,
                    link=entry.link,
                    categories=list(entry.categories),
                    published_at=entry.published_at,
                    updated_at=entry.updated_at,
                )
                .on_conflict_do_nothing()
            )
            row = await s.get(FeedEntryRow, (account_id, entry.key))
            assert row is not None
            return _entry(row)

    async def list_entries(self, feed_id: str, limit: int = 50) -> list[FeedEntry]:
        async with self.db.session() as s:
            rows = await s.scalars(
                select(FeedEntryRow)
                .where(FeedEntryRow.account_id == uuid.UUID(feed_id))
                .order_by(FeedEntryRow.published_at.desc())
                .limit(limit)
            )
            return [_entry(r) for r in rows]
