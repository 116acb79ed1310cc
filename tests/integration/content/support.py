"""Helpers of the content integration tests: a movable clock, tokens for any role in a fresh
workspace per test, the outbox as the test sees it, problem+json checks."""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from shared.config import Settings
from tests.conftest import client_for, make_token


@dataclass
class Clock:
    pinned: datetime | None = None

    def __call__(self) -> datetime:
        return self.pinned or datetime.now(UTC)


@dataclass
class Content:
    settings: Settings
    app: Any
    runtime: Any
    clock: Clock
    storage: Path
    workspace: str = field(default_factory=lambda: f"ws-{uuid.uuid4().hex[:10]}")

    @property
    def ctx(self) -> Any:
        return self.runtime.contexts["content"]

    def client(
        self, roles: str = "editor", sub: str = "alice", workspace: str | None = None
    ) -> httpx.AsyncClient:
        token = make_token(self.settings, workspace or self.workspace, roles, sub)
        return client_for(self.app, token)

    async def outbox(self, type_: str, subject: str | None = None) -> list[dict]:
        sql = (
            "SELECT envelope FROM content.outbox WHERE routing_key = :t "
            "AND envelope->>'workspaceid' = :w"
        )
        params = {"t": type_, "w": self.workspace}
        if subject is not None:
            sql += " AND envelope->>'subject' = :s"
            params["s"] = subject
        async with self.ctx.db.engine.connect() as conn:
            rows = await conn.execute(text(sql + " ORDER BY seq"), params)
            return [r.envelope for r in rows]


def assert_problem(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    return body


def png_bytes(width: int, height: int, salt: bytes = b"") -> bytes:
    """A valid PNG (one grey row repeated), `salt` in a text chunk makes distinct files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", b"salt\x00" + salt)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def create_item(client: httpx.AsyncClient, **fields: Any) -> dict:
    body = {"title": "春季新品上市", "format": "article", "body": "今年春天，三款新品上市。"}
    body.update(fields)
    r = await client.post("/v1/items", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def patch_item(client: httpx.AsyncClient, item: dict, **fields: Any) -> dict:
    r = await client.patch(
        f"/v1/items/{item['id']}", json=fields, headers={"If-Match": f'"{item["version"]}"'}
    )
    assert r.status_code == 200, r.text
    return r.json()
