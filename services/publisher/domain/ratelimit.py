"""Token buckets with an injected clock: how long to wait before the next call may go.

`now` is any monotonic number of seconds (time.monotonic() in a worker, a float in tests).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate_per_s` tokens refill per second, up to `burst`; a call costs one token."""

    rate_per_s: float
    burst: float
    tokens: float = field(default=-1.0)
    updated_at: float | None = None

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("need rate_per_s > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self.updated_at is not None and now > self.updated_at:
            self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_s)
        if self.updated_at is None or now > self.updated_at:
            self.updated_at = now

    def wait_time(self, now: float, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens are there (0 when they are now); takes nothing."""
        if cost > self.burst:
            raise ValueError("cost exceeds the bucket size; it could never be served")
        self._refill(now)
        missing = cost - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.rate_per_s

    def take(self, now: float, cost: float = 1.0) -> None:
        self._refill(now)
        self.tokens -= cost

    def try_acquire(self, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens and return 0, or take nothing and return the seconds to wait."""
        wait = self.wait_time(now, cost)
        if wait == 0.0:
            self.take(now, cost)
        return wait


@dataclass(frozen=True)
class Limit:
    rate_per_s: float
    burst: float


@dataclass
class RateLimiter:
    """Buckets by key, e.g. ("account", id) and ("channel", "mastodon"); one call must get a
    token from every bucket it touches, or takes none (so a refusal costs nothing)."""

    default_limits: dict[str, Limit] = field(default_factory=dict)
    buckets: dict[Hashable, TokenBucket] = field(default_factory=dict)

    def configure(self, key: tuple[str, str], limit: Limit) -> None:
        self.buckets[key] = TokenBucket(limit.rate_per_s, limit.burst)

    def _bucket(self, key: tuple[str, str]) -> TokenBucket | None:
        bucket = self.buckets.get(key)
        if bucket is None and key[0] in self.default_limits:
            limit = self.default_limits[key[0]]
            bucket = self.buckets[key] = TokenBucket(limit.rate_per_s, limit.burst)
        return bucket

    def try_acquire(self, keys: Iterable[tuple[str, str]], now: float) -> float:
        """0 when every bucket gave a token; else the longest wait, and nothing was taken."""
        buckets = [b for b in (self._bucket(k) for k in keys) if b is not None]
        wait = max((b.wait_time(now) for b in buckets), default=0.0)
        if wait == 0.0:
            for bucket in buckets:
                bucket.take(now)
        return wait
