"""The planning service's ASGI app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.planning.domain.errors import DomainError, InvalidTransition
from shared.errors import Conflict, Unprocessable
from shared.http.app import create_service_app, problem_response
from shared.service import ServiceContext


def create_app(ctx: ServiceContext) -> FastAPI:
    app = create_service_app(ctx)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        # A broken domain rule is bad input: 422 naming the field.
        return problem_response(Unprocessable(str(exc), field=exc.field), request)

    @app.exception_handler(InvalidTransition)
    async def _invalid_transition(request: Request, exc: InvalidTransition) -> JSONResponse:
        # The resource's state forbids the action: 409, with the state it is in.
        return problem_response(
            Conflict(exc.message, field="status", current_status=exc.status, action=exc.action),
            request,
        )

    return app
