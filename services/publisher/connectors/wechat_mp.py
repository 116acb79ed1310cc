"""WeChat Official Account connector (free publish), per platforms.md section 1.

Flow: stable token -> cover upload (permanent image material) -> draft/add ->
freepublish/submit -> poll freepublish/get. `submit` accepting the task does not mean the
article is live, so the connector polls (bounded); an article still publishing at the end is
OutcomeUnknown with `publish_id` in the detail, and `find_existing(..., publish_id=...)`
polls it again.

The API base URL is a constructor argument (default https://api.weixin.qq.com). Account
settings: `author`,
`open_comment` (bool), `only_fans_can_comment` (bool), optional `thumb_media_id` (a cover
already uploaded). Credentials: `appid`, `secret`; optionally a cached `access_token` with
`access_token_expires_at` (ISO) from a previous `refresh`.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

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
from services.publisher.connectors.http import (
    Clock,
    MediaFile,
    json_or_empty,
    mapped_errors,
    utc_now,
)

Sleep = Callable[[float], Awaitable[None]]

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN_MARGIN = timedelta(seconds=300)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
PERMANENT_ERRORS = {
    45002: "content too long",
    45003: "title too long",
    45004: "description too long",
    40007: "invalid media_id",
    40009: "invalid image size",
    44003: "empty news content",
    53503: "draft failed the publish check",
    53504: "must be published from the web console",
    53505: "save the draft manually on the web console first",
}
PUBLISH_FAILURES = {
    2: "originality check failed",
    3: "publishing failed",
    4: "rejected by platform review",
    5: "deleted by the user after publishing",
    6: "banned by the platform after publishing",
}

TITLE_MAX_CHARS, TITLE_MAX_BYTES = 32, 64
AUTHOR_MAX_CHARS = 16
DIGEST_CHARS = 120
CONTENT_MAX_CHARS, CONTENT_MAX_BYTES = 20_000, 1_000_000
_HTML_HINT = re.compile(r"<(p|section|div|h[1-6]|img|br|span|strong|ul|ol)\b", re.I)


def seconds_until_beijing_midnight(now: datetime) -> float:
    """WeChat's daily quotas reset at 00:00 China time."""
    local = now.astimezone(SHANGHAI)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - local).total_seconds()


def errcode_error(errcode: int, errmsg: str, *, operation: str, now: datetime) -> ConnectorError:
    """The connector error for a non-zero errcode (token errors are handled by the caller)."""
    detail = {"errcode": errcode, "errmsg": errmsg}
    message = f"{operation}: {errcode} {errmsg}"
    if errcode == -1:
        return Retriable(f"{message} (system busy)", defer_s=10.0, detail=detail)
    if errcode == 45009:
        defer = seconds_until_beijing_midnight(now)
        return Retriable(f"{message} (daily quota)", defer_s=defer, detail=detail)
    if errcode in TOKEN_ERRORS:
        return NeedsReauth(message, detail=detail)
    reason = PERMANENT_ERRORS.get(errcode, "refused")
    return Permanent(f"{message} ({reason})", detail=detail)


def article_html(text: str) -> str:
    """The body as HTML: kept as is when it already is HTML, else escaped paragraphs."""
    if _HTML_HINT.search(text):
        return text
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(
        "<p>" + "<br/>".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )


def plain_digest(article: str) -> str:
    """The summary WeChat shows: the article HTML as plain text, cut short."""
    plain = html.unescape(re.sub(r"<[^>]+>", " ", article))
    return " ".join(plain.split())[:DIGEST_CHARS]


@dataclass(frozen=True)
class _Token:
    value: str
    usable_until: datetime


