"""The app factory every service uses: same errors, health, metrics and conventions."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.auth import TokenVerifier
from shared.errors import AppError, Conflict, ServiceUnavailable, Unprocessable
from shared.http.middleware import RequestContextMiddleware
from shared.service import ServiceContext

log = logging.getLogger("mediaops.http")
PROBLEM = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "RFC 9457 problem details",
    "content": {
        PROBLEM: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "field": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["type", "title", "status"],
            }
        }
    },
}
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_SCHEMA,
    403: PROBLEM_SCHEMA,
    404: PROBLEM_SCHEMA,
    422: PROBLEM_SCHEMA,
    429: PROBLEM_SCHEMA,
    503: PROBLEM_SCHEMA,
}


# Young-generation threshold while serving. A request allocates thousands of container objects
# that mostly die by reference counting; at CPython's 700 the collector ran several times per
# POST and, over the ~130k objects alive after start-up, full collections took ~100 ms each:
# 13-20 % of a serving process's CPU under load (measured with gc.callbacks).
SERVING_GC_GEN0 = 7000


def tune_gc_for_serving() -> None:
    """Call once the process has started (imports, app, pools): the objects alive then live
    as long as the process, so they are frozen out of every later collection, and the young
    generation is collected less often. Cyclic garbage is still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(SERVING_GC_GEN0, *gc.get_threshold()[1:])


def problem_response(err: AppError, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        err.problem(instance=str(request.url.path) if request else None),
        status_code=err.status,
        media_type=PROBLEM,
        headers=err.headers,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) if parts else "body"


def _is_db_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        (
            ConnectionError,
            OSError,
            asyncio.TimeoutError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.AdminShutdownError,
        ),
    )


def _is_unstorable_text(exc: BaseException) -> bool:
    """A client's text PostgreSQL refuses (query strings, path parts, headers)."""
    if isinstance(exc, UnicodeEncodeError):
        return True
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None) or orig
    return isinstance(
        cause,
        (
            asyncpg.exceptions.CharacterNotInRepertoireError,
            asyncpg.exceptions.UntranslatableCharacterError,
            UnicodeEncodeError,
        ),
    )


def _is_out_of_range(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None) or orig
    return isinstance(
        cause,
        (
            asyncpg.exceptions.NumericValueOutOfRangeError,
            asyncpg.exceptions.DatetimeFieldOverflowError,
            asyncpg.exceptions.InvalidDatetimeFormatError,
            asyncpg.exceptions.DataError,
            OverflowError,
        ),
    ) or "invalid input for query argument" in str(cause or "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_name(tuple(e.get("loc", ()))),
                "message": e.get("msg"),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        err = AppError(
            f"{first['field']}: {first['message']}", field=str(first["field"]), errors=errors
        )
        err.status, err.title, err.slug = 422, "Unprocessable Content", "validation"
        return problem_response(err, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = AppError(str(exc.detail), headers=dict(exc.headers or {}))
        err.status = exc.status_code
        err.title = {
            404: "Not Found",
            405: "Method Not Allowed",
            413: "Payload Too Large",
        }.get(exc.status_code, "Error")
        err.slug = err.title.lower().replace(" ", "-")
        return problem_response(err, request)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        return problem_response(Conflict("the change conflicts with existing data"), request)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        # Another request changed or removed the row between our read and our write.
        return problem_response(
            Conflict("the resource was changed by another request; read it again and retry"),
            request,
        )

    async def _infrastructure(request: Request, exc: Exception) -> JSONResponse:
        # Registered per class (not only as the catch-all) so Starlette answers inside the
        # app and keeps the connection: the catch-all runs in ServerErrorMiddleware, which
        # re-raises after answering and makes uvicorn drop the keep-alive connection.
        if _is_unstorable_text(exc):
            return problem_response(
                Unprocessable("text contains a NUL byte or an unpaired surrogate"), request
            )
        if _is_out_of_range(exc):
            # Safety net: request models should bound their numbers; the database refused one.
            return problem_response(
                Unprocessable("a value is out of range for the field it was given for"), request
            )
        if _is_db_unavailable(exc):
            log.warning("database unavailable: %r", exc)
            return problem_response(
                ServiceUnavailable(
                    "the database is unavailable; retry later", headers={"Retry-After": "5"}
                ),
                request,
            )
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            AppError("an unexpected error occurred; it was logged with this request id"), request
        )

    for cls in (
        DBAPIError,
        PoolTimeout,
        OSError,
        asyncpg.exceptions.PostgresError,
        asyncpg.exceptions.InterfaceError,
        UnicodeEncodeError,
    ):
        app.add_exception_handler(cls, _infrastructure)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        return await _infrastructure(request, exc)


def create_service_app(ctx: ServiceContext, *, root_path_hint: str = "") -> FastAPI:
    spec = ctx.spec
    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="1.0.0",
        responses=COMMON_RESPONSES,
        openapi_tags=None,
    )
    app.state.ctx = ctx
    app.state.verifier = ctx.extras.setdefault("verifier", TokenVerifier(ctx.settings))
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database and broker reachable")
    async def readyz() -> Response:
        checks: dict[str, str] = {}
        ok = True
        try:
            await ctx.db.ping(timeout_s=2.0)
            checks["database"] = "ok"
        except Exception as exc:
            ok, checks["database"] = False, f"unavailable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(ctx.bus.check(ctx.ready_queues), 3)
            checks["broker"] = "ok"
        except Exception as exc:
            ok, checks["broker"] = False, f"unavailable: {type(exc).__name__}"
        body = {"status": "ok" if ok else "unavailable", "service": spec.name, "checks": checks}
        if ok:
            return JSONResponse(body)
        return JSONResponse(
            {
                **body,
                "type": "https://mediaops.dev/problems/unavailable",
                "title": "Service Unavailable",
                "status": 503,
            },
            status_code=503,
            media_type=PROBLEM,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        for hook in ctx.extras.get("metrics_hooks", {}).values():
            try:
                await hook()
            except Exception as exc:
                log.warning("metrics hook failed: %r", exc)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/asyncapi.json",
        tags=["ops"],
        summary="AsyncAPI 3.0 document of the events this service publishes",
    )
    async def asyncapi() -> JSONResponse:
        from shared.events.asyncapi import build_asyncapi

        return JSONResponse(
            build_asyncapi(
                services=(spec.name,),
                exchange_events=ctx.settings.exchange_events,
                exchange_commands=ctx.settings.exchange_commands,
            )
        )

    for router in spec.routers():
        app.include_router(router)

    app.add_middleware(
        RequestContextMiddleware,  # type: ignore[arg-type]
        service=spec.name,
        max_body_bytes=ctx.settings.max_body_bytes,
        write_rate_per_minute=ctx.settings.write_rate_per_minute,
        body_limit_exempt=spec.large_body_paths,
    )
    return app
