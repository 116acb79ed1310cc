"""Helpers of the planning integration tests: a movable clock, tokens for any role in a fresh
workspace per test, the outbox as the test sees it, problem+json checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from shared.config import Settings
from tests.conftest import client_for, make_token


@dataclass
class Clock:
    """Real time unless a test pins it."""

    pinned: datetime | None = None

    def __call__(self) -> datetime:
        return self.pinned or datetime.now(UTC)


@dataclass
class Planning:
    settings: Settings
    app: Any
    runtime: Any
    clock: Clock
    workspace: str = field(default_factory=lambda: f"ws-{uuid.uuid4().hex[:10]}")

    def client(
        self, roles: str = "manager", sub: str = "alice", workspace: str | None = None
    ) -> httpx.AsyncClient:
        token = make_token(self.settings, workspace or self.workspace, roles, sub)
        return client_for(self.app, token)

    def anonymous(self) -> httpx.AsyncClient:
        return client_for(self.app)

    async def outbox(self, type_: str, subject: str | None = None) -> list[dict]:
        """Events planning emitted in this test's workspace (newest last)."""
        db = self.runtime.contexts["planning"].db
        sql = (
            "SELECT envelope FROM planning.outbox WHERE routing_key = :t "
            "AND envelope->>'workspaceid' = :w"
        )
        params = {"t": type_, "w": self.workspace}
        if subject is not None:
            sql += " AND envelope->>'subject' = :s"
            params["s"] = subject
        async with db.engine.connect() as conn:
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
