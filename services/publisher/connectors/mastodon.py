"""Mastodon connector, exactly per platforms.md section 9.

Account settings: `instance_url` (SSRF-checked), optional `visibility`, `language`,
`spoiler_text`. Credentials: `access_token` (non-expiring until revoked, so no refresh).

Idempotency: every status is created with `Idempotency-Key: <post key>`; the instance returns
the original status for a repeat within 1 h. Reconciliation does not rely on that window: it
lists the account's last 40 statuses and matches a content fingerprint.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from services.publisher.connectors.base import (
    Account,
    NeedsReauth,
    Permanent,
    Post,
    Published,
    RefreshedCredentials,
    Retriable,
    Stats,
)
from services.publisher.connectors.http import (
    Clock,
    MediaFile,
    json_or_empty,
    mapped_errors,
    retry_after_s,
    utc_now,
)
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard

try:  # grapheme clusters, as Mastodon counts them
    import regex as _regex

    def _graphemes(text: str) -> int:
        return len(_regex.findall(r"\X", text))
except ImportError:  # pragma: no cover - approximation: code points minus combining marks
    import unicodedata

    def _graphemes(text: str) -> int:
        return sum(1 for ch in text if not unicodedata.combining(ch) and ch != "\u200d")


Sleep = Callable[[float], Awaitable[None]]

URL_RE = re.compile(r"https?://[^\s<>\"]+")
RESERVED_PER_URL = 23
STATS_FIELDS = ("replies_count", "reblogs_count", "favourites_count")


@dataclass(frozen=True)
class InstanceLimits:
    max_characters: int = 500
    max_media_attachments: int = 4
    characters_reserved_per_url: int = RESERVED_PER_URL


def compose_status(post: Post) -> str:
    """The status text: body, then the link (unless already in it), then hashtags."""
    parts = [post.text.strip()]
    if post.link and post.link not in post.text:
        parts.append(post.link)
    tags = " ".join(f"#{t.lstrip('#')}" for t in post.hashtags if t.strip("# "))
    if tags:
        parts.append(tags)
    return "\n\n".join(p for p in parts if p)


def status_length(text: str, reserved_per_url: int = RESERVED_PER_URL) -> int:
    """Mastodon's count: grapheme clusters, each URL as a fixed number of characters."""
    urls = URL_RE.findall(text)
    return _graphemes(URL_RE.sub("", text)) + reserved_per_url * len(urls)


def fingerprint(text: str) -> str:
    """A digest of text that survives Mastodon's HTML rendering (tags, entities, spacing)."""
    plain = re.sub(r"<br\s*/?>|</p>\s*<p>", " ", text)
    plain = html.unescape(re.sub(r"<[^>]+>", "", plain))
    return hashlib.sha256(" ".join(plain.split()).encode()).hexdigest()


def _error_text(response: httpx.Response) -> str:
    body = json_or_empty(response)
    return str(body.get("error") or response.text[:300] or response.reason_phrase)


