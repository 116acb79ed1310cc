from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ExchangeKind = Literal["events", "commands"]


@dataclass(frozen=True)
class Message:
    exchange: ExchangeKind
    routing_key: str
    body: bytes
    message_id: str
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    queue: str
    routing_key: str
    body: bytes
    message_id: str | None
    headers: dict[str, Any]
    attempt: int  # 1 on first delivery, +1 on each retry
    redelivered: bool = False


Handler = Callable[[Delivery], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consuming queue (logical name, without the deployment prefix) and its bindings."""

    queue: str
    exchange: ExchangeKind
    routing_keys: tuple[str, ...]
    handler: Handler
    prefetch: int = 100


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str | None
    routing_key: str
    error: str | None
    attempts: int
    body: bytes


class PoisonMessage(Exception):
    """A message that can never be handled (unparseable): dead-lettered without retries."""


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None:
        """Returns once every message is confirmed by the broker; raises otherwise."""
        ...

    async def declare(self, subscriptions: Sequence[Subscription]) -> None:
        """Declare exchanges, queues, bindings, retry and dead-letter queues."""
        ...

    async def subscribe(self, subscription: Subscription) -> None: ...

    async def check(self, queues: Sequence[str]) -> None:
        """Readiness: raises when the broker or one of the queues is unreachable."""
        ...

    async def dlq_list(self, queue: str, limit: int = 100) -> list[DeadLetter]: ...

    async def dlq_replay(self, queue: str, limit: int = 1000) -> int: ...

    async def queue_depth(self, queue: str) -> tuple[int, int]:
        """(messages ready, consumers) of a queue."""
        ...


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` zero or more words."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    if head == "*" or head == words[0]:
        return _match(rest, words[1:])
    return False


def retry_delay_ms(delays_ms: Sequence[int], attempt: int) -> int:
    """Back-off for the retry after `attempt` failed deliveries (last delay repeats)."""
    return delays_ms[min(attempt, len(delays_ms)) - 1]
