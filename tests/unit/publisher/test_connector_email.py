import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.publisher.connectors.base import (
    Account,
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Post,
    Retriable,
)
from services.publisher.connectors.email import EmailConnector, message_id_for
from services.publisher.connectors.ssrf import UrlGuard
from tests.fakes import fixed_resolver
from tests.fakes.smtp import FakeSmtpServer

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
POST = Post(
    idempotency_key="pub-5:acc-e",
    title="March newsletter",
    text="Hello <friends> & fans\n\nSecond paragraph",
    link="https://example.com/march?a=1&b=2",
)
RECIPIENTS = ["a@example.org", "b@example.org"]


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def server(smtp_server: FakeSmtpServer) -> FakeSmtpServer:
    smtp_server.handler.reset()
    return smtp_server


def account(server: FakeSmtpServer, host: str = "127.0.0.1", **credentials) -> Account:
    return Account(
        id="acc-e",
        channel="email",
        name="newsletter",
        settings={
            "smtp_host": host,
            "smtp_port": server.port,
            "starttls": False,
            "from_address": "news@brand.example",
            "recipients": RECIPIENTS,
        },
        credentials=credentials,
    )


def connector(allow: tuple[str, ...] = ("127.0.0.1",)) -> EmailConnector:
    guard = UrlGuard(allow_list=allow, resolve=fixed_resolver({"mail.internal": ["10.9.9.9"]}))
    return EmailConnector(guard=guard, clock=lambda: NOW, timeout_s=5.0)


async def test_newsletter_is_multipart_alternative_with_derived_message_id(
    server: FakeSmtpServer,
) -> None:
    published = await connector().publish(POST, account(server))

    [delivered] = server.handler.delivered
    assert delivered.mail_from == "news@brand.example"
    assert delivered.rcpt_tos == RECIPIENTS
    message = email.message_from_bytes(delivered.data, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "March newsletter"
    assert message["To"] == "news@brand.example"  # subscribers stay in the envelope
    assert message["Message-ID"] == message_id_for("pub-5:acc-e", "news@brand.example")
    assert message["Message-ID"].endswith("@brand.example>")
    assert published.external_id == message["Message-ID"]
    assert published.raw == {"accepted": 2, "refused": {}}
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert (
        text == "Hello <friends> & fans\n\nSecond paragraph\n\nhttps://example.com/march?a=1&b=2\n"
    )
    assert "<p>Hello &lt;friends&gt; &amp; fans</p><p>Second paragraph</p>" in html
    assert '<a href="https://example.com/march?a=1&amp;b=2">' in html


async def test_resend_has_the_same_message_id(server: FakeSmtpServer) -> None:
    conn = connector()
    first = await conn.publish(POST, account(server))
    second = await conn.publish(POST, account(server))
    assert first.external_id == second.external_id
    assert await conn.find_existing(POST, account(server)) is None


async def test_login_with_credentials_and_wrong_password(server: FakeSmtpServer) -> None:
    await connector().publish(POST, account(server, username="mailer", password="pw"))
    assert len(server.handler.delivered) == 1
    with pytest.raises(NeedsReauth, match="535"):
        await connector().publish(POST, account(server, username="mailer", password="nope"))
    assert len(server.handler.delivered) == 1


async def test_temporary_reply_is_retriable(server: FakeSmtpServer) -> None:
    server.handler.mail_reply = "451 4.3.0 Try again later"
    with pytest.raises(Retriable) as err:
        await connector().publish(POST, account(server))
    assert err.value.detail == {"smtp_code": 451, "phase": "envelope"}


async def test_permanent_data_reply_is_permanent(server: FakeSmtpServer) -> None:
    server.handler.data_reply = "554 5.7.1 Message rejected as spam"
    with pytest.raises(Permanent) as err:
        await connector().publish(POST, account(server))
    assert err.value.detail == {"smtp_code": 554, "phase": "data"}


async def test_recipient_refusals(server: FakeSmtpServer) -> None:
    server.handler.rcpt_replies["b@example.org"] = "550 5.1.1 No such user"
    published = await connector().publish(POST, account(server))
    assert published.raw == {"accepted": 1, "refused": {"b@example.org": 550}}
    server.handler.rcpt_replies["a@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(Permanent, match="all recipients refused"):
        await connector().publish(POST, account(server))
    server.handler.rcpt_replies["a@example.org"] = "452 4.2.2 Mailbox full"
    with pytest.raises(Retriable, match="deferred"):
        await connector().publish(POST, account(server))


async def test_connection_dropped_after_data_is_unknown(server: FakeSmtpServer) -> None:
    server.handler.drop_after_data = True
    with pytest.raises(OutcomeUnknown) as err:
        await connector().publish(POST, account(server))
    assert err.value.detail["phase"] == "data"
    assert len(server.handler.delivered) == 1  # the server did take it


async def test_connection_refused_is_retriable(server: FakeSmtpServer) -> None:
    acc = account(server)
    closed = Account(**{**acc.__dict__, "settings": {**acc.settings, "smtp_port": 1}})
    with pytest.raises(Retriable) as err:
        await connector().publish(POST, closed)
    assert err.value.detail["phase"] == "connect"


@pytest.mark.parametrize("host", ["127.0.0.1", "mail.internal", "10.0.0.1"])
async def test_private_smtp_hosts_are_refused_unless_allow_listed(
    server: FakeSmtpServer, host: str
) -> None:
    with pytest.raises(Permanent, match="SMTP host refused"):
        await connector(allow=()).publish(POST, account(server, host=host))
    assert server.handler.delivered == []


def test_validate_lists_missing_settings() -> None:
    bare = Account(id="x", channel="email", name="n", settings={}, credentials={})
    assert connector().validate(POST, bare) == [
        "smtp_host missing from account settings",
        "from_address missing from account settings",
        "the newsletter has no recipients",
    ]
