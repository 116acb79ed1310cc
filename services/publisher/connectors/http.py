"""The HTTP plumbing every external connector shares: one client factory, one error mapping.

The mapping follows one question: could the platform have acted on the request?
- the connection never opened (connect error or timeout, pool exhausted): no -> Retriable;
- the request left and no full answer came back (read timeout, reset, protocol error): maybe
  -> OutcomeUnknown when the call has a side effect, Retriable for a read-only call;
- the SSRF guard refused a URL (first hop or a redirect): Permanent (fix the configuration).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from services.publisher.connectors.base import (
    ConnectorError,
    OutcomeUnknown,
    Permanent,
    Retriable,
)
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
USER_AGENT = "mediaops-publisher/0.1"


def build_client(
    *,
    guard: UrlGuard | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
    follow_redirects: bool = False,
    base_url: str = "",
) -> httpx.AsyncClient:
    """An AsyncClient with bounded timeouts; with a guard, every request (and redirect hop)
    is SSRF-checked before it is sent."""
    hooks: dict[str, list[Any]] = {"request": [guard.on_request] if guard else [], "response": []}
    return httpx.AsyncClient(
        timeout=timeout,
        transport=transport,
        follow_redirects=follow_redirects,
        event_hooks=hooks,
        base_url=base_url,
        headers={"User-Agent": USER_AGENT},
    )


@asynccontextmanager
async def mapped_errors(operation: str, *, side_effect: bool) -> AsyncIterator[None]:
    """Translate transport failures raised inside the block into the connector errors."""
    try:
        yield
    except ConnectorError:
        raise
    except UnsafeUrl as exc:
        raise Permanent(f"{operation}: refused URL: {exc.reason}") from exc
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise Retriable(f"{operation}: could not connect: {exc!r}") from exc
    except (
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
    ) as exc:
        if side_effect:
            raise OutcomeUnknown(f"{operation}: no answer after sending: {exc!r}") from exc
        raise Retriable(f"{operation}: no answer: {exc!r}") from exc
    except httpx.TooManyRedirects as exc:
        raise Permanent(f"{operation}: too many redirects") from exc
    except httpx.TransportError as exc:
        # Anything else at the transport level: we cannot tell whether it left.
        if side_effect:
            raise OutcomeUnknown(f"{operation}: transport error: {exc!r}") from exc
        raise Retriable(f"{operation}: transport error: {exc!r}") from exc


def retry_after_s(response: httpx.Response, *, now_epoch: float, default: float = 60.0) -> float:
    """Seconds to wait from `Retry-After` (seconds) or `X-RateLimit-Reset` (ISO time or epoch)."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now_epoch)
        except ValueError:
            pass
        try:
            at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            return max(0.0, at.timestamp() - now_epoch)
        except ValueError:
            pass
    return default


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class MediaFile:
    """One media file ready to upload."""

    filename: str
    content_type: str
    data: bytes
    description: str | None = None

    @classmethod
    def from_post_media(cls, media: dict[str, Any]) -> MediaFile:
        """Read the `Post.media` item shape: filename, content_type, data (bytes or base64),
        optional description/alt. Loading bytes from asset storage is the caller's job."""
        data = media.get("data")
        if isinstance(data, str):
            data = base64.b64decode(data)
        if not isinstance(data, bytes | bytearray):
            raise Permanent(f"media {media.get('filename', '?')!r} has no data to upload")
        return cls(
            filename=str(media.get("filename") or "upload.bin"),
            content_type=str(
                media.get("content_type") or media.get("mime_type") or "application/octet-stream"
            ),
            data=bytes(data),
            description=media.get("description") or media.get("alt"),
        )
