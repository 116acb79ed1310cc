"""A Mastodon instance, as far as the publisher uses it (platforms.md section 9).

Follows the documented behaviour: Bearer auth (401 `{"error": ...}`), `POST /api/v2/media`
answering 200 for images and 202 (url null) for video/audio until processed, `GET
/api/v1/media/:id` answering 206 while processing, `POST /api/v1/statuses` honouring
`Idempotency-Key` (same key -> the original status), 422 validation errors, statuses and
account timelines, and `GET /api/v2/instance` limits.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes import PlatformHarness


@dataclass
class FakeMedia:
    id: str
    type: str
    description: str | None
    filename: str
    polls_left: int  # GETs answering 206 before the file is ready

    def entity(self, base: str) -> dict[str, Any]:
        ready = self.polls_left <= 0
        return {
            "id": self.id,
            "type": self.type,
            "url": f"{base}/system/media/{self.id}/{self.filename}" if ready else None,
            "preview_url": None,
            "description": self.description,
        }


@dataclass
class FakeMastodon:
    base_url: str = "https://social.example"
    token: str = "tok-alice"
    account_id: str = "109000000000000001"
    username: str = "alice"
    max_characters: int = 500
    max_media_attachments: int = 4
    media_processing_polls: int = 2
    harness: PlatformHarness = field(default_factory=PlatformHarness)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, FakeMedia] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)  # key -> status id
    _next_id: int = 110000000000000000

    def __post_init__(self) -> None:
        self.app = self.harness.wrap(self._build())

    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def _account(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "url": f"{self.base_url}/@{self.username}",
        }

    def add_status(self, text: str, **extra: Any) -> dict[str, Any]:
        """Create a status directly (as if posted from another client)."""
        status_id = self._id()
        paragraphs = "</p><p>".join(
            "<br />".join(html.escape(line) for line in para.split("\n"))
            for para in text.split("\n\n")
        )
        status = {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "visibility": extra.get("visibility", "public"),
            "language": extra.get("language"),
            "uri": f"{self.base_url}/users/{self.username}/statuses/{status_id}",
            "url": f"{self.base_url}/@{self.username}/{status_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "content": f"<p>{paragraphs}</p>",
            "spoiler_text": extra.get("spoiler_text") or "",
            "sensitive": bool(extra.get("spoiler_text")),
            "media_attachments": extra.get("media_attachments", []),
            "account": self._account(),
        }
        self.statuses[status_id] = status
        return status

    def _build(self) -> FastAPI:
        app = FastAPI()
        unauthorized = JSONResponse({"error": "The access token is invalid"}, 401)

        @app.get("/api/v2/instance")
        async def instance() -> dict[str, Any]:
            return {
                "domain": self.base_url.split("//", 1)[1],
                "configuration": {
                    "statuses": {
                        "max_characters": self.max_characters,
                        "max_media_attachments": self.max_media_attachments,
                        "characters_reserved_per_url": 23,
                    }
                },
            }

        @app.post("/api/v2/media")
        async def upload(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return unauthorized
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return JSONResponse({"error": "Validation failed: File can't be blank"}, 422)
            content_type = upload.content_type or ""
            kind = content_type.split("/", 1)[0]
            if kind not in ("image", "video", "audio"):
                return JSONResponse(
                    {"error": "Validation failed: File has an unsupported type"}, 422
                )
            description = form.get("description")
            media = FakeMedia(
                id=self._id(),
                type=kind,
                description=description if isinstance(description, str) else None,
                filename=upload.filename or "file",
                polls_left=0 if kind == "image" else self.media_processing_polls,
            )
            self.media[media.id] = media
            return JSONResponse(media.entity(self.base_url), 200 if kind == "image" else 202)

        @app.get("/api/v1/media/{media_id}")
        async def media_status(media_id: str, request: Request) -> JSONResponse:
            if not self._authorized(request):
                return unauthorized
            media = self.media.get(media_id)
            if media is None:
                return JSONResponse({"error": "Record not found"}, 404)
            if media.polls_left > 0:
                media.polls_left -= 1
                return JSONResponse(media.entity(self.base_url) | {"url": None}, 206)
            return JSONResponse(media.entity(self.base_url), 200)

        @app.post("/api/v1/statuses")
        async def create_status(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return unauthorized
            key = request.headers.get("idempotency-key")
            if key and key in self.idempotency:
                return JSONResponse(self.statuses[self.idempotency[key]])
            if request.headers.get("content-type", "").startswith("application/json"):
                params = await request.json()
            else:
                form = await request.form()
                params = {k: form.get(k) for k in form}
                params["media_ids"] = form.getlist("media_ids[]")
            text = params.get("status") or ""
            media_ids = list(params.get("media_ids") or [])
            if not text and not media_ids:
                return JSONResponse({"error": "Validation failed: Text can't be blank"}, 422)
            if len(text) + len(params.get("spoiler_text") or "") > self.max_characters:
                return JSONResponse(
                    {
                        "error": "Validation failed: Text character limit of "
                        f"{self.max_characters} exceeded"
                    },
                    422,
                )
            if len(media_ids) > self.max_media_attachments:
                return JSONResponse({"error": "Validation failed: too_many"}, 422)
            attachments = []
            for media_id in media_ids:
                media = self.media.get(str(media_id))
                if media is None:
                    return JSONResponse({"error": "Validation failed: not_found"}, 422)
                if media.polls_left > 0:
                    return JSONResponse(
                        {"error": "Cannot attach files that have not finished processing."}, 422
                    )
                attachments.append(media.entity(self.base_url))
            status = self.add_status(
                text,
                visibility=params.get("visibility", "public"),
                language=params.get("language"),
                spoiler_text=params.get("spoiler_text"),
                media_attachments=attachments,
            )
            if key:
                self.idempotency[key] = status["id"]
            return JSONResponse(status)

        @app.get("/api/v1/statuses/{status_id}")
        async def get_status(status_id: str) -> JSONResponse:
            status = self.statuses.get(status_id)
            if status is None:
                return JSONResponse({"error": "Record not found"}, 404)
            return JSONResponse(status)

        @app.get("/api/v1/accounts/verify_credentials")
        async def verify_credentials(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return unauthorized
            return JSONResponse(self._account())

        @app.get("/api/v1/accounts/{account_id}/statuses")
        async def account_statuses(account_id: str, request: Request) -> JSONResponse:
            if account_id != self.account_id:
                return JSONResponse({"error": "Record not found"}, 404)
            limit = min(int(request.query_params.get("limit", "20")), 40)
            newest_first = sorted(self.statuses.values(), key=lambda s: int(s["id"]), reverse=True)
            return JSONResponse(newest_first[:limit])

        return app
