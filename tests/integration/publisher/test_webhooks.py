"""Webhook subscriptions end to end on the real database and bus: an event reaches a
Standard Webhooks receiver signed, failures are retried and recorded, a 410 disables the
endpoint, a replay keeps the webhook-id, and user URLs are checked against SSRF."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook

from services.publisher.app import create_app
from shared.bus import Message
from shared.events import new_event
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.publisher.support import free_port

pytestmark = pytest.mark.infra
GOAL = "mediaops.planning.goal.created"


class Receiver:
    """A receiver that verifies signatures; its answers can be scripted (500, 410...)."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.script: list[int] = []
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()

        @app.post("/hooks")
        async def hooks(request: Request) -> JSONResponse:
            body = await request.body()
            headers = dict(request.headers)
            verified = None
            if self.secret:
                verified = Webhook(self.secret).verify(body, headers)
            self.requests.append({"headers": headers, "payload": verified})
            status = self.script.pop(0) if self.script else 200
            return JSONResponse({"ok": status < 300}, status_code=status)

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                timeout_graceful_shutdown=2,
            )
        )

    async def __aenter__(self) -> Receiver:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        await self.task


async def until(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def emit_goal(runtime, workspace: str = "ws-a") -> str:  # type: ignore[no-untyped-def]
    goal_id = str(uuid.uuid4())
    event = new_event(
        GOAL,
        {
            "goal_id": goal_id,
            "name": "reads",
            "metric": "reads",
            "target": 10,
            "period_start": "2026-01-01T00:00:00Z",
            "period_end": "2026-02-01T00:00:00Z",
        },
        workspace_id=workspace,
        source="/mediaops/planning",
        subject=goal_id,
    )
    await runtime.bus.publish([Message("events", GOAL, event.model_dump_json().encode(), event.id)])
    return event.id


@pytest.fixture
async def hooks(pg_url, amqp_url, make_runtime, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("services.publisher.webhooks.domain.RETRY_SCALE", 0.002)
    monkeypatch.setattr("services.publisher.webhooks.delivery.POLL_S", 0.05)
    settings = settings_for_tests(pg_url, amqp_url, MEDIAOPS_URL_ALLOW_LIST=["127.0.0.1"])
    runtime = await make_runtime(settings, ["publisher"], roles=["api", "publisher.webhooks"])
    app = create_app(runtime.contexts["publisher"])
    return settings, runtime, app


async def test_private_urls_are_refused_without_the_allow_list(pg_url, make_runtime):
    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(settings, ["publisher"], roles=["api"])
    app = create_app(runtime.contexts["publisher"])
    async with client_for(app, make_token(settings)) as c:
        for url in ("http://127.0.0.1:9/x", "http://10.0.0.5/x", "http://169.254.169.254/latest"):
            r = await c.post("/v1/webhooks/subscriptions", json={"url": url, "event_types": [GOAL]})
            assert r.status_code == 422 and r.json()["field"] == "url", r.text
        r = await c.post(
            "/v1/webhooks/subscriptions",
            json={"url": "https://example.com/x", "event_types": ["mediaops.bogus.thing.done"]},
        )
        assert r.status_code == 422 and r.json()["field"] == "event_types"


async def test_signed_delivery_retry_replay_and_isolation(hooks):
    settings, runtime, app = hooks
    async with Receiver() as receiver, client_for(app, make_token(settings)) as c:
        r = await c.post(
            "/v1/webhooks/subscriptions",
            json={"url": receiver.url, "event_types": ["mediaops.planning.#"]},
        )
        assert r.status_code == 201, r.text
        sub = r.json()
        assert sub["secret"].startswith("whsec_") and sub["status"] == "active"
        receiver.secret = sub["secret"]
        assert "secret" not in (await c.get(f"/v1/webhooks/subscriptions/{sub['id']}")).json()

        # Two failures, then success: three attempts recorded, one event delivered.
        receiver.script = [500, 503]
        event_id = await emit_goal(runtime)

        async def delivered() -> Any:
            r = await c.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries")
            items = r.json()["items"]
            return items if items and items[0]["status"] == "succeeded" else None

        try:
            items = await until(delivered)
        except AssertionError:
            r = await c.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries")
            raise AssertionError(
                f"not delivered: {r.json()} requests={receiver.requests}"
            ) from None
        assert len(items) == 1 and items[0]["event_id"] == event_id
        assert items[0]["attempts"] == 3
        detail = (await c.get(f"/v1/webhooks/deliveries/{items[0]['id']}")).json()
        assert [a["status_code"] for a in detail["attempt_log"]] == [500, 503, 200]
        assert detail["payload"]["type"] == GOAL
        assert len(receiver.requests) == 3
        ids = {req["headers"]["webhook-id"] for req in receiver.requests}
        assert ids == {f"msg_{event_id}"}  # the same id on every retry: receivers dedupe
        assert receiver.requests[-1]["payload"]["data"]["metric"] == "reads"

        # An event of another workspace or another type is not delivered here.
        await emit_goal(runtime, workspace="ws-b")
        await asyncio.sleep(0.3)
        assert (
            len((await c.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries")).json()["items"])
            == 1
        )

        # Replay: sent again now, with the same webhook-id.
        r = await c.post(f"/v1/webhooks/deliveries/{items[0]['id']}/replay")
        assert r.status_code == 202 and r.json()["status"] == "pending"
        await until(lambda: _count(receiver, 4))
        assert receiver.requests[-1]["headers"]["webhook-id"] == f"msg_{event_id}"

        # 410 Gone disables the subscription.
        receiver.script = [410]
        await emit_goal(runtime)

        async def disabled() -> Any:
            s = (await c.get(f"/v1/webhooks/subscriptions/{sub['id']}")).json()
            return s if s["status"] == "disabled" else None

        s = await until(disabled)
        assert "410" in s["disabled_reason"]

    async with client_for(app, make_token(settings, workspace="ws-b")) as other:
        assert (await other.get(f"/v1/webhooks/subscriptions/{sub['id']}")).status_code == 404
        r = await other.post(f"/v1/webhooks/deliveries/{items[0]['id']}/replay")
        assert r.status_code == 404


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_finished_deliveries_past_retention_are_purged(pg_url, make_runtime):
    from datetime import timedelta

    from sqlalchemy import select, text

    from services.publisher.webhooks.delivery import purge_finished
    from services.publisher.webhooks.tables import WebhookDelivery

    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(settings, ["publisher"], roles=[])
    ctx = runtime.contexts["publisher"]
    now = ctx.clock()
    sub_id = uuid.uuid4()
    rows = {
        "old-done": ("succeeded", now - timedelta(days=40)),
        "old-failed": ("failed", now - timedelta(days=31)),
        "old-pending": ("pending", now - timedelta(days=40)),
        "new-done": ("succeeded", now - timedelta(days=1)),
    }
    async with ctx.db.session() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO publisher.webhook_subscriptions (id, workspace_id, url, event_types,"
                " secret_enc, status, consecutive_failures, created_by, version) VALUES"
                " (:id, 'ws-purge', 'https://x.example/h', '[\"mediaops.#\"]', 'x', 'active', 0,"
                " 'me', 1)"
            ),
            {"id": sub_id},
        )
        for event_id, (status, created) in rows.items():
            s.add(
                WebhookDelivery(
                    workspace_id="ws-purge", subscription_id=sub_id, event_id=event_id,
                    event_type=GOAL, payload={}, status=status, attempts=1, created_at=created,
                )
            )  # fmt: skip
    assert await purge_finished(ctx, older_than_days=30) == 2
    async with ctx.db.session() as s:
        left = set(
            await s.scalars(
                select(WebhookDelivery.event_id).where(WebhookDelivery.subscription_id == sub_id)
            )
        )
    assert left == {"old-pending", "new-done"}  # never a delivery still to be sent
