from datetime import UTC, datetime

import httpx
import pytest

from services.publisher.connectors.base import (
    Account,
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Post,
    Retriable,
)
from services.publisher.connectors.http import build_client
from services.publisher.connectors.mastodon import (
    MastodonConnector,
    compose_status,
    fingerprint,
    status_length,
)
from services.publisher.connectors.ssrf import UrlGuard
from tests.fakes import LossyTransport, fixed_resolver
from tests.fakes.mastodon import FakeMastodon

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DNS = fixed_resolver({"social.example": ["93.184.216.34"], "evil.example": ["192.168.10.1"]})
POST = Post(
    idempotency_key="pub-7:acc-m",
    title=None,
    text="Spring sale starts now & ends Friday",
    hashtags=["sale", "#spring"],
    link="https://shop.example/sale",
)
PNG = {"filename": "a.png", "content_type": "image/png", "data": b"\x89PNG", "alt": "poster"}
MP4 = {"filename": "v.mp4", "content_type": "video/mp4", "data": b"\x00\x00mp4"}


def account(instance: str = "https://social.example", token: str = "tok-alice", **settings):
    return Account(
        id="acc-m",
        channel="mastodon",
        name="alice",
        settings={"instance_url": instance, "language": "en", **settings},
        credentials={"access_token": token},
    )


class Rig:
    def __init__(self, fake: FakeMastodon, allow: tuple[str, ...] = ()) -> None:
        self.fake = fake
        self.transport = LossyTransport(httpx.ASGITransport(app=fake.app))
        self.sleeps: list[float] = []
        guard = UrlGuard(allow_list=allow, resolve=DNS)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.conn = MastodonConnector(
            build_client(guard=guard, transport=self.transport),
            guard=guard,
            clock=lambda: NOW,
            sleep=sleep,
            media_poll_attempts=3,
            media_poll_interval_s=1.5,
        )


@pytest.fixture
def rig() -> Rig:
    return Rig(FakeMastodon())


async def test_publish_with_image_sends_documented_requests(rig: Rig) -> None:
    post = Post(**{**POST.__dict__, "media": [PNG]})
    published = await rig.conn.publish(post, account(visibility="unlisted"))

    [upload] = rig.fake.harness.calls("POST", "/api/v2/media")
    assert upload.headers["authorization"] == "Bearer tok-alice"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    media_id = next(iter(rig.fake.media))
    assert rig.fake.media[media_id].description == "poster"
    assert rig.fake.harness.calls("GET", f"/api/v1/media/{media_id}") == []  # 200: no polling

    [create] = rig.fake.harness.calls("POST", "/api/v1/statuses")
    assert create.headers["idempotency-key"] == "pub-7:acc-m"
    assert create.json() == {
        "status": "Spring sale starts now & ends Friday\n\nhttps://shop.example/sale\n\n"
        "#sale #spring",
        "visibility": "unlisted",
        "media_ids": [media_id],
        "language": "en",
    }
    status = rig.fake.statuses[published.external_id]
    assert published.url == f"https://social.example/@alice/{published.external_id}"
    assert status["media_attachments"][0]["id"] == media_id
    assert status["visibility"] == "unlisted"


async def test_video_upload_polls_until_processed(rig: Rig) -> None:
    rig.fake.media_processing_polls = 2
    post = Post(**{**POST.__dict__, "media": [MP4]})
    published = await rig.conn.publish(post, account())
    media_id = next(iter(rig.fake.media))
    polls = rig.fake.harness.calls("GET", f"/api/v1/media/{media_id}")
    assert len(polls) == 3  # 206, 206, 200
    assert rig.sleeps == [1.5, 1.5, 1.5]
    assert rig.fake.statuses[published.external_id]["media_attachments"][0]["url"]


async def test_media_still_processing_after_bound_is_retriable_and_posts_nothing(
    rig: Rig,
) -> None:
    rig.fake.media_processing_polls = 10
    post = Post(**{**POST.__dict__, "media": [MP4]})
    with pytest.raises(Retriable, match="still processing"):
        await rig.conn.publish(post, account())
    assert len(rig.sleeps) == 3
    assert rig.fake.statuses == {}


async def test_same_idempotency_key_returns_the_original_status(rig: Rig) -> None:
    first = await rig.conn.publish(POST, account())
    second = await rig.conn.publish(POST, account())
    assert first.external_id == second.external_id
    assert len(rig.fake.statuses) == 1


async def test_invalid_token_needs_reauth(rig: Rig) -> None:
    with pytest.raises(NeedsReauth, match="access token is invalid"):
        await rig.conn.publish(POST, account(token="revoked"))


async def test_validation_error_is_permanent_with_text(rig: Rig) -> None:
    rig.fake.max_characters = 20
    with pytest.raises(Permanent, match="character limit of 20 exceeded") as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["status"] == 422


