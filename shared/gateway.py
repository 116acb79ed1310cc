"""`mediaops up`: every service behind one port with the prefixes of the contract."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.runtime import Runtime

log = logging.getLogger("mediaops.gateway")


def create_gateway(
    runtime: Runtime, *, with_sandbox: bool = True, tune_gc: bool = False
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if tune_gc:  # a process of its own (`mediaops up`), as `mediaops serve` does
            from shared.http.app import tune_gc_for_serving

            tune_gc_for_serving()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="mediaops", lifespan=lifespan, docs_url=None, redoc_url=None)
    links: dict[str, Any] = {}
    for name, ctx in runtime.contexts.items():
        module = __import__(f"services.{name}.app", fromlist=["create_app"])
        app.mount(f"/{name}", module.create_app(ctx))
        links[name] = {
            "docs": f"/{name}/docs",
            "openapi": f"/{name}/openapi.json",
            "readyz": f"/{name}/readyz",
        }
    if with_sandbox:
        try:
            from deploy.sandbox.app import create_sandbox_app
        except ImportError as exc:
            # Without it every sandbox publication fails: say so loudly.
            log.warning("the sandbox platform is not importable; /sandbox is off: %r", exc)
        else:
            app.mount("/sandbox", create_sandbox_app())
            links["sandbox"] = {"posts": "/sandbox/v1/posts", "behaviour": "/sandbox/v1/behaviour"}

    @app.get("/", include_in_schema=False)
    async def index() -> JSONResponse:
        return JSONResponse(
            {"service": "mediaops", "services": links, "asyncapi": "/asyncapi.json"}
        )

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> JSONResponse:
        from shared.events.asyncapi import build_asyncapi

        return JSONResponse(
            build_asyncapi(
                exchange_events=runtime.settings.exchange_events,
                exchange_commands=runtime.settings.exchange_commands,
            )
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app
