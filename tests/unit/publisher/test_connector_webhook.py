import base64
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from services.publisher.connectors.base import (
    Account,
    OutcomeUnknown,
    Permanent,
    Post,
    Retriable,
)
from services.publisher.connectors.http import build_client
from services.publisher.connectors.ssrf import UrlGuard
from services.publisher.connectors.webhook import WebhookConnector
from tests.fakes import LossyTransport, fixed_resolver
from tests.fakes.webhook_receiver import FakeWebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
DNS = fixed_resolver({"hooks.example": ["93.184.216.34"], "intranet.example": ["10.2.3.4"]})
POST = Post(
    idempotency_key="pub-1:acc-1",
    title="Launch",
    text="We launched <b>today</b> 发布",
    hashtags=["news"],
    media=[{"filename": "a.png", "content_type": "image/png", "data": b"\x89PNG"}],
    link="https://example.com/launch",
)


def account(url: str = "https://hooks.example/hooks", secret: str = SECRET) -> Account:
    return Account(
        id="acc-1",
        channel="webhook",
        name="site",
        settings={"url": url},
        credentials={"secret": secret},
    )


@pytest.fixture
def receiver() -> FakeWebhookReceiver:
    return FakeWebhookReceiver(secret=SECRET)


def connector(receiver: FakeWebhookReceiver, allow: tuple[str, ...] = ()):
    transport = LossyTransport(httpx.ASGITransport(app=receiver.app))
    guard = UrlGuard(allow_list=allow, resolve=DNS)
    now = datetime.now(UTC).replace(microsecond=0)  # the receiver checks freshness (5 min)
    client = build_client(guard=guard, transport=transport)
    return WebhookConnector(client, guard=guard, clock=lambda: now), transport, now


async def test_signed_delivery_is_published(receiver: FakeWebhookReceiver) -> None:
    conn, _, now = connector(receiver)
    published = await conn.publish(POST, account())

    assert published.external_id == "dlv_1"
    assert published.published_at == now
    [request] = receiver.harness.calls("POST", "/hooks")
    assert request.headers["webhook-id"] == "pub-1:acc-1"
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    # The receiver's verification passed (it would answer 400); check independently too.
    payload = Webhook(SECRET).verify(request.body, dict(request.headers))
    assert payload["type"] == "mediaops.post.published"
    assert payload["data"]["text"] == POST.text
    assert payload["data"]["media"] == [{"filename": "a.png", "content_type": "image/png"}]


async def test_redelivery_with_same_key_is_deduped_by_receiver(
    receiver: FakeWebhookReceiver,
) -> None:
    conn, transport, _ = connector(receiver)
    transport.lose_answer("POST", "/hooks")
    with pytest.raises(OutcomeUnknown):
        await conn.publish(POST, account())
    assert await conn.find_existing(POST, account()) is None  # no lookup: resend is the remedy
    again = await conn.publish(POST, account())
    assert len(receiver.harness.calls("POST", "/hooks")) == 2
    assert len(receiver.payloads) == 1
    assert again.external_id == "dlv_1"


async def test_wrong_secret_is_rejected_by_receiver(receiver: FakeWebhookReceiver) -> None:
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret!!!").decode()
    conn, _, _ = connector(receiver)
    with pytest.raises(Permanent, match="400"):
        await conn.publish(POST, account(secret=other))
    assert receiver.payloads == []


@pytest.mark.parametrize(
    ("status", "headers", "error", "defer"),
    [
        (410, {}, Permanent, None),
        (404, {}, Permanent, None),
        (429, {"Retry-After": "45"}, Retriable, 45.0),
        (500, {}, Retriable, 30.0),
        (503, {"Retry-After": "5"}, Retriable, 5.0),
    ],
)
async def test_status_codes_map_to_error_classes(
    receiver: FakeWebhookReceiver, status: int, headers: dict, error: type, defer: float | None
) -> None:
    receiver.harness.inject("POST", "/hooks", status, {"error": "x"}, headers=headers)
    conn, _, _ = connector(receiver)
    with pytest.raises(error) as err:
        await conn.publish(POST, account())
    assert err.value.detail["status"] == status
    if defer is not None:
        assert err.value.defer_s == defer


async def test_connection_refused_is_retriable(receiver: FakeWebhookReceiver) -> None:
    conn, transport, _ = connector(receiver)
    transport.refuse_connection("POST", "/hooks")
    with pytest.raises(Retriable):
        await conn.publish(POST, account())
    assert receiver.harness.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://10.0.0.5/hooks",
        "http://169.254.169.254/hooks",
        "http://[::1]/hooks",
        "https://intranet.example/hooks",
    ],
)
async def test_internal_urls_are_refused(receiver: FakeWebhookReceiver, url: str) -> None:
    conn, _, _ = connector(receiver)
    with pytest.raises(Permanent, match="refused"):
        await conn.publish(POST, account(url=url))
    assert receiver.harness.requests == []


async def test_allow_listed_internal_url_is_delivered(receiver: FakeWebhookReceiver) -> None:
    conn, _, _ = connector(receiver, allow=("10.0.0.0/8",))
    published = await conn.publish(POST, account(url="https://intranet.example/hooks"))
    assert published.external_id == "dlv_1"


def test_validate_reports_missing_url_and_bad_secret(receiver: FakeWebhookReceiver) -> None:
    conn, _, _ = connector(receiver)
    assert conn.validate(POST, account()) == []
    bad = Account(id="a", channel="webhook", name="n", settings={}, credentials={})
    assert conn.validate(POST, bad) == [
        "webhook url missing from account settings",
        "webhook secret missing from credentials",
    ]


async def test_stats_are_empty_and_nothing_to_refresh(receiver: FakeWebhookReceiver) -> None:
    conn, _, now = connector(receiver)
    stats = await conn.fetch_stats("dlv_1", account())
    assert (stats.external_id, stats.values, stats.captured_at) == ("dlv_1", {}, now)
    assert await conn.refresh(account()) is None