class WeChatMpConnector:
    channel = "wechat_mp"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        publish_poll_attempts: int = 10,
        publish_poll_interval_s: float = 3.0,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        self.client = client
        self.clock = clock
        # Operator configuration, never account settings: users must not pick API hosts.
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.publish_poll_attempts = publish_poll_attempts
        self.publish_poll_interval_s = publish_poll_interval_s
        self._tokens: dict[str, _Token] = {}  # appid -> token
        self._pending: dict[str, str] = {}  # idempotency key -> publish_id (this process)

    # -- token -----------------------------------------------------------------------------

    def _base(self, account: Account) -> str:
        return self.base_url

    @staticmethod
    def _app(account: Account) -> tuple[str, str]:
        appid, secret = account.credentials.get("appid"), account.credentials.get("secret")
        if not appid or not secret:
            raise NeedsReauth("appid and secret are required in credentials")
        return str(appid), str(secret)

    def _cached(self, account: Account) -> _Token | None:
        appid, _ = self._app(account)
        token = self._tokens.get(appid)
        if token is None and account.credentials.get("access_token"):
            expires = account.credentials.get("access_token_expires_at")
            if expires:
                token = _Token(
                    str(account.credentials["access_token"]),
                    datetime.fromisoformat(str(expires)) - TOKEN_MARGIN,
                )
        if token is not None and token.usable_until > self.clock():
            return token
        return None

    async def _fetch_token(self, account: Account, *, force: bool) -> _Token:
        appid, secret = self._app(account)
        body = {
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret,
            "force_refresh": force,
        }
        async with mapped_errors("wechat stable_token", side_effect=False):
            response = await self.client.post(
                f"{self._base(account)}/cgi-bin/stable_token", json=body
            )
        if response.status_code >= 500:
            raise Retriable(f"wechat stable_token: HTTP {response.status_code}", defer_s=30.0)
        answer = json_or_empty(response)
        errcode = int(answer.get("errcode") or 0)
        if errcode in (-1, 45009):
            raise errcode_error(
                errcode,
                str(answer.get("errmsg")),
                operation="wechat stable_token",
                now=self.clock(),
            )
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if errcode or not token or not expires_in:
            # Wrong appid/secret, IP not whitelisted, account lost API access: a human must act.
            raise NeedsReauth(
                f"wechat stable_token refused: {errcode} {answer.get('errmsg')}",
                detail={"errcode": errcode, "errmsg": answer.get("errmsg")},
            )
        issued = _Token(
            str(token), self.clock() + timedelta(seconds=int(expires_in)) - TOKEN_MARGIN
        )
        self._tokens[appid] = issued
        return issued

    async def _token(self, account: Account, *, force: bool = False) -> str:
        cached = None if force else self._cached(account)
        return (cached or await self._fetch_token(account, force=force)).value

    # -- calls -----------------------------------------------------------------------------

    async def _call(
        self,
        account: Account,
        path: str,
        *,
        payload: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        files: dict[str, Any] | None = None,
        side_effect: bool,
    ) -> dict[str, Any]:
        """POST to the API with the token; on a token error refresh once and retry."""
        operation = f"wechat {path.rsplit('/cgi-bin/', 1)[-1]}"
        for attempt in range(2):
            token = await self._token(account, force=attempt > 0)
            kwargs: dict[str, Any] = {"params": {**(params or {}), "access_token": token}}
            if files is not None:
                kwargs["files"] = files
            else:
                # WeChat stores \\u escapes literally, so send real UTF-8.
                kwargs["content"] = json.dumps(payload or {}, ensure_ascii=False).encode()
                kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
            async with mapped_errors(operation, side_effect=side_effect):
                response = await self.client.post(f"{self._base(account)}{path}", **kwargs)
            if response.status_code >= 500:
                # No idempotency key here: a gateway error after a submit may hide a success.
                error = OutcomeUnknown if side_effect else Retriable
                raise error(f"{operation}: HTTP {response.status_code}")
            if response.status_code != 200:
                raise Permanent(f"{operation}: HTTP {response.status_code}")
            answer = json_or_empty(response)
            errcode = int(answer.get("errcode") or 0)
            if errcode == 0:
                return answer
            if errcode in TOKEN_ERRORS and attempt == 0:
                # The call was refused before acting, so repeating it is safe.
                self._tokens.pop(self._app(account)[0], None)
                continue
            raise errcode_error(
                errcode, str(answer.get("errmsg", "")), operation=operation, now=self.clock()
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # -- interface -------------------------------------------------------------------------

    def validate(self, post: Post, account: Account) -> list[str]:
        problems = []
        title = post.title or ""
        if not title:
            problems.append("a title is required")
        if len(title) > TITLE_MAX_CHARS or len(title.encode()) > TITLE_MAX_BYTES:
            problems.append(
                f"title must be at most {TITLE_MAX_CHARS} characters and "
                f"{TITLE_MAX_BYTES} UTF-8 bytes"
            )
        author = str(account.settings.get("author") or "")
        if len(author) > AUTHOR_MAX_CHARS:
            problems.append(f"author must be at most {AUTHOR_MAX_CHARS} characters")
        content = article_html(post.text)
        if not content:
            problems.append("the article body is empty")
        if len(content) >= CONTENT_MAX_CHARS or len(content.encode()) >= CONTENT_MAX_BYTES:
            problems.append("the article HTML must stay under 20,000 characters and 1 MB")
        if not self._cover(post) and not account.settings.get("thumb_media_id"):
            problems.append("a cover image is required")
        return problems

    @staticmethod
    def _cover(post: Post) -> dict[str, Any] | None:
        return next(
            (m for m in post.media if str(m.get("content_type", "")).startswith("image/")), None
        )

    async def publish(self, post: Post, account: Account) -> Published:
        thumb_media_id = account.settings.get("thumb_media_id")
        cover = self._cover(post)
        if cover is not None:
            image = MediaFile.from_post_media(cover)
            uploaded = await self._call(
                account,
                "/cgi-bin/material/add_material",
                params={"type": "image"},
                files={"media": (image.filename, image.data, image.content_type)},
                side_effect=False,  # an orphan material is harmless
            )
            thumb_media_id = uploaded["media_id"]
        if not thumb_media_id:
            raise Permanent("a cover image is required for a WeChat article")
        article = {
            "title": post.title or "",
            "author": str(account.settings.get("author") or ""),
            "digest": plain_digest(article_html(post.text)),
            "content": article_html(post.text),
            "content_source_url": post.link or "",
            "thumb_media_id": thumb_media_id,
            "need_open_comment": int(bool(account.settings.get("open_comment"))),
            "only_fans_can_comment": int(bool(account.settings.get("only_fans_can_comment"))),
        }
        draft = await self._call(
            account, "/cgi-bin/draft/add", payload={"articles": [article]}, side_effect=False
        )
        draft_id = draft["media_id"]
        try:
            submitted = await self._call(
                account,
                "/cgi-bin/freepublish/submit",
                payload={"media_id": draft_id},
                side_effect=True,
            )
        except OutcomeUnknown as exc:
            exc.detail.update(draft_media_id=draft_id, title=post.title)
            raise
        publish_id = str(submitted["publish_id"])
        self._pending[post.idempotency_key] = publish_id
        return await self._await_publish(account, publish_id)

    async def _await_publish(self, account: Account, publish_id: str) -> Published:
        for _ in range(self.publish_poll_attempts):
            await self.sleep(self.publish_poll_interval_s)
            result = await self._poll_once(account, publish_id)
            if result is not None:
                return result
        raise OutcomeUnknown(
            f"wechat publish {publish_id} still running after {self.publish_poll_attempts} polls",
            detail={"publish_id": publish_id},
        )

    async def _poll_once(self, account: Account, publish_id: str) -> Published | None:
        """Published, None while publishing, Permanent when the job failed. Any error
        reaching the API is OutcomeUnknown: the job exists, so it must not be re-submitted."""
        try:
            job = await self._call(
                account,
                "/cgi-bin/freepublish/get",
                payload={"publish_id": publish_id},
                side_effect=False,
            )
        except ConnectorError as exc:
            raise OutcomeUnknown(
                f"wechat publish {publish_id}: polling failed: {exc.message}",
                detail={"publish_id": publish_id, **exc.detail},
            ) from exc
        status = int(job.get("publish_status", -1))
        if status == 0:
            items = (job.get("article_detail") or {}).get("item") or [{}]
            return Published(
                external_id=str(job["article_id"]),
                url=items[0].get("article_url"),
                published_at=self.clock(),
                raw=job,
            )
        if status == 1:
            return None
        reason = PUBLISH_FAILURES.get(status, f"unknown publish_status {status}")
        raise Permanent(
            f"wechat publish {publish_id}: {reason}",
            detail={
                "publish_id": publish_id,
                "publish_status": status,
                "fail_idx": job.get("fail_idx", []),
            },
        )

    async def find_existing(
        self, post: Post, account: Account, *, publish_id: str | None = None
    ) -> Published | None:
        """With a publish_id (from an OutcomeUnknown's detail): that job's state; still
        running raises OutcomeUnknown again, failed means None (nothing live). Without one:
        the latest published articles, matched by title."""
        publish_id = publish_id or self._pending.get(post.idempotency_key)
        if publish_id:
            try:
                result = await self._poll_once(account, publish_id)
            except Permanent as exc:
                if exc.detail.get("publish_status") in (5, 6):
                    raise  # it was live, then removed: do not publish again
                return None
            if result is None:
                raise OutcomeUnknown(
                    f"wechat publish {publish_id} still running", detail={"publish_id": publish_id}
                )
            return result
        listing = await self._call(
            account,
            "/cgi-bin/freepublish/batchget",
            payload={"offset": 0, "count": 20, "no_content": 1},
            side_effect=False,
        )
        for item in listing.get("item", []):
            for news in (item.get("content") or {}).get("news_item", []):
                if news.get("title") == post.title and not news.get("is_deleted"):
                    return Published(
                        external_id=str(item["article_id"]),
                        url=news.get("url"),
                        published_at=datetime.fromtimestamp(
                            int(item.get("update_time", 0)), tz=SHANGHAI
                        ),
                        raw=item,
                    )
        return None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        # Article stats come from the datacube APIs by date range, not by article: not wired.
        return Stats(external_id=external_id, captured_at=self.clock(), values={})

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        """A fresh token merged into the existing credentials (appid/secret kept)."""
        token = await self._fetch_token(account, force=False)
        expires_at = token.usable_until + TOKEN_MARGIN
        credentials = {
            **account.credentials,
            "access_token": token.value,
            "access_token_expires_at": expires_at.isoformat(),
        }
        return RefreshedCredentials(credentials=credentials, expires_at=expires_at)
