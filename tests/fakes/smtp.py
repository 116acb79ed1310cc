"""A local SMTP server (aiosmtpd) that records what it accepts and injects SMTP faults."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class FakeSmtpHandler:
    delivered: list[Delivered] = field(default_factory=list)
    mail_reply: str | None = None  # e.g. "451 4.3.0 try later"
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply
    data_reply: str | None = None  # e.g. "554 5.7.1 rejected"
    drop_after_data: bool = False  # accept the message, then hang up without replying

    def reset(self) -> None:
        self.delivered.clear()
        self.mail_reply = self.data_reply = None
        self.rcpt_replies.clear()
        self.drop_after_data = False

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.delivered.append(
            Delivered(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        if self.drop_after_data:
            server.transport.close()
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeSmtpServer:
    """Start/stop a real SMTP server on 127.0.0.1 with optional LOGIN/PLAIN auth."""

    def __init__(self, *, username: str = "mailer", password: str = "pw") -> None:
        self.handler = FakeSmtpHandler()
        self.username, self.password = username, password
        self.port = _free_port()

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (self.username, self.password)
            return AuthResult(success=ok, handled=False)

        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
            auth_required=False,
        )

    def __enter__(self) -> FakeSmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
