"""Sina Weibo connector: `POST /2/statuses/share.json` (platforms.md section 2).

The API base URL is a constructor argument (default https://api.weibo.com). Account
settings: `secure_domain` (the app's
bound domain; the status must carry a URL on it), `rip` (the end user's real IP, required by
the current doc). Credentials: `access_token`.

Weibo has no idempotency key. Its duplicate check (20019) is used as a safety net: when a
retry is refused as a duplicate, the earlier status is looked up and reported as published.
Weibo shortens links to t.cn in stored text, so the fingerprint ignores URLs.
"""

from __future__ import annotations

import hashlib
import re
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
    utc_now,
)

DEFAULT_BASE_URL = "https://api.weibo.com"
MAX_LENGTH = 140
PIC_MAX_BYTES = 5 * 1024 * 1024
RATE_LIMIT_ERRORS = frozenset({10023, 10024})
TOKEN_ERRORS = frozenset({21327, 21332, 21314, 21315, 21316, 21317, 21319})
SYSTEM_BUSY_ERRORS = frozenset({10001, 10009})  # system error, too many pending tasks
DUPLICATE = 20019
RATE_DEFER_S = 3600.0  # post limits are per hour
URL_RE = re.compile(r"https?://[^\s]+")
TOPIC_RE = re.compile(r"#[^#\s]+#")


def weibo_length(text: str) -> int:
    """Weibo's count: two half-width characters make one 字."""
    wide = sum(1 for ch in text if ord(ch) > 127)
    return -(-(len(text) + wide) // 2)


def compose_status(post: Post) -> str:
    """Body plus link (the API refuses #topics#, so hashtags are not appended)."""
    if post.link and post.link not in post.text:
        return f"{post.text.strip()} {post.link}"
    return post.text.strip()


def fingerprint(text: str) -> str:
    without_links = URL_RE.sub("", text)
    return hashlib.sha256(" ".join(without_links.split()).encode()).hexdigest()


def _parse_created(value: Any, fallback: datetime) -> datetime:
    try:
        return datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return fallback


class WeiboConnector:
    channel = "weibo"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        clock: Clock = utc_now,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        self.client = client
        self.clock = clock
        # Operator configuration, never account settings: users must not pick API hosts.
        self.base_url = base_url.rstrip("/")

    def _base(self, account: Account) -> str:
        return self.base_url

    @staticmethod
    def _token(account: Account) -> str:
        token = account.credentials.get("access_token")
        if not token:
            raise NeedsReauth("access_token missing from credentials")
        return str(token)

    def _published(self, status: dict[str, Any]) -> Published:
        status_id = str(status.get("idstr") or status["id"])
        uid = (status.get("user") or {}).get("id")
        url = f"https://weibo.com/{uid}/{status_id}" if uid else None
        at = _parse_created(status.get("created_at"), self.clock())
        return Published(external_id=status_id, url=url, published_at=at, raw=status)

    def _raise_for_error(self, response: httpx.Response, operation: str) -> None:
        if response.is_success:
            return
        body = json_or_empty(response)
        code = int(body.get("error_code") or 0)
        detail = {"status": response.status_code, "error_code": code, "error": body.get("error")}
        message = f"{operation}: {code or response.status_code} {body.get('error', '')}".strip()
        if code in RATE_LIMIT_ERRORS:
            raise Retriable(message, defer_s=RATE_DEFER_S, detail=detail)
        if code in TOKEN_ERRORS:
            raise NeedsReauth(message, detail=detail)
        if code in SYSTEM_BUSY_ERRORS or (not code and response.status_code >= 500):
            raise Retriable(message, defer_s=30.0, detail=detail)
        raise Permanent(message, detail=detail)

    def validate(self, post: Post, account: Account) -> list[str]:
        problems = []
        text = compose_status(post)
        if weibo_length(text) > MAX_LENGTH:
            problems.append(f"text is {weibo_length(text)} 字; Weibo allows {MAX_LENGTH}")
        if TOPIC_RE.search(text):
            problems.append("the share API refuses #topics# in the text")
        domain = account.settings.get("secure_domain")
        if not domain:
            problems.append("secure_domain missing from account settings")
        elif not any(domain in url for url in URL_RE.findall(text)):
            problems.append(f"the text must contain a URL on {domain}")
        if not account.settings.get("rip"):
            problems.append("rip (the end user's IP) missing from account settings")
        images = [m for m in post.media if str(m.get("content_type", "")).startswith("image/")]
        if len(post.media) > 1 or len(images) != len(post.media):
            problems.append("Weibo takes at most one image")
        return problems

    async def publish(self, post: Post, account: Account) -> Published:
        fields = {
            "access_token": self._token(account),
            "status": compose_status(post),
            "rip": str(account.settings.get("rip") or ""),
        }
        kwargs: dict[str, Any] = {"data": fields}
        if post.media:
            pic = MediaFile.from_post_media(post.media[0])
            if len(pic.data) >= PIC_MAX_BYTES:
                raise Permanent("the picture must be under 5 MB")
            kwargs["files"] = {"pic": (pic.filename, pic.data, pic.content_type)}
        async with mapped_errors("weibo share", side_effect=True):
            response = await self.client.post(
                f"{self._base(account)}/2/statuses/share.json", **kwargs
            )
        if json_or_empty(response).get("error_code") == DUPLICATE:
            # Refused as a repeat: an earlier attempt may have gone through.
            existing = await self.find_existing(post, account)
            if existing is not None:
                return existing
        self._raise_for_error(response, "weibo share")
        return self._published(response.json())

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        async with mapped_errors("weibo user_timeline", side_effect=False):
            response = await self.client.get(
                f"{self._base(account)}/2/statuses/user_timeline.json",
                params={"access_token": self._token(account), "count": 50},
            )
        self._raise_for_error(response, "weibo user_timeline")
        wanted = fingerprint(compose_status(post))
        for status in json_or_empty(response).get("statuses", []):
            if fingerprint(str(status.get("text", ""))) == wanted:
                return self._published(status)
        return None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        async with mapped_errors("weibo count", side_effect=False):
            response = await self.client.get(
                f"{self._base(account)}/2/statuses/count.json",
                params={"access_token": self._token(account), "ids": external_id},
            )
        self._raise_for_error(response, "weibo count")
        rows = [r for r in response.json() if str(r.get("id")) == external_id]
        if not rows:
            raise Permanent(f"weibo status {external_id} not found")
        row = rows[0]
        values = {k: float(row.get(k) or 0) for k in ("comments", "reposts", "attitudes")}
        return Stats(external_id=external_id, captured_at=self.clock(), values=values, raw=row)

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        # Ordinary Weibo apps get no refresh token; expiry surfaces as NeedsReauth (21327).
        return None
