"""Request dependencies: the authenticated principal, the service context and the unit of
work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, TokenVerifier
from shared.errors import Unauthorized
from shared.events import CloudEvent
from shared.http.context import request_id_var, traceparent_var
from shared.service import ServiceContext


# Dependencies are `async def` on purpose: FastAPI runs plain `def` ones in a thread pool,
# a thread hop per request that measurably cut read throughput.
async def current_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


# The service's context without a session or transaction: for reads served from the asyncpg
# pool (the unit of work's generator dependency and AsyncSession cost ~100 us per request).
Ctx = Annotated[ServiceContext, Depends(current_context)]


class BearerAuth(HTTPBearer):
    """The bearer scheme and the token check in one dependency: the OpenAPI document keeps
    the HTTPBearer security scheme, while a request reads its Authorization header directly
    (no HTTPAuthorizationCredentials model, one dependency level fewer)."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthorized("a bearer token is required")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a bearer token is required")
        verifier: TokenVerifier = request.app.state.verifier
        return verifier.verify(token)


authenticate = BearerAuth(
    scheme_name="HTTPBearer",
    auto_error=False,
    description="A JWT from `mediaops token` or your IdP",
)
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        principal.require(*roles)
        return principal

    return check


@dataclass
class UnitOfWork:
    """One request = one transaction; events emitted here commit with the state change."""

    session: AsyncSession
    ctx: ServiceContext

    async def emit(
        self, type: str, data: Any, *, workspace_id: str, subject: str | None = None
    ) -> CloudEvent:
        return await self.ctx.outbox.emit(
            self.session,
            type,
            data,
            workspace_id=workspace_id,
            subject=subject,
            request_id=request_id_var.get(),
            traceparent=traceparent_var.get(),
        )

    def now(self) -> Any:
        return self.ctx.clock()


READ_METHODS = frozenset({"GET", "HEAD"})


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    ctx: ServiceContext = request.app.state.ctx
    if request.method in READ_METHODS:
        # Reads run in autocommit (one round trip per query), and the session connects only
        # when first used, so a read served from the asyncpg pool checks out nothing here.
        async with AsyncSession(bind=ctx.db.autocommit_engine, expire_on_commit=False) as session:
            yield UnitOfWork(session=session, ctx=ctx)
        return
    async with ctx.db.session() as session, session.begin():
        yield UnitOfWork(session=session, ctx=ctx)


# scope="function": commit before the response is sent, so a failed commit is the answer.
Uow = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
