"""The sandbox's state: posts, received requests, behaviour switches, simulated time.

Plain Python, no web framework, so the app stays a thin layer and the rules are easy to read.
All random choices come from one RNG seeded by the behaviour; engagement is a pure function
of (post seed, post id, simulated age), so the same seed gives the same numbers.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

REPLAY_WINDOW_S = 24 * 3600
RATE_WINDOW_S = 60.0
MAX_TEXT = 5000
MAX_MEDIA = 4
PUBLIC_BASE = "https://sandbox.mediaops.local"
METRICS = (
    "impressions",
    "reach",
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "follows",
)


@dataclass
class Behaviour:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    rate_limit_per_minute: int = 0  # 0 = no limit
    seed: int = 42
    time_scale: float = 1.0  # 3600: one real second is one simulated hour
    timeout_delay_s: float = 30.0  # how long a "timed out" answer is held back
    auth_token: str | None = None  # when set, POST needs `Authorization: Bearer <token>`

    def validate(self) -> list[str]:
        problems = []
        for name in ("error_rate", "timeout_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if self.latency_ms < 0 or self.timeout_delay_s < 0 or self.rate_limit_per_minute < 0:
            problems.append("latency_ms, timeout_delay_s and rate_limit_per_minute must be >= 0")
        if self.time_scale <= 0:
            problems.append("time_scale must be > 0")
        return problems

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["auth_token"] = "set" if self.auth_token else None
        return data


@dataclass
class SandboxPost:
    id: str
    account: str
    idempotency_key: str | None
    title: str | None
    text: str
    hashtags: list[str]
    media: list[dict[str, Any]]
    link: str | None
    created_at: float  # real epoch seconds
    created_sim: float  # simulated seconds since the world began
    seed: int  # the seed in force at creation: later behaviour changes don't reshape it
    body_hash: str

    @property
    def url(self) -> str:
        return f"{PUBLIC_BASE}/@{self.account}/{self.id}"


@dataclass
class ReceivedRequest:
    received_at: float
    account: str
    idempotency_key: str | None
    outcome: str  # created | replayed | error | rate_limited | timeout | unauthorized | invalid
    status: int
    post_id: str | None = None


class Outcome:
    """What `SandboxWorld.submit` decided; the app turns it into an HTTP answer."""

    def __init__(
        self,
        status: int,
        post: SandboxPost | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        hold_s: float = 0.0,
    ) -> None:
        self.status = status
        self.post = post
        self.error = error
        self.retry_after = retry_after
        self.hold_s = hold_s


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass
class SandboxWorld:
    clock: Callable[[], float]
    behaviour: Behaviour = field(default_factory=Behaviour)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        self._sim_now = 0.0
        self._sim_synced_at = self.clock()
        self.rng = random.Random(self.behaviour.seed)
        self._clear()

    def _clear(self) -> None:
        self.posts: dict[str, SandboxPost] = {}
        self.posts_by_account: dict[str, list[str]] = {}
        self.posts_by_key: dict[tuple[str, str], list[str]] = {}
        self.requests: list[ReceivedRequest] = []
        self._sent: dict[str, deque[float]] = {}

    # --- simulated time: advances at time_scale, changes of scale never move it backwards
    def sim_now(self) -> float:
        now = self.clock()
        self._sim_now += max(0.0, now - self._sim_synced_at) * self.behaviour.time_scale
        self._sim_synced_at = max(now, self._sim_synced_at)
        return self._sim_now

    def set_behaviour(self, changes: dict[str, Any]) -> Behaviour:
        """Merge `changes` into the behaviour (fields not given keep their value)."""
        candidate = Behaviour(**{**asdict(self.behaviour), **changes})
        problems = candidate.validate()
        if problems:
            raise ValueError("; ".join(problems))
        with self._lock:
            self.sim_now()  # bank the time elapsed at the old scale
            reseed = "seed" in changes
            self.behaviour = candidate
            if reseed:
                self.rng = random.Random(candidate.seed)
        return candidate

    def reset(self) -> None:
        """Forget posts, requests and rate windows; behaviour stays, the RNG restarts."""
        with self._lock:
            self._clear()
            self.rng = random.Random(self.behaviour.seed)

    # --- posting
    def submit(
        self,
        *,
        account: str,
        idempotency_key: str | None,
        authorization: str | None,
        fields: dict[str, Any],
    ) -> Outcome:
        b = self.behaviour
        now = self.clock()
        with self._lock:

            def record(outcome: str, status: int, post_id: str | None = None) -> None:
                self.requests.append(
                    ReceivedRequest(now, account, idempotency_key, outcome, status, post_id)
                )

            if b.auth_token and authorization != f"Bearer {b.auth_token}":
                record("unauthorized", 401)
                return Outcome(401, error="The access token is invalid")
            problem = _invalid(fields)
            if problem:
                record("invalid", 422)
                return Outcome(422, error=problem)
            if b.rate_limit_per_minute:
                retry_after = self._rate_limited(account, now, b.rate_limit_per_minute)
                if retry_after is not None:
                    record("rate_limited", 429)
                    return Outcome(429, error="Too many requests", retry_after=retry_after)
            # Draw both numbers every time so one switch doesn't shift the other's sequence.
            error_draw, timeout_draw = self.rng.random(), self.rng.random()
            if error_draw < b.error_rate:
                record("error", 500)
                return Outcome(500, error="Internal server error (simulated)")

            body_hash = _body_hash(account, fields)
            if idempotency_key:
                first = self._replayable(account, idempotency_key, now)
                if first is not None:
                    if first.body_hash != body_hash:
                        record("invalid", 422, first.id)
                        return Outcome(422, error="Idempotency-Key reused with a different request")
                    record("replayed", 200, first.id)
                    return Outcome(200, post=first)

            post = self._create(account, idempotency_key, fields, now, body_hash)
            if timeout_draw < b.timeout_rate:
                record("timeout", 201, post.id)
                return Outcome(201, post=post, hold_s=b.timeout_delay_s)
            record("created", 201, post.id)
            return Outcome(201, post=post)

    def _rate_limited(self, account: str, now: float, per_minute: int) -> int | None:
        sent = self._sent.setdefault(account, deque())
        while sent and sent[0] <= now - RATE_WINDOW_S:
            sent.popleft()
        if len(sent) >= per_minute:
            return max(1, math.ceil(sent[0] + RATE_WINDOW_S - now))
        sent.append(now)
        return None

    def _replayable(self, account: str, key: str, now: float) -> SandboxPost | None:
        """The post a repeat of this key returns; past the window the key is forgotten, as on
        a real platform, and a repeat posts again."""
        ids = self.posts_by_key.get((account, key))
        if not ids:
            return None
        latest = self.posts[ids[-1]]
        return latest if now - latest.created_at <= REPLAY_WINDOW_S else None

    def _create(
        self,
        account: str,
        key: str | None,
        fields: dict[str, Any],
        now: float,
        body_hash: str,
    ) -> SandboxPost:
        post = SandboxPost(
            id=str(self._next_id),
            account=account,
            idempotency_key=key,
            title=fields.get("title"),
            text=fields.get("text") or "",
            hashtags=list(fields.get("hashtags") or []),
            media=list(fields.get("media") or []),
            link=fields.get("link"),
            created_at=now,
            created_sim=self.sim_now(),
            seed=self.behaviour.seed,
            body_hash=body_hash,
        )
        self._next_id += 1
        self.posts[post.id] = post
        self.posts_by_account.setdefault(account, []).append(post.id)
        if key:
            self.posts_by_key.setdefault((account, key), []).append(post.id)
        return post

    # --- reading
    def list_posts(
        self, account: str | None, idempotency_key: str | None, limit: int | None
    ) -> list[SandboxPost]:
        with self._lock:
            if account is not None and idempotency_key is not None:
                ids = self.posts_by_key.get((account, idempotency_key), [])
            elif account is not None:
                ids = self.posts_by_account.get(account, [])
            else:
                ids = list(self.posts)
            if idempotency_key is not None and account is None:
                ids = [i for i in ids if self.posts[i].idempotency_key == idempotency_key]
            ids = ids[-limit:] if limit else ids
            return [self.posts[i] for i in ids]

    def stats(self, post: SandboxPost) -> dict[str, int]:
        """Counters that grow with simulated age along a saturating curve."""
        with self._lock:
            age_s = max(0.0, self.sim_now() - post.created_sim)
        strength = 0.15 + 1.6 * _unit(post.seed, post.id, "strength") ** 2  # a few strong posts
        tau_h = 3.0 + 21.0 * _unit(post.seed, post.id, "pace")  # hours to reach ~63 %
        reached = 1.0 - math.exp(-(age_s / 3600.0) / tau_h)
        audience = self.base_followers(post.account, post.seed) * (0.3 + 1.2 * strength)
        impressions = math.floor(audience * reached)
        views = math.floor(impressions * 0.45)
        return {
            "impressions": impressions,
            "reach": math.floor(impressions * 0.72),
            "views": views,
            "likes": math.floor(views * 0.06 * strength),
            "comments": math.floor(views * 0.008 * strength),
            "shares": math.floor(views * 0.01 * strength),
            "saves": math.floor(views * 0.012 * strength),
            "clicks": math.floor(views * (0.03 if post.link else 0.004)),
            "follows": math.floor(views * 0.002 * strength),
        }

    @staticmethod
    def base_followers(handle: str, seed: int) -> int:
        return 500 + math.floor(20000 * _unit(seed, handle, "followers"))

    def account(self, handle: str) -> dict[str, Any]:
        posts = self.list_posts(handle, None, None)
        gained = sum(self.stats(p)["follows"] for p in posts)
        return {
            "handle": handle,
            "followers": self.base_followers(handle, self.behaviour.seed) + gained,
            "posts": len(posts),
        }

    def summary(self) -> dict[str, Any]:
        """Counts to check "exactly once": posts per key above one are duplicates."""
        with self._lock:
            duplicates = [
                {"account": account, "idempotency_key": key, "count": len(ids)}
                for (account, key), ids in self.posts_by_key.items()
                if len(ids) > 1
            ]
            by_outcome: dict[str, int] = {}
            for request in self.requests:
                by_outcome[request.outcome] = by_outcome.get(request.outcome, 0) + 1
            return {
                "posts": len(self.posts),
                "accounts": len(self.posts_by_account),
                "distinct_keys": len(self.posts_by_key),
                "posts_without_key": sum(1 for p in self.posts.values() if not p.idempotency_key),
                "duplicate_keys": duplicates,
                "requests": len(self.requests),
                "requests_by_outcome": by_outcome,
            }


def _invalid(fields: dict[str, Any]) -> str | None:
    text = fields.get("text") or ""
    if not text.strip() and not fields.get("media"):
        return "Validation failed: Text can't be blank"
    if len(text) > MAX_TEXT:
        return f"Validation failed: Text is too long (maximum is {MAX_TEXT} characters)"
    if len(fields.get("media") or []) > MAX_MEDIA:
        return f"Validation failed: at most {MAX_MEDIA} media"
    return None


def _body_hash(account: str, fields: dict[str, Any]) -> str:
    keys = ("title", "text", "hashtags", "link")
    material = repr((account, *(fields.get(k) for k in keys)))
    return hashlib.sha256(material.encode()).hexdigest()
