from datetime import UTC, datetime, timedelta, timezone

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
from services.publisher.connectors.weibo import WeiboConnector, weibo_length
from tests.fakes import LossyTransport
from tests.fakes.weibo import FakeWeibo

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
SHARE = "/2/statuses/share.json"
POST = Post(
    idempotency_key="pub-3:acc-wb",
    title=None,
    text="春季新品今天上市，欢迎来看",
    hashtags=["新品"],
    link="https://example.com/p/1",
)
PIC = {"filename": "p.jpg", "content_type": "image/jpeg", "data": b"\xff\xd8pic"}


def account(token: str = "weibo-token") -> Account:
    return Account(
        id="acc-wb",
        channel="weibo",
        name="brand",
        settings={"secure_domain": "example.com", "rip": "203.0.113.9"},
        credentials={"access_token": token},
    )


class Rig:
    def __init__(self) -> None:
        self.fake = FakeWeibo()
        self.transport = LossyTransport(httpx.ASGITransport(app=self.fake.app))
        self.conn = WeiboConnector(httpx.AsyncClient(transport=self.transport), clock=lambda: NOW)


@pytest.fixture
def rig() -> Rig:
    return Rig()


async def test_share_posts_form_with_link_and_rip(rig: Rig) -> None:
    published = await rig.conn.publish(POST, account())
    [call] = rig.fake.harness.calls("POST", SHARE)
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.form() == {
        "access_token": ["weibo-token"],
        "status": ["春季新品今天上市，欢迎来看 https://example.com/p/1"],
        "rip": ["203.0.113.9"],
    }
    [status] = rig.fake.statuses
    assert published.external_id == status["idstr"]
    assert published.url == f"https://weibo.com/5000000001/{status['idstr']}"
    assert published.published_at == datetime(
        2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=8))
    )


async def test_share_with_picture_is_multipart(rig: Rig) -> None:
    await rig.conn.publish(Post(**{**POST.__dict__, "media": [PIC]}), account())
    [call] = rig.fake.harness.calls("POST", SHARE)
    assert call.headers["content-type"].startswith("multipart/form-data")
    [status] = rig.fake.statuses
    assert rig.fake.pictures[status["idstr"]] == PIC["data"]


@pytest.mark.parametrize(
    ("code", "error", "status"),
    [
        (10023, Retriable, 403),
        (10024, Retriable, 403),
        (21327, NeedsReauth, 401),
        (21332, NeedsReauth, 401),
        (20012, Permanent, 400),
        (10001, Retriable, 500),
    ],
)
async def test_error_codes_map_to_classes(rig: Rig, code: int, error: type, status: int) -> None:
    rig.fake.harness.inject(
        "POST", SHARE, status, {"error": "x", "error_code": code, "request": SHARE}
    )
    with pytest.raises(error) as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["error_code"] == code
    if error is Retriable and code in (10023, 10024):
        assert err.value.defer_s == 3600.0


async def test_real_token_and_length_errors_from_the_fake(rig: Rig) -> None:
    with pytest.raises(NeedsReauth, match="21332"):
        await rig.conn.publish(POST, account(token="bad"))
    rig.fake.expired = True
    with pytest.raises(NeedsReauth, match="21327"):
        await rig.conn.publish(POST, account())
    rig.fake.expired = False
    too_long = Post(**{**POST.__dict__, "text": "长" * 141})
    assert rig.conn.validate(too_long, account())[0] == "text is 153 字; Weibo allows 140"
    with pytest.raises(Permanent, match="20012"):
        await rig.conn.publish(too_long, account())


async def test_timeout_is_unknown_and_reconciled_despite_link_shortening(rig: Rig) -> None:
    rig.transport.lose_answer("POST", SHARE)
    with pytest.raises(OutcomeUnknown):
        await rig.conn.publish(POST, account())
    [status] = rig.fake.statuses
    assert "t.cn" in status["text"]
    found = await rig.conn.find_existing(POST, account())
    assert found is not None and found.external_id == status["idstr"]
    other = Post(**{**POST.__dict__, "text": "另一条"})
    assert await rig.conn.find_existing(other, account()) is None


async def test_duplicate_refusal_resolves_to_the_earlier_status(rig: Rig) -> None:
    first = await rig.conn.publish(POST, account())
    again = await rig.conn.publish(POST, account())
    assert again.external_id == first.external_id
    assert len(rig.fake.statuses) == 1
    assert len(rig.fake.harness.calls("GET", "/2/statuses/user_timeline.json")) == 1


async def test_duplicate_not_found_is_permanent(rig: Rig) -> None:
    rig.fake.harness.inject(
        "POST", SHARE, 400, {"error": "repeat content!", "error_code": 20019, "request": SHARE}
    )
    with pytest.raises(Permanent, match="20019"):
        await rig.conn.publish(POST, account())


async def test_fetch_stats_from_counts(rig: Rig) -> None:
    published = await rig.conn.publish(POST, account())
    rig.fake.statuses[0].update(comments_count=2, reposts_count=7, attitudes_count=40)
    stats = await rig.conn.fetch_stats(published.external_id, account())
    assert stats.values == {"comments": 2.0, "reposts": 7.0, "attitudes": 40.0}
    with pytest.raises(Permanent):
        await rig.conn.fetch_stats("1", account())


def test_validate_rules(rig: Rig) -> None:
    assert rig.conn.validate(POST, account()) == []
    no_link = Post(idempotency_key="k", title=None, text="#话题# hello")
    assert rig.conn.validate(no_link, account()) == [
        "the share API refuses #topics# in the text",
        "the text must contain a URL on example.com",
    ]
    assert weibo_length("ab") == 1 and weibo_length("长") == 1 and weibo_length("abc") == 2


async def test_refresh_is_not_available(rig: Rig) -> None:
    assert await rig.conn.refresh(account()) is None
