import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from services.publisher.connectors.base import Account, Post
from services.publisher.connectors.rss import (
    FeedMeta,
    InMemoryFeedStore,
    RssConnector,
    entry_id_for,
    render_atom,
)

A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ACCOUNT = Account(
    id="feed-1",
    channel="rss",
    name="blog",
    settings={"feed_url": "https://mediaops.example/feeds/feed-1.atom"},
    credentials={},
)
META = FeedMeta(
    feed_id="urn:mediaops:feed:feed-1",
    title="News & <Updates>",
    self_url="https://mediaops.example/feeds/feed-1.atom?a=1&b=2",
    updated=T0,
    site_url="https://example.com",
    author_name="Team",
)


def post(key: str, **kw) -> Post:
    return Post(**{"idempotency_key": key, "title": "Hello", "text": "Body", **kw})


async def test_publish_records_entry_once_per_key() -> None:
    store = InMemoryFeedStore()
    now = [T0]
    conn = RssConnector(store, clock=lambda: now[0])
    first = await conn.publish(post("k1", link="https://example.com/a"), ACCOUNT)
    now[0] = T0 + timedelta(hours=1)
    again = await conn.publish(post("k1", text="edited"), ACCOUNT)
    assert again == first
    assert first.external_id == entry_id_for("k1")
    assert first.url == "https://example.com/a"
    [entry] = await store.list_entries("feed-1")
    assert (entry.content, entry.published_at) == ("Body", T0)


async def test_find_existing_by_key_and_feed_url_fallback() -> None:
    conn = RssConnector(InMemoryFeedStore(), clock=lambda: T0)
    assert await conn.find_existing(post("k2"), ACCOUNT) is None
    published = await conn.publish(post("k2"), ACCOUNT)
    assert published.url == "https://mediaops.example/feeds/feed-1.atom"
    assert await conn.find_existing(post("k2"), ACCOUNT) == published


async def test_entries_are_listed_newest_first_per_feed() -> None:
    store = InMemoryFeedStore()
    now = [T0]
    conn = RssConnector(store, clock=lambda: now[0])
    for i in range(3):
        now[0] = T0 + timedelta(minutes=i)
        await conn.publish(post(f"k{i}", title=f"t{i}"), ACCOUNT)
    assert [e.title for e in await store.list_entries("feed-1", limit=2)] == ["t2", "t1"]
    assert await store.list_entries("other") == []


async def test_render_atom_is_valid_and_escaped() -> None:
    store = InMemoryFeedStore()
    conn = RssConnector(store, clock=lambda: T0 + timedelta(hours=2))
    await conn.publish(
        post(
            "k",
            title="Sale <50%> & more",
            text="a < b && c > d\n]]>",
            hashtags=["#spring", "sale"],
            link="https://example.com/?x=1&y=2",
        ),
        ACCOUNT,
    )
    xml = render_atom(META, await store.list_entries("feed-1"))

    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert b"Sale &lt;50%&gt; &amp; more" in xml
    root = ET.fromstring(xml)
    assert root.tag == f"{A}feed"
    assert root.findtext(f"{A}id") == "urn:mediaops:feed:feed-1"
    assert root.findtext(f"{A}title") == "News & <Updates>"
    assert root.findtext(f"{A}updated") == "2026-03-01T11:00:00+00:00"
    assert root.find(f"{A}link[@rel='self']").get("href") == META.self_url
    assert root.findtext(f"{A}author/{A}name") == "Team"
    [entry] = root.findall(f"{A}entry")
    assert entry.findtext(f"{A}id") == entry_id_for("k")
    assert entry.findtext(f"{A}title") == "Sale <50%> & more"
    assert entry.findtext(f"{A}content") == "a < b && c > d\n]]>"
    assert entry.find(f"{A}link").get("href") == "https://example.com/?x=1&y=2"
    assert [c.get("term") for c in entry.findall(f"{A}category")] == ["spring", "sale"]
    assert entry.findtext(f"{A}published") == "2026-03-01T11:00:00+00:00"


def test_empty_feed_uses_meta_updated_and_rejects_naive_times() -> None:
    root = ET.fromstring(render_atom(META, []))
    assert root.findtext(f"{A}updated") == "2026-03-01T09:00:00+00:00"
    assert root.findall(f"{A}entry") == []
    naive = FeedMeta(feed_id="x", title="x", self_url="https://x", updated=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        render_atom(naive, [])


def test_title_falls_back_to_first_line() -> None:
    conn = RssConnector(InMemoryFeedStore(), clock=lambda: T0)
    assert conn.validate(post("k", title=None, text="  "), ACCOUNT) == [
        "an entry needs a title or text"
    ]
    assert conn.validate(post("k", title=None, text="line one\nline two"), ACCOUNT) == []


async def test_untitled_entry_takes_the_first_line() -> None:
    store = InMemoryFeedStore()
    conn = RssConnector(store, clock=lambda: T0)
    await conn.publish(post("k", title=None, text="\nline one\nline two"), ACCOUNT)
    [entry] = await store.list_entries("feed-1")
    assert entry.title == "line one"
