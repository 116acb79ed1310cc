"""Request dependencies: the authenticated principal, the service context and the unit of
work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, TokenVerifier
from shared.errors import Unauthorized
from shared.events import CloudEvent
from shared.http.context import request_id_var, traceparent_var
from shared.service import ServiceContext


def context_of(request: Request) -> ServiceContext:
    """The service's context, for a route that needs no session (reads on the asyncpg pool).
    A plain call, not a dependency: each FastAPI dependency costs ~25 us per request even
    when it does nothing. (Dependencies that are needed are `async def`: FastAPI runs plain
    `def` ones in a thread pool, a thread hop per request.)"""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


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


_DESCRIPTION = "A JWT from `mediaops token` or your IdP"
authenticate = BearerAuth(scheme_name="HTTPBearer", auto_error=False, description=_DESCRIPTION)
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


class _RolesCheck(BearerAuth):
    """The token check and the role gate in one dependency (a nested dependency costs its
    own resolution per request); the OpenAPI scheme is the same HTTPBearer."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        super().__init__(scheme_name="HTTPBearer", auto_error=False, description=_DESCRIPTION)
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await super().__call__(request)
        principal.require(*self.roles)
        return principal


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """`Depends(require_roles("manager", ...))`: the principal, 401 without a valid token,
    403 without one of the roles."""
    return _RolesCheck(roles)


READ_METHODS = frozenset({"GET", "HEAD"})


class UnitOfWork:
    """One request = one transaction; events emitted here commit with the state change.

    The session opens on first use: a request whose work runs on the asyncpg pool (GET item,
    POST item without Idempotency-Key) builds none (an AsyncSession and its transaction cost
    ~60 us of CPU even when they never connect)."""

    __slots__ = ("_session", "_write", "ctx")

    def __init__(self, ctx: ServiceContext, *, write: bool) -> None:
        self.ctx = ctx
        self._write = write
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._write:
                # Autobegin: the transaction starts with the first statement and the
                # dependency commits it (flushing what was added) before the response.
                self._session = self.ctx.db.session()
            else:
                # Reads run in autocommit: one round trip per query, no BEGIN/COMMIT.
                self._session = AsyncSession(
                    bind=self.ctx.db.autocommit_engine, expire_on_commit=False
                )
        return self._session

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


async def _finish(uow: UnitOfWork) -> None:
    if uow._session is not None and uow._write:
        await uow._session.commit()


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    uow = UnitOfWork(request.app.state.ctx, write=request.method not in READ_METHODS)
    try:
        yield uow
        await _finish(uow)
    finally:
        if uow._session is not None:
            await uow._session.close()  # rolls back what was not committed


@asynccontextmanager
async def open_unit_of_work(ctx: ServiceContext) -> AsyncIterator[UnitOfWork]:
    """What the `Uow` dependency does, for a write route that usually needs no session: the
    route returns its response after the block, so the commit still comes before the answer
    is sent and a failed commit is the answer. FastAPI's machinery for a generator dependency
    (cancel scopes, nested context managers) measured ~10 % of a POST's CPU."""
    uow = UnitOfWork(ctx, write=True)
    try:
        yield uow
        await _finish(uow)
    finally:
        if uow._session is not None:
            await uow._session.close()


# scope="function": commit before the response is sent, so a failed commit is the answer.
Uow = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