class MastodonConnector:
    channel = "mastodon"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        guard: UrlGuard,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        media_poll_attempts: int = 30,
        media_poll_interval_s: float = 2.0,
    ) -> None:
        self.client = client
        self.guard = guard
        self.clock = clock
        self.sleep = sleep
        self.media_poll_attempts = media_poll_attempts
        self.media_poll_interval_s = media_poll_interval_s
        # instance URL -> limits read from /api/v2/instance (used by the sync `validate`).
        self.limits: dict[str, InstanceLimits] = {}

    # -- helpers ---------------------------------------------------------------------------

    async def _base(self, account: Account) -> str:
        base = str(account.settings.get("instance_url") or "").rstrip("/")
        if not base:
            raise Permanent("instance_url missing from account settings")
        try:
            await self.guard.acheck(base)
        except UnsafeUrl as exc:
            raise Permanent(f"instance URL refused: {exc.reason}") from exc
        return base

    @staticmethod
    def _auth(account: Account) -> dict[str, str]:
        token = account.credentials.get("access_token")
        if not token:
            raise NeedsReauth("access_token missing from credentials")
        return {"Authorization": f"Bearer {token}"}

    def _raise_for_status(self, response: httpx.Response, operation: str) -> None:
        status = response.status_code
        if status < 300:
            return
        detail = {"status": status, "error": _error_text(response)}
        if status == 401:
            raise NeedsReauth(f"{operation}: {detail['error']}", detail=detail)
        if status == 429:
            defer = retry_after_s(response, now_epoch=self.clock().timestamp(), default=300.0)
            raise Retriable(f"{operation}: rate limited", defer_s=defer, detail=detail)
        if status >= 500:
            raise Retriable(f"{operation}: instance error {status}", defer_s=30.0, detail=detail)
        raise Permanent(f"{operation}: {detail['error']}", detail=detail)

    def _published(self, status: dict[str, Any]) -> Published:
        created = status.get("created_at")
        try:
            at = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            at = self.clock()
        return Published(
            external_id=str(status["id"]), url=status.get("url"), published_at=at, raw=status
        )

    async def load_limits(self, account: Account) -> InstanceLimits:
        """Read and cache the instance's limits; defaults when the instance does not say."""
        base = await self._base(account)
        async with mapped_errors("mastodon instance", side_effect=False):
            response = await self.client.get(f"{base}/api/v2/instance")
        config = json_or_empty(response).get("configuration", {}) if response.is_success else {}
        statuses = config.get("statuses", {}) if isinstance(config, dict) else {}
        limits = InstanceLimits(
            max_characters=int(statuses.get("max_characters", 500)),
            max_media_attachments=int(statuses.get("max_media_attachments", 4)),
            characters_reserved_per_url=int(
                statuses.get("characters_reserved_per_url", RESERVED_PER_URL)
            ),
        )
        self.limits[base] = limits
        return limits

    # -- interface -------------------------------------------------------------------------

    def validate(self, post: Post, account: Account) -> list[str]:
        base = str(account.settings.get("instance_url") or "").rstrip("/")
        limits = self.limits.get(base, InstanceLimits())
        problems = []
        if not base:
            problems.append("instance_url missing from account settings")
        text = compose_status(post)
        spoiler = str(account.settings.get("spoiler_text") or "")
        length = status_length(text + spoiler, limits.characters_reserved_per_url)
        if length > limits.max_characters:
            problems.append(
                f"text is {length} characters; the instance allows {limits.max_characters}"
            )
        if not text and not post.media:
            problems.append("a status needs text or media")
        if len(post.media) > limits.max_media_attachments:
            allowed = limits.max_media_attachments
            problems.append(f"{len(post.media)} media attached; the instance allows {allowed}")
        kinds = {str(m.get("content_type", "")).split("/", 1)[0] for m in post.media}
        if "image" in kinds and kinds & {"video", "audio"}:
            problems.append("images and video cannot be mixed in one status")
        return problems

    async def publish(self, post: Post, account: Account) -> Published:
        base = await self._base(account)
        auth = self._auth(account)
        media_ids = [
            await self._upload(base, auth, MediaFile.from_post_media(m)) for m in post.media
        ]
        params: dict[str, Any] = {
            "status": compose_status(post),
            "visibility": account.settings.get("visibility", "public"),
        }
        if media_ids:
            params["media_ids"] = media_ids
        for optional in ("language", "spoiler_text"):
            if account.settings.get(optional):
                params[optional] = account.settings[optional]
        headers = auth | {"Idempotency-Key": post.idempotency_key}
        async with mapped_errors("mastodon status", side_effect=True):
            response = await self.client.post(
                f"{base}/api/v1/statuses", json=params, headers=headers
            )
        # 5xx is retriable here only because the same Idempotency-Key makes the retry safe.
        self._raise_for_status(response, "mastodon status")
        return self._published(response.json())

    async def _upload(self, base: str, auth: dict[str, str], media: MediaFile) -> str:
        data = {"description": media.description} if media.description else {}
        # An upload with no answer leaves at most an orphan attachment: safe to retry.
        async with mapped_errors("mastodon media upload", side_effect=False):
            response = await self.client.post(
                f"{base}/api/v2/media",
                files={"file": (media.filename, media.data, media.content_type)},
                data=data,
                headers=auth,
            )
        self._raise_for_status(response, "mastodon media upload")
        entity = response.json()
        media_id = str(entity["id"])
        if response.status_code == 200:
            return media_id
        # 202: video/audio still processing; poll until 200 (206 meanwhile), bounded.
        for _ in range(self.media_poll_attempts):
            await self.sleep(self.media_poll_interval_s)
            async with mapped_errors("mastodon media status", side_effect=False):
                polled = await self.client.get(f"{base}/api/v1/media/{media_id}", headers=auth)
            if polled.status_code == 200:
                return media_id
            if polled.status_code != 206:
                self._raise_for_status(polled, "mastodon media status")
        raise Retriable(
            f"media {media_id} still processing after {self.media_poll_attempts} polls",
            defer_s=60.0,
            detail={"media_id": media_id},
        )

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        base = await self._base(account)
        auth = self._auth(account)
        async with mapped_errors("mastodon verify_credentials", side_effect=False):
            me = await self.client.get(f"{base}/api/v1/accounts/verify_credentials", headers=auth)
        self._raise_for_status(me, "mastodon verify_credentials")
        account_id = me.json()["id"]
        async with mapped_errors("mastodon account statuses", side_effect=False):
            listing = await self.client.get(
                f"{base}/api/v1/accounts/{account_id}/statuses",
                params={"limit": 40},
                headers=auth,
            )
        self._raise_for_status(listing, "mastodon account statuses")
        wanted = fingerprint(compose_status(post))
        spoiler = str(account.settings.get("spoiler_text") or "")
        for status in listing.json():
            if fingerprint(status.get("content", "")) == wanted and (
                status.get("spoiler_text", "") == spoiler
            ):
                return self._published(status)
        return None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        base = await self._base(account)
        headers = self._auth(account) if account.credentials.get("access_token") else {}
        async with mapped_errors("mastodon status stats", side_effect=False):
            response = await self.client.get(
                f"{base}/api/v1/statuses/{external_id}", headers=headers
            )
        self._raise_for_status(response, "mastodon status stats")
        status = response.json()
        values = {name: float(status.get(name) or 0) for name in STATS_FIELDS}
        return Stats(external_id=external_id, captured_at=self.clock(), values=values, raw=status)

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        # Mastodon user tokens do not expire; a revoked one surfaces as 401 -> NeedsReauth.
        return None
