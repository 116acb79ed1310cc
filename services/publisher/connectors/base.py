"""The connector interface every channel implements, and its typed errors.

Workers decide what to do from the error class alone: retry later, fail for good,
flag the account for re-authorisation, or reconcile because the outcome is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


class ConnectorError(Exception):
    """Base of every error a connector raises."""

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}


class Retriable(ConnectorError):
    """Nothing was posted; try again after `defer_s` seconds (429, 5xx before acceptance)."""

    def __init__(self, message: str, *, defer_s: float = 0.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.defer_s = defer_s


class Permanent(ConnectorError):
    """The platform refused the post for good (validation, policy); do not retry."""


class NeedsReauth(ConnectorError):
    """Credentials are invalid or expired and cannot be refreshed automatically."""


class OutcomeUnknown(ConnectorError):
    """The request left but no answer came back (timeout, reset): reconcile, never blind-retry."""


@dataclass(frozen=True)
class Account:
    """What a connector needs to know about the account it posts for."""

    id: str
    channel: str
    name: str
    settings: dict[str, Any]
    credentials: dict[str, Any]


@dataclass(frozen=True)
class Post:
    """One post to make: the adapted variant of an approved item."""

    idempotency_key: str
    title: str | None
    text: str
    hashtags: list[str] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)
    link: str | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    url: str | None
    published_at: datetime
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stats:
    """Raw platform counters for one post, keyed by the platform's own metric names."""

    external_id: str
    captured_at: datetime
    values: dict[str, float]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefreshedCredentials:
    credentials: dict[str, Any]
    expires_at: datetime | None


@runtime_checkable
class Connector(Protocol):
    channel: str

    def validate(self, post: Post, account: Account) -> list[str]:
        """Problems that would make the platform refuse the post (empty when it fits)."""
        ...

    async def publish(self, post: Post, account: Account) -> Published:
        """Post once. Raises Retriable, Permanent, NeedsReauth or OutcomeUnknown."""
        ...

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        """Reconciliation: look the post up by idempotency key or content fingerprint."""
        ...

    async def fetch_stats(self, external_id: str, account: Account) -> Stats: ...

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        """New credentials when the token is near expiry; None when nothing to refresh."""
        ...