async def test_rate_limit_defers_until_reset(rig: Rig) -> None:
    rig.fake.harness.inject(
        "POST",
        "/api/v1/statuses",
        429,
        {"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2026-03-01T12:04:30.000Z",
        },
    )
    with pytest.raises(Retriable) as err:
        await rig.conn.publish(POST, account())
    assert err.value.defer_s == 270.0


async def test_server_error_is_retriable(rig: Rig) -> None:
    rig.fake.harness.inject("POST", "/api/v1/statuses", 503, {"error": "down"})
    with pytest.raises(Retriable):
        await rig.conn.publish(POST, account())
    assert rig.fake.statuses == {}


async def test_timeout_after_send_is_unknown_then_reconciled(rig: Rig) -> None:
    rig.fake.add_status("something older")
    rig.transport.lose_answer("POST", "/api/v1/statuses")
    with pytest.raises(OutcomeUnknown):
        await rig.conn.publish(POST, account())
    [created] = [s for s in rig.fake.statuses.values() if "Spring" in s["content"]]

    found = await rig.conn.find_existing(POST, account())
    assert found is not None
    assert found.external_id == created["id"]
    assert found.url == created["url"]
    assert rig.fake.harness.calls("GET", "/api/v1/accounts/verify_credentials")
    [listing] = rig.fake.harness.calls("GET", "/api/v1/accounts/109000000000000001/statuses")
    assert listing.q("limit") == "40"


async def test_lost_request_reconciles_to_none(rig: Rig) -> None:
    rig.transport.refuse_connection("POST", "/api/v1/statuses")
    with pytest.raises(Retriable):
        await rig.conn.publish(POST, account())
    rig.fake.add_status("Spring sale starts now, different text")
    assert await rig.conn.find_existing(POST, account()) is None


async def test_fetch_stats_reads_status_counters(rig: Rig) -> None:
    status = rig.fake.add_status("hello")
    status.update(replies_count=3, reblogs_count=5, favourites_count=11)
    stats = await rig.conn.fetch_stats(status["id"], account())
    assert stats.values == {"replies_count": 3.0, "reblogs_count": 5.0, "favourites_count": 11.0}
    assert stats.captured_at == NOW
    with pytest.raises(Permanent, match="Record not found"):
        await rig.conn.fetch_stats("999", account())


async def test_validate_uses_cached_instance_limits(rig: Rig) -> None:
    long_post = Post(idempotency_key="k", title=None, text="x" * 600)
    assert rig.conn.validate(long_post, account()) == [
        "text is 600 characters; the instance allows 500"
    ]
    rig.fake.max_characters = 1000
    limits = await rig.conn.load_limits(account())
    assert limits.max_characters == 1000
    assert rig.conn.validate(long_post, account()) == []
    five = Post(idempotency_key="k", title=None, text="hi", media=[PNG] * 4 + [MP4])
    assert rig.conn.validate(five, account()) == [
        "5 media attached; the instance allows 4",
        "images and video cannot be mixed in one status",
    ]


def test_length_counts_graphemes_and_fixed_url_width() -> None:
    assert status_length("héllo") == 5
    assert status_length("e\u0301") == 1  # e + combining accent is one grapheme
    assert status_length("👩‍👩‍👧 ok") == 4
    assert status_length("see https://example.com/a/very/long/path/indeed") == 4 + 23


def test_fingerprint_survives_html_rendering() -> None:
    text = compose_status(POST)
    rendered = (
        '<p>Spring sale starts now &amp; ends Friday</p><p><a href="https://shop.example/sale">'
        '<span class="invisible">https://</span><span class="">shop.example/sale</span></a></p>'
        '<p><a href="https://social.example/tags/sale" class="mention hashtag">#<span>sale</span>'
        '</a> <a class="mention hashtag">#<span>spring</span></a></p>'
    )
    assert fingerprint(rendered) == fingerprint(text)
    assert fingerprint("<p>other</p>") != fingerprint(text)


@pytest.mark.parametrize(
    "instance",
    [
        "http://127.0.0.1:3000",
        "http://10.0.0.9",
        "http://169.254.169.254",
        "http://[::1]",
        "https://evil.example",
    ],
)
async def test_private_instances_are_refused(rig: Rig, instance: str) -> None:
    with pytest.raises(Permanent, match="instance URL refused"):
        await rig.conn.publish(POST, account(instance=instance))
    assert rig.fake.harness.requests == []


async def test_allow_listed_instance_is_used() -> None:
    fake = FakeMastodon(base_url="https://evil.example")
    rig = Rig(fake, allow=("192.168.0.0/16",))
    published = await rig.conn.publish(POST, account(instance="https://evil.example"))
    assert published.external_id in fake.statuses


async def test_refresh_is_not_needed(rig: Rig) -> None:
    assert await rig.conn.refresh(account()) is None
