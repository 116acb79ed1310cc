"""A WeChat Official Account API, as far as the publisher uses it (platforms.md section 1).

Every answer is HTTP 200 with JSON; failures carry `errcode`/`errmsg`. Covers the stable
token, permanent image material, draft/add, freepublish submit/get/batchget, and the
documented error codes. A publish job stays at `publish_status` 1 for `publish_polls` gets,
then ends with `final_status` (0 success by default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request

from tests.fakes import PlatformHarness


@dataclass
class PublishJob:
    publish_id: str
    draft: dict[str, Any]
    polls_left: int
    final_status: int
    article_id: str


@dataclass
class FakeWeChat:
    appid: str = "wx0123456789abcdef"
    secret: str = "s3cret"
    publish_polls: int = 1
    final_status: int = 0
    harness: PlatformHarness = field(default_factory=PlatformHarness)
    valid_tokens: set[str] = field(default_factory=set)
    current_token: str | None = None
    materials: dict[str, bytes] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, PublishJob] = field(default_factory=dict)
    tokens_broken: bool = False  # every call answers 40001, even with a fresh token
    _seq: int = 0

    def __post_init__(self) -> None:
        self.app = self.harness.wrap(self._build())

    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def expire_tokens(self) -> None:
        """The platform invalidates issued tokens (e.g. the secret was reset elsewhere)."""
        self.valid_tokens.clear()

    def _token_error(self, request: Request) -> dict[str, Any] | None:
        token = request.query_params.get("access_token")
        if self.tokens_broken:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        if not token:
            return {"errcode": 41001, "errmsg": "access_token missing"}
        if token not in self.valid_tokens:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/cgi-bin/stable_token")
        async def stable_token(request: Request) -> dict[str, Any]:
            body = await request.json()
            if body.get("grant_type") != "client_credential" or body.get("appid") != self.appid:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if body.get("secret") != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            # Normal mode returns the same token while it is valid; force_refresh issues anew.
            if body.get("force_refresh") or self.current_token not in self.valid_tokens:
                self.current_token = self._next("ACCESS_TOKEN_")
                self.valid_tokens.add(self.current_token)
            return {"access_token": self.current_token, "expires_in": 7200}

        @app.post("/cgi-bin/material/add_material")
        async def add_material(request: Request) -> dict[str, Any]:
            if error := self._token_error(request):
                return error
            if request.query_params.get("type") != "image":
                return {"errcode": 40004, "errmsg": "invalid media type"}
            form = await request.form()
            upload = form.get("media")
            if upload is None or isinstance(upload, str):
                return {"errcode": 41005, "errmsg": "media data missing"}
            data = await upload.read()
            if len(data) > 10 * 1024 * 1024:
                return {"errcode": 40009, "errmsg": "invalid image size"}
            media_id = self._next("MEDIA_")
            self.materials[media_id] = data
            return {"media_id": media_id, "url": f"http://mmbiz.qpic.cn/{media_id}/0"}

        @app.post("/cgi-bin/draft/add")
        async def draft_add(request: Request) -> dict[str, Any]:
            if error := self._token_error(request):
                return error
            body = json.loads(await request.body())
            [article] = body["articles"]
            if len(article.get("title", "").encode()) > 64:
                return {"errcode": 45003, "errmsg": "title size out of limit"}
            if not article.get("content"):
                return {"errcode": 44003, "errmsg": "empty news data"}
            if article.get("thumb_media_id") not in self.materials:
                return {"errcode": 40007, "errmsg": "invalid media_id"}
            media_id = self._next("DRAFT_")
            self.drafts[media_id] = article
            return {"media_id": media_id}

        @app.post("/cgi-bin/freepublish/submit")
        async def submit(request: Request) -> dict[str, Any]:
            if error := self._token_error(request):
                return error
            body = await request.json()
            draft = self.drafts.pop(body.get("media_id"), None)
            if draft is None:
                return {"errcode": 40007, "errmsg": "invalid media_id"}
            job = PublishJob(
                publish_id=self._next("10000000"),
                draft=draft,
                polls_left=self.publish_polls,
                final_status=self.final_status,
                article_id=self._next("ARTICLE_"),
            )
            self.jobs[job.publish_id] = job
            return {
                "errcode": 0,
                "errmsg": "ok",
                "publish_id": job.publish_id,
                "msg_data_id": self._next("2247483"),
            }

        @app.post("/cgi-bin/freepublish/get")
        async def get(request: Request) -> dict[str, Any]:
            if error := self._token_error(request):
                return error
            body = await request.json()
            job = self.jobs.get(str(body.get("publish_id")))
            if job is None:
                return {"errcode": 53600, "errmsg": "Article ID 无效"}
            if job.polls_left > 0:
                job.polls_left -= 1
                return {"publish_id": job.publish_id, "publish_status": 1}
            answer: dict[str, Any] = {
                "publish_id": job.publish_id,
                "publish_status": job.final_status,
                "fail_idx": [],
            }
            if job.final_status == 0:
                answer["article_id"] = job.article_id
                answer["article_detail"] = {
                    "count": 1,
                    "item": [{"idx": 1, "article_url": self.article_url(job)}],
                }
            elif job.final_status in (2, 3, 4):
                answer["fail_idx"] = [1]
            return answer

        @app.post("/cgi-bin/freepublish/batchget")
        async def batchget(request: Request) -> dict[str, Any]:
            if error := self._token_error(request):
                return error
            body = await request.json()
            offset, count = int(body.get("offset", 0)), min(int(body.get("count", 20)), 20)
            published = self.published()
            newest = list(reversed(published))[offset : offset + count]
            items = [
                {
                    "article_id": job.article_id,
                    "content": {
                        "news_item": [
                            {
                                "title": job.draft["title"],
                                "author": job.draft.get("author", ""),
                                "digest": job.draft.get("digest", ""),
                                "url": self.article_url(job),
                                "thumb_media_id": job.draft["thumb_media_id"],
                                "is_deleted": False,
                            }
                        ]
                    },
                    "update_time": 1_700_000_000,
                }
                for job in newest
            ]
            return {"total_count": len(published), "item_count": len(items), "item": items}

        return app

    def published(self) -> list[PublishJob]:
        """Jobs that finished successfully, oldest first."""
        return [j for j in self.jobs.values() if j.polls_left <= 0 and j.final_status == 0]

    def finish_jobs(self) -> None:
        """Time passes: every running publish job reaches its final status."""
        for job in self.jobs.values():
            job.polls_left = 0

    @staticmethod
    def article_url(job: PublishJob) -> str:
        return f"https://mp.weixin.qq.com/s/{job.article_id}"
