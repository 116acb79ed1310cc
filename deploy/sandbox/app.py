"""The sandbox platform's HTTP API: a simulated social network for the demo, tests and benches.

POST /v1/posts                 Idempotency-Key header; 201 new, 200 replay (24 h)
GET  /v1/posts                 ?account=&idempotency_key=&limit= every post created
GET  /v1/posts/{id}            one post with its engagement so far
GET  /v1/posts/{id}/stats      counters that grow with (simulated) age
GET  /v1/accounts/{handle}     followers
GET  /v1/requests              ?account= every POST received, with its outcome
GET  /v1/summary               counts, duplicate keys, requests by outcome
GET|PUT /v1/behaviour          latency_ms, error_rate, timeout_rate,
                               rate_limit_per_minute, seed, time_scale, timeout_delay_s,
                               auth_token
POST /v1/reset                 forget posts and requests
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from deploy.sandbox.world import Behaviour, SandboxPost, SandboxWorld, iso


class PostIn(BaseModel):
    account: str = Field(min_length=1, max_length=200)
    title: str | None = None
    text: str = ""
    hashtags: list[str] = Field(default_factory=list)
    media: list[dict[str, Any]] = Field(default_factory=list)
    link: str | None = None


class BehaviourIn(BaseModel):
    latency_ms: float | None = None
    error_rate: float | None = None
    timeout_rate: float | None = None
    rate_limit_per_minute: int | None = None
    seed: int | None = None
    time_scale: float | None = None
    timeout_delay_s: float | None = None
    auth_token: str | None = None


def create_sandbox_app(
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    behaviour: dict[str, Any] | None = None,
) -> FastAPI:
    """A fresh in-memory sandbox. `clock` (epoch seconds) and `sleep` are injectable so tests
    can age posts without waiting. The world is at `app.state.world`."""
    world = SandboxWorld(clock=clock)
    if behaviour:
        world.set_behaviour(behaviour)
    app = FastAPI(title="mediaops sandbox platform", version="1")
    app.state.world = world

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    def post_out(post: SandboxPost, with_stats: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": post.id,
            "account": post.account,
            "url": post.url,
            "idempotency_key": post.idempotency_key,
            "title": post.title,
            "text": post.text,
            "hashtags": post.hashtags,
            "link": post.link,
            "media_count": len(post.media),
            "created_at": iso(post.created_at),
        }
        if with_stats:
            out["engagement"] = world.stats(post)
        return out

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/posts")
    async def create_post(
        body: PostIn,
        idempotency_key: str | None = Header(default=None),
        authorization: str | None = Header(default=None),
    ) -> JSONResponse:
        latency = world.behaviour.latency_ms
        if latency:
            await sleep(latency / 1000.0)
        outcome = world.submit(
            account=body.account,
            idempotency_key=idempotency_key,
            authorization=authorization,
            fields=body.model_dump(),
        )
        if outcome.post is None:
            headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
            return error(outcome.status, outcome.error or "error", headers)
        if outcome.hold_s:
            # The post exists; the caller just never hears about it in time.
            await sleep(outcome.hold_s)
        post = outcome.post
        return JSONResponse(
            {
                "id": post.id,
                "account": post.account,
                "url": post.url,
                "idempotency_key": post.idempotency_key,
                "created_at": iso(post.created_at),
            },
            status_code=outcome.status,
        )

    @app.get("/v1/posts")
    async def list_posts(
        account: str | None = None,
        idempotency_key: str | None = None,
        limit: int | None = Query(default=None, ge=1),
    ) -> dict[str, Any]:
        posts = world.list_posts(account, idempotency_key, limit)
        return {"posts": [post_out(p, with_stats=True) for p in posts], "count": len(posts)}

    @app.get("/v1/posts/{post_id}")
    async def get_post(post_id: str) -> Any:
        post = world.posts.get(post_id)
        if post is None:
            return error(404, "Record not found")
        return post_out(post, with_stats=True)

    @app.get("/v1/posts/{post_id}/stats")
    async def get_stats(post_id: str) -> Any:
        post = world.posts.get(post_id)
        if post is None:
            return error(404, "Record not found")
        return {"id": post.id, "captured_at": iso(world.clock()), **world.stats(post)}

    @app.get("/v1/accounts/{handle}")
    async def get_account(handle: str) -> dict[str, Any]:
        return world.account(handle)

    @app.get("/v1/requests")
    async def list_requests(account: str | None = None) -> dict[str, Any]:
        rows = [r for r in world.requests if account is None or r.account == account]
        return {
            "requests": [
                {
                    "received_at": iso(r.received_at),
                    "account": r.account,
                    "idempotency_key": r.idempotency_key,
                    "outcome": r.outcome,
                    "status": r.status,
                    "post_id": r.post_id,
                }
                for r in rows
            ],
            "count": len(rows),
        }

    @app.get("/v1/summary")
    async def summary() -> dict[str, Any]:
        return world.summary()

    @app.get("/v1/behaviour")
    async def get_behaviour() -> dict[str, Any]:
        return world.behaviour.public()

    @app.put("/v1/behaviour")
    async def put_behaviour(body: BehaviourIn) -> Any:
        try:
            given = body.model_dump(exclude_unset=True)
            # null leaves a field as it is, except auth_token where null turns auth off
            changes = {k: v for k, v in given.items() if v is not None or k == "auth_token"}
            changed = world.set_behaviour(changes)
        except ValueError as exc:
            return error(422, str(exc))
        return changed.public()

    @app.post("/v1/reset", status_code=204)
    async def reset() -> None:
        world.reset()

    return app


__all__ = ["Behaviour", "create_sandbox_app"]
