"""RSS channel (an Atom 1.0 feed the publisher serves): publishing records an entry.

The feed is owned, so there is no outside effect to reconcile: an entry is keyed by the
post's idempotency key and recording it twice returns the first one. The store is a
Protocol; the database implementation comes with the publisher's tables.

Account settings: `feed_url` (the feed's own URL, used as the entry link base when the post
has no link). `render_atom` is pure: feed metadata + entries -> XML bytes.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.publisher.connectors.base import (
    Account,
    Post,
    Published,
    RefreshedCredentials,
    Stats,
)
from services.publisher.connectors.http import Clock, utc_now

ATOM_NS = "http://www.w3.org/2005/Atom"
# Entry ids are stable URNs derived from the idempotency key (RFC 4287 wants permanence).
_ENTRY_NAMESPACE = uuid.UUID("6f1c1a55-7b1e-4f5e-9a57-1b0d8c6b9e41")
TITLE_FALLBACK_CHARS = 80


@dataclass(frozen=True)
class FeedEntry:
    key: str
    entry_id: str
    title: str
    content: str
    published_at: datetime
    updated_at: datetime
    link: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedMeta:
    feed_id: str
    title: str
    self_url: str
    updated: datetime  # used when there are no entries (Atom requires <updated>)
    site_url: str | None = None
    author_name: str | None = None
    subtitle: str | None = None


class FeedStore(Protocol):
    async def add_entry(self, feed_id: str, entry: FeedEntry) -> FeedEntry:
        """Record the entry; when one with the same key exists, return that one unchanged."""
        ...

    async def list_entries(self, feed_id: str, limit: int = 50) -> list[FeedEntry]:
        """Newest first."""
        ...


@dataclass
class InMemoryFeedStore:
    feeds: dict[str, dict[str, FeedEntry]] = field(default_factory=dict)

    async def add_entry(self, feed_id: str, entry: FeedEntry) -> FeedEntry:
        entries = self.feeds.setdefault(feed_id, {})
        return entries.setdefault(entry.key, entry)

    async def list_entries(self, feed_id: str, limit: int = 50) -> list[FeedEntry]:
        entries = self.feeds.get(feed_id, {}).values()
        return sorted(entries, key=lambda e: e.published_at, reverse=True)[:limit]


def entry_id_for(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ENTRY_NAMESPACE, key)}"


def entry_from_post(post: Post, now: datetime) -> FeedEntry:
    first_line = post.text.strip().splitlines()[0] if post.text.strip() else "(untitled)"
    return FeedEntry(
        key=post.idempotency_key,
        entry_id=entry_id_for(post.idempotency_key),
        title=post.title or first_line[:TITLE_FALLBACK_CHARS],
        content=post.text,
        published_at=now,
        updated_at=now,
        link=post.link,
        categories=tuple(t.lstrip("#") for t in post.hashtags if t.strip("# ")),
    )


def _rfc3339(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("feed times must be timezone-aware")
    return at.isoformat(timespec="seconds")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def render_atom(feed_meta: FeedMeta, entries: list[FeedEntry]) -> bytes:
    """A valid Atom 1.0 document; ElementTree escapes all text and attributes."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "id", feed_meta.feed_id)
    _sub(feed, "title", feed_meta.title, type="text")
    if feed_meta.subtitle:
        _sub(feed, "subtitle", feed_meta.subtitle, type="text")
    updated = max([e.updated_at for e in entries], default=feed_meta.updated)
    _sub(feed, "updated", _rfc3339(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=feed_meta.self_url)
    if feed_meta.site_url:
        _sub(feed, "link", rel="alternate", type="text/html", href=feed_meta.site_url)
    # Atom requires an author on the feed or on every entry; the feed carries one.
    author = _sub(feed, "author")
    _sub(author, "name", feed_meta.author_name or feed_meta.title)
    _sub(feed, "generator", "mediaops")
    for item in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", item.entry_id)
        _sub(entry, "title", item.title, type="text")
        _sub(entry, "published", _rfc3339(item.published_at))
        _sub(entry, "updated", _rfc3339(item.updated_at))
        if item.link:
            _sub(entry, "link", rel="alternate", href=item.link)
        for term in item.categories:
            _sub(entry, "category", term=term)
        _sub(entry, "content", item.content, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


class RssConnector:
    channel = "rss"

    def __init__(self, store: FeedStore, *, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    def validate(self, post: Post, account: Account) -> list[str]:
        return [] if post.text.strip() or post.title else ["an entry needs a title or text"]

    def _published(self, entry: FeedEntry, account: Account) -> Published:
        return Published(
            external_id=entry.entry_id,
            url=entry.link or account.settings.get("feed_url"),
            published_at=entry.published_at,
            raw={"key": entry.key, "feed_id": account.id},
        )

    async def publish(self, post: Post, account: Account) -> Published:
        entry = await self.store.add_entry(account.id, entry_from_post(post, self.clock()))
        return self._published(entry, account)

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        for entry in await self.store.list_entries(account.id, limit=10_000):
            if entry.key == post.idempotency_key:
                return self._published(entry, account)
        return None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        # A feed has no per-entry counters.
        return Stats(external_id=external_id, captured_at=self.clock(), values={})

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        return None
