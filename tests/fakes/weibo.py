"""Sina Weibo's `statuses/share` API and the reads the publisher needs (platforms.md §2).

Errors are JSON `{error, error_code, request}`. Like the real service, the fake shortens
links in stored text to t.cn URLs and rejects the same text posted twice (20019). Error
codes 10023/10024/20019/21327/21332 are the recalled values the connector maps (L).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes import PlatformHarness

URL_RE = re.compile(r"https?://[^\s]+")


def weibo_length(text: str) -> int:
    wide = sum(1 for ch in text if ord(ch) > 127)
    return -(-(len(text) + wide) // 2)


@dataclass
class FakeWeibo:
    token: str = "weibo-token"
    uid: int = 5_000_000_001
    secure_domain: str = "example.com"
    harness: PlatformHarness = field(default_factory=PlatformHarness)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    pictures: dict[str, bytes] = field(default_factory=dict)
    expired: bool = False
    _next_id: int = 4_900_000_000_000_000

    def __post_init__(self) -> None:
        self.app = self.harness.wrap(self._build())

    @staticmethod
    def error(code: int, message: str, path: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message, "error_code": code, "request": path}, status)

    def _token_error(self, token: str | None, path: str) -> JSONResponse | None:
        if token != self.token:
            return self.error(21332, "invalid_access_token", path, 401)
        if self.expired:
            return self.error(21327, "expired_token", path, 401)
        return None

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/2/statuses/share.json")
        async def share(request: Request) -> JSONResponse:
            path = "/2/statuses/share.json"
            form = await request.form()
            if error := self._token_error(str(form.get("access_token") or ""), path):
                return error
            text = str(form.get("status") or "")
            if not form.get("rip"):
                return self.error(10016, "miss required parameter (rip)", path)
            if weibo_length(text) > 140:
                return self.error(20012, "Text too long, please input text less than 140", path)
            if not any(self.secure_domain in url for url in URL_RE.findall(text)):
                return self.error(10017, "status must contain a secure-domain URL", path)
            stored = URL_RE.sub(
                lambda m: "http://t.cn/A" + hashlib.sha1(m.group().encode()).hexdigest()[:6], text
            )
            if any(s["text"] == stored for s in self.statuses):
                return self.error(20019, "repeat content!", path)
            pic = form.get("pic")
            self._next_id += 1
            status = {
                "id": self._next_id,
                "idstr": str(self._next_id),
                "created_at": "Sun Mar 01 12:00:00 +0800 2026",
                "text": stored,
                "user": {"id": self.uid, "idstr": str(self.uid)},
                "reposts_count": 0,
                "comments_count": 0,
                "attitudes_count": 0,
            }
            if pic is not None and not isinstance(pic, str):
                self.pictures[status["idstr"]] = await pic.read()
                status["original_pic"] = f"https://wx1.sinaimg.cn/large/{status['idstr']}.jpg"
            self.statuses.append(status)
            return JSONResponse(status)

        @app.get("/2/statuses/user_timeline.json")
        async def user_timeline(request: Request) -> JSONResponse:
            params = request.query_params
            if error := self._token_error(
                params.get("access_token"), "/2/statuses/user_timeline.json"
            ):
                return error
            count = min(int(params.get("count", "20")), 100)
            newest = list(reversed(self.statuses))[:count]
            return JSONResponse({"statuses": newest, "total_number": len(self.statuses)})

        @app.get("/2/statuses/count.json")
        async def counts(request: Request) -> JSONResponse:
            params = request.query_params
            if error := self._token_error(params.get("access_token"), "/2/statuses/count.json"):
                return error
            ids = set(params.get("ids", "").split(","))
            return JSONResponse(
                [
                    {
                        "id": s["id"],
                        "comments": s["comments_count"],
                        "reposts": s["reposts_count"],
                        "attitudes": s["attitudes_count"],
                    }
                    for s in self.statuses
                    if s["idstr"] in ids
                ]
            )

        return app
