import httpx
import pytest

from services.publisher.connectors.base import OutcomeUnknown, Permanent, Retriable
from services.publisher.connectors.http import build_client, mapped_errors, retry_after_s
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard, check_host, check_url
from tests.fakes import fixed_resolver
from tests.fakes.webhook_receiver import FakeWebhookReceiver

DNS = fixed_resolver(
    {
        "public.example": ["93.184.216.34"],
        "internal.example": ["10.0.0.7"],
        "split.example": ["93.184.216.34", "192.168.1.10"],
        "v6.example": ["2606:4700::6810:84e5"],
    }
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.9.9.9:8080/x", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "IPv6-embedded loopback"),
        ("http://[::ffff:10.0.0.1]/", "IPv6-embedded private"),
        ("http://[2002:7f00:1::]/", "IPv6-embedded loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "IPv6-embedded link-local"),
        ("https://internal.example/hook", "private"),
        ("https://split.example/hook", "private"),
    ],
)
def test_internal_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl) as err:
        check_url(url, [], resolve=DNS)
    assert reason in err.value.reason


@pytest.mark.parametrize("url", ["ftp://public.example/", "file:///etc/passwd", "gopher://x/"])
def test_only_http_schemes(url: str) -> None:
    with pytest.raises(UnsafeUrl, match="scheme"):
        check_url(url, [], resolve=DNS)


def test_unresolvable_and_hostless_urls_are_refused() -> None:
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_url("https://nowhere.example/", [], resolve=DNS)
    with pytest.raises(UnsafeUrl, match="no host"):
        check_url("https:///path", [], resolve=DNS)


@pytest.mark.parametrize(
    "url",
    ["https://public.example/hook", "http://93.184.216.34:8443/", "https://v6.example/"],
)
def test_public_targets_pass(url: str) -> None:
    assert check_url(url, [], resolve=DNS) is None


def test_allow_list_by_host_cidr_and_address() -> None:
    check_url("https://internal.example/hook", ["internal.example"], resolve=DNS)
    check_url("https://INTERNAL.example./hook", ["internal.example"], resolve=DNS)
    check_url("https://internal.example/hook", ["10.0.0.0/8"], resolve=DNS)
    check_url("http://127.0.0.1:9000/", ["127.0.0.1"], resolve=DNS)
    check_url("http://[::1]/", ["::1/128"], resolve=DNS)
    # A CIDR covers only its own range: split.example's private address stays refused.
    with pytest.raises(UnsafeUrl):
        check_url("https://split.example/", ["10.0.0.0/8"], resolve=DNS)
    with pytest.raises(UnsafeUrl):
        check_url("http://127.0.0.2/", ["127.0.0.1"], resolve=DNS)


def test_check_host_for_non_http_targets() -> None:
    check_host("public.example", 25, [], resolve=DNS)
    with pytest.raises(UnsafeUrl, match="private"):
        check_host("internal.example", 25, [], resolve=DNS)


async def test_guard_rechecks_every_redirect_hop() -> None:
    receiver = FakeWebhookReceiver(secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
    guard = UrlGuard(resolve=DNS)
    client = build_client(
        guard=guard, transport=httpx.ASGITransport(app=receiver.app), follow_redirects=True
    )
    async with client:
        with pytest.raises(UnsafeUrl, match="loopback"):
            await client.post("https://public.example/moved", content=b"{}")
        with pytest.raises(Permanent, match="refused URL"):
            async with mapped_errors("deliver", side_effect=True):
                await client.post("https://public.example/moved", content=b"{}")
        # The first hop reached the fake; the redirect target never did.
        assert [r.path for r in receiver.harness.requests] == ["/moved", "/moved"]
        # The first hop itself is checked too.
        with pytest.raises(UnsafeUrl):
            await client.post("https://internal.example/hooks")
        assert len(receiver.harness.requests) == 2


@pytest.mark.parametrize(
    ("exc", "side_effect", "expected"),
    [
        (httpx.ConnectError("refused"), True, Retriable),
        (httpx.ConnectTimeout("slow"), True, Retriable),
        (httpx.PoolTimeout("busy"), True, Retriable),
        (httpx.ReadTimeout("lost"), True, OutcomeUnknown),
        (httpx.RemoteProtocolError("reset"), True, OutcomeUnknown),
        (httpx.ReadError("reset"), True, OutcomeUnknown),
        (httpx.ReadTimeout("lost"), False, Retriable),
        (httpx.RemoteProtocolError("reset"), False, Retriable),
        (UnsafeUrl("private address"), True, Permanent),
    ],
)
async def test_one_mapping_for_transport_errors(
    exc: Exception, side_effect: bool, expected: type
) -> None:
    with pytest.raises(expected) as err:
        async with mapped_errors("op", side_effect=side_effect):
            raise exc
    assert err.value.message.startswith("op:")
    assert err.value.__cause__ is exc


def test_retry_after_from_headers() -> None:
    def resp(headers: dict[str, str]) -> httpx.Response:
        return httpx.Response(429, headers=headers)

    now = 1_700_000_000.0
    assert retry_after_s(resp({"Retry-After": "12"}), now_epoch=now) == 12.0
    assert retry_after_s(resp({"X-RateLimit-Reset": str(now + 90)}), now_epoch=now) == 90.0
    iso = "2023-11-14T22:15:00.000Z"  # now + 100 s
    assert retry_after_s(resp({"X-RateLimit-Reset": iso}), now_epoch=now) == pytest.approx(100.0)
    assert retry_after_s(resp({}), now_epoch=now, default=7.0) == 7.0
