from datetime import UTC, datetime

import httpx
import pytest

from deploy.sandbox.app import create_sandbox_app
from services.publisher.connectors.base import (
    Account,
    Connector,
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Post,
    Retriable,
)
from services.publisher.connectors.sandbox import SandboxConnector

ACCOUNT = Account(
    id="acc-1", channel="sandbox", name="Brand", settings={"handle": "brand"}, credentials={}
)


def post(key="mo-1", text="Launch day #news"):
    return Post(idempotency_key=key, title="Launch", text=text, hashtags=["news"])


@pytest.fixture
def sandbox():
    return create_sandbox_app()


def connector_for(app, timeout=2.0) -> SandboxConnector:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return SandboxConnector("http://sandbox/", client, timeout=timeout)


async def posts_on(app, handle="brand"):
    return app.state.world.list_posts(handle, None, None)


async def test_is_a_connector_and_publishes_with_the_key(sandbox):
    connector = connector_for(sandbox)
    assert isinstance(connector, Connector)
    published = await connector.publish(post(), ACCOUNT)
    assert published.external_id == "1"
    assert published.url.endswith("/@brand/1")
    assert published.published_at.tzinfo is not None
    [stored] = await posts_on(sandbox)
    assert (stored.account, stored.idempotency_key, stored.title) == ("brand", "mo-1", "Launch")


async def test_a_retry_with_the_same_key_does_not_post_twice(sandbox):
    connector = connector_for(sandbox)
    first = await connector.publish(post(), ACCOUNT)
    second = await connector.publish(post(), ACCOUNT)
    assert first.external_id == second.external_id
    assert len(await posts_on(sandbox)) == 1


async def test_handle_defaults_to_the_account_id(sandbox):
    bare = Account(id="acc-9", channel="sandbox", name="x", settings={}, credentials={})
    await connector_for(sandbox).publish(post(), bare)
    assert len(await posts_on(sandbox, "acc-9")) == 1


async def test_500_is_retriable_and_nothing_was_posted(sandbox):
    sandbox.state.world.set_behaviour({"error_rate": 1.0})
    with pytest.raises(Retriable):
        await connector_for(sandbox).publish(post(), ACCOUNT)
    assert await posts_on(sandbox) == []


async def test_429_is_retriable_with_retry_after(sandbox):
    sandbox.state.world.set_behaviour({"rate_limit_per_minute": 1})
    connector = connector_for(sandbox)
    await connector.publish(post("a"), ACCOUNT)
    with pytest.raises(Retriable) as err:
        await connector.publish(post("b"), ACCOUNT)
    assert 55 <= err.value.defer_s <= 60


async def test_401_needs_reauth_and_token_is_sent(sandbox):
    sandbox.state.world.set_behaviour({"auth_token": "tok"})
    with pytest.raises(NeedsReauth):
        await connector_for(sandbox).publish(post(), ACCOUNT)
    authed = Account(**{**ACCOUNT.__dict__, "credentials": {"token": "tok"}})
    assert (await connector_for(sandbox).publish(post(), authed)).external_id == "1"


async def test_422_is_permanent(sandbox):
    with pytest.raises(Permanent):
        await connector_for(sandbox).publish(post(text="x" * 5001), ACCOUNT)


async def test_timeout_after_send_is_unknown_then_reconciliation_finds_it(sandbox):
    sandbox.state.world.set_behaviour({"timeout_rate": 1.0, "timeout_delay_s": 5.0})
    connector = connector_for(sandbox, timeout=0.05)
    with pytest.raises(OutcomeUnknown):
        await connector.publish(post(), ACCOUNT)
    sandbox.state.world.set_behaviour({"timeout_rate": 0.0})
    found = await connector.find_existing(post(), ACCOUNT)
    assert found is not None and found.external_id == "1"
    assert await connector.find_existing(post("mo-other"), ACCOUNT) is None


async def test_connection_refused_before_send_is_retriable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    with pytest.raises(Retriable):
        await SandboxConnector("http://sandbox", client).publish(post(), ACCOUNT)


async def test_reset_after_send_is_unknown():
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(reset))
    with pytest.raises(OutcomeUnknown):
        await SandboxConnector("http://sandbox", client).publish(post(), ACCOUNT)


@pytest.mark.parametrize(
    ("status", "error"),
    [(502, Retriable), (503, Retriable), (504, OutcomeUnknown), (404, Permanent)],
)
async def test_status_mapping(status, error):
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(status, json={"error": "x"}))
    )
    with pytest.raises(error):
        await SandboxConnector("http://sandbox", client).publish(post(), ACCOUNT)


async def test_fetch_stats_reads_the_counters():
    clock = [1_780_000_000.0]
    app = create_sandbox_app(clock=lambda: clock[0])
    connector = connector_for(app)
    published = await connector.publish(post(), ACCOUNT)
    clock[0] += 12 * 3600
    stats = await connector.fetch_stats(published.external_id, ACCOUNT)
    assert stats.external_id == published.external_id
    assert set(stats.values) == {
        "impressions",
        "reach",
        "views",
        "likes",
        "comments",
        "shares",
        "saves",
        "clicks",
        "follows",
    }
    assert stats.values["impressions"] > 0
    assert stats.captured_at == datetime.fromtimestamp(clock[0], UTC)
    with pytest.raises(Permanent):
        await connector.fetch_stats("999", ACCOUNT)


def test_validate_lists_problems():
    connector = SandboxConnector("http://sandbox")
    assert connector.validate(post(), ACCOUNT) == []
    problems = connector.validate(Post(idempotency_key="k", title=None, text=" "), ACCOUNT)
    assert problems == ["text is empty"]
    too_much = Post(idempotency_key="k", title=None, text="x" * 5001, media=[{}] * 5)
    assert len(connector.validate(too_much, ACCOUNT)) == 2


async def test_refresh_has_nothing_to_do():
    assert await SandboxConnector("http://sandbox").refresh(ACCOUNT) is None
