"""Email channel: a newsletter sent over SMTP (stdlib smtplib, run in a worker thread).

Account settings: `smtp_host`, `smtp_port` (587), `starttls` (True), `from_address`,
`recipients` (list), optional `to_header` (default: the from address; subscribers go in
the envelope only, so they never see each other). Credentials: `username`, `password`
(optional).

The Message-ID is derived from the idempotency key, so a resend after an unknown outcome is
the same message (mail stores such as Gmail drop a second copy with the same Message-ID).
SMTP has no lookup, so `find_existing` returns None.

Errors: 4xx replies -> Retriable; 5xx -> Permanent (535 at login -> NeedsReauth); all
recipients refused -> by their codes; connection lost or timeout once the message body was
sent (the DATA phase) -> OutcomeUnknown; before that -> Retriable.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from services.publisher.connectors.base import (
    Account,
    ConnectorError,
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Post,
    Published,
    RefreshedCredentials,
    Retriable,
    Stats,
)
from services.publisher.connectors.http import Clock, utc_now
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard

SmtpFactory = Callable[..., smtplib.SMTP]
DEFAULT_PORT = 587


def message_id_for(key: str, from_address: str) -> str:
    domain = from_address.rsplit("@", 1)[-1] or "mediaops.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _text_body(post: Post) -> str:
    parts = [post.text.strip()]
    if post.link:
        parts.append(post.link)
    return "\n\n".join(p for p in parts if p) + "\n"


def _html_body(post: Post) -> str:
    paragraphs = [p for p in post.text.strip().split("\n\n") if p.strip()]
    body = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    if post.link:
        href = html.escape(post.link, quote=True)
        body += f'<p><a href="{href}">{html.escape(post.link)}</a></p>'
    title = f"<h1>{html.escape(post.title)}</h1>" if post.title else ""
    return f"<!doctype html><html><body>{title}{body}</body></html>"


def build_message(post: Post, account: Account, *, now: Any) -> EmailMessage:
    """The newsletter as multipart/alternative (plain text first, HTML preferred)."""
    from_address = str(account.settings["from_address"])
    subject = post.title or (post.text.strip().splitlines() or ["(no subject)"])[0][:120]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = from_address
    message["To"] = str(account.settings.get("to_header") or from_address)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_for(post.idempotency_key, from_address)
    message.set_content(_text_body(post))
    message.add_alternative(_html_body(post), subtype="html")
    return message


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    timeout_s: float


class _Phase:
    """Where the dialogue was when it failed: decides Retriable vs OutcomeUnknown."""

    def __init__(self) -> None:
        self.name = "connect"


def _send_blocking(
    factory: SmtpFactory,
    target: SmtpTarget,
    message: EmailMessage,
    recipients: list[str],
    phase: _Phase,
) -> dict[str, tuple[int, bytes]]:
    """One SMTP dialogue; returns refused recipients (when some were accepted)."""
    smtp = factory(target.host, target.port, timeout=target.timeout_s)
    try:
        phase.name = "greeting"
        smtp.ehlo()
        if target.starttls:
            smtp.starttls()
            smtp.ehlo()
        if target.username:
            phase.name = "login"
            smtp.login(target.username, target.password or "")
        phase.name = "envelope"
        sender = str(message["From"])
        code, reply = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in recipients:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
        phase.name = "data"
        code, reply = smtp.data(message.as_bytes())
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        phase.name = "done"
        return refused
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _by_code(code: int, message: str, detail: dict[str, Any]) -> ConnectorError:
    if 400 <= code < 500:
        return Retriable(message, defer_s=300.0, detail=detail)
    return Permanent(message, detail=detail)


class EmailConnector:
    channel = "email"

    def __init__(
        self,
        *,
        guard: UrlGuard,
        clock: Clock = utc_now,
        smtp_factory: SmtpFactory = smtplib.SMTP,
        timeout_s: float = 30.0,
    ) -> None:
        self.guard = guard
        self.clock = clock
        self.smtp_factory = smtp_factory
        self.timeout_s = timeout_s

    def _target(self, account: Account) -> SmtpTarget:
        host = account.settings.get("smtp_host")
        if not host:
            raise Permanent("smtp_host missing from account settings")
        return SmtpTarget(
            host=str(host),
            port=int(account.settings.get("smtp_port") or DEFAULT_PORT),
            starttls=bool(account.settings.get("starttls", True)),
            username=account.credentials.get("username"),
            password=account.credentials.get("password"),
            timeout_s=self.timeout_s,
        )

    def validate(self, post: Post, account: Account) -> list[str]:
        problems = []
        for name in ("smtp_host", "from_address"):
            if not account.settings.get(name):
                problems.append(f"{name} missing from account settings")
        if not account.settings.get("recipients"):
            problems.append("the newsletter has no recipients")
        if not post.text.strip():
            problems.append("the newsletter body is empty")
        return problems

    async def publish(self, post: Post, account: Account) -> Published:
        problems = self.validate(post, account)
        if problems:
            raise Permanent("; ".join(problems))
        target = self._target(account)
        try:
            await self.guard.acheck_host(target.host, target.port)
        except UnsafeUrl as exc:
            raise Permanent(f"SMTP host refused: {exc.reason}") from exc
        now = self.clock()
        message = build_message(post, account, now=now)
        recipients = [str(r) for r in account.settings["recipients"]]
        phase = _Phase()
        try:
            refused = await asyncio.to_thread(
                _send_blocking, self.smtp_factory, target, message, recipients, phase
            )
        except smtplib.SMTPAuthenticationError as exc:
            raise NeedsReauth(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {r: c for r, (c, _) in exc.recipients.items()}
            detail = {"refused": codes}
            temporary = any(400 <= c < 500 for c in codes.values())
            raise (
                Retriable("all recipients deferred", defer_s=300.0, detail=detail)
                if temporary
                else Permanent("all recipients refused", detail=detail)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            detail = {"smtp_code": exc.smtp_code, "phase": phase.name}
            raise _by_code(exc.smtp_code, f"SMTP {phase.name}: {exc.smtp_code}", detail) from exc
        except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
            detail = {"phase": phase.name, "message_id": str(message["Message-ID"])}
            if phase.name == "data":
                raise OutcomeUnknown(
                    "SMTP connection lost after the message was sent", detail=detail
                ) from exc
            raise Retriable(f"SMTP {phase.name} failed: {exc!r}", detail=detail) from exc
        return Published(
            external_id=str(message["Message-ID"]),
            url=None,
            published_at=now,
            raw={
                "accepted": len(recipients) - len(refused),
                "refused": {r: c for r, (c, _) in refused.items()},
            },
        )

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        return None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        return Stats(external_id=external_id, captured_at=self.clock(), values={})

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        return None
