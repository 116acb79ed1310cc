"""A Standard Webhooks receiver: verifies signatures and dedupes by `webhook-id`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fakes import PlatformHarness


@dataclass
class FakeWebhookReceiver:
    secret: str
    harness: PlatformHarness = field(default_factory=PlatformHarness)
    # webhook-id -> delivery id; the effect happens once per webhook-id.
    deliveries: dict[str, str] = field(default_factory=dict)
    payloads: list[Any] = field(default_factory=list)
    redirect_to: str = "http://127.0.0.1:8080/admin"

    def __post_init__(self) -> None:
        app = FastAPI()
        verifier = Webhook(self.secret)

        @app.post("/hooks")
        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            try:
                payload = verifier.verify(body, dict(request.headers))
            except WebhookVerificationError as exc:
                return JSONResponse({"error": str(exc)}, 400)
            msg_id = request.headers["webhook-id"]
            if msg_id not in self.deliveries:
                self.deliveries[msg_id] = f"dlv_{len(self.deliveries) + 1}"
                self.payloads.append(payload)
            return JSONResponse({"id": self.deliveries[msg_id]})

        @app.post("/moved")
        async def moved() -> RedirectResponse:
            return RedirectResponse(self.redirect_to, status_code=307)

        self.app = self.harness.wrap(app)
