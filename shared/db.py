"""Database conventions in one place: schema per service, naming, mixins, engines.

One request or one message is one transaction; the boundary (HTTP unit of work or the
consumer) commits, services never do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger("mediaops.db")


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_metadata(schema: str) -> MetaData:
    """A service's MetaData with its schema, the naming convention and the kernel tables."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    add_kernel_tables(metadata)
    return metadata


def make_base(schema: str) -> type[DeclarativeBase]:
    metadata = make_metadata(schema)

    class Base(DeclarativeBase):
        pass

    Base.metadata = metadata
    return Base


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        default=utcnow,
        onupdate=utcnow,
        nullable=False,
    )


class WorkspaceMixin:
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)


class VersionMixin:
    """Optimistic concurrency: `version` backs ETag / If-Match."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


def add_kernel_tables(metadata: MetaData) -> None:
    """outbox, inbox and idempotency_keys live in every service's own schema."""
    Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(always=False), primary_key=True),
        Column("id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("kind", String(16), nullable=False, server_default="event"),
        Column("routing_key", String(200), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Column("attempts", SmallInteger, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
    )
    # The relay scans unsent rows only; a partial index keeps that cheap.
    from sqlalchemy import Index

    Index(
        "ix_outbox_unsent",
        metadata.tables[f"{metadata.schema}.outbox"].c.seq,
        postgresql_where=text("sent_at IS NULL"),
    )
    Table(
        "inbox",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    Table(
        "idempotency_keys",
        metadata,
        Column("workspace_id", String(64), nullable=False),
        Column("key", String(200), nullable=False),
        Column("method", String(10), nullable=False),
        Column("path", String(500), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", SmallInteger, nullable=True),
        Column("response", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("workspace_id", "key"),
    )


def asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def _json_text(value: Any) -> str:
    # orjson: a POST item encodes 6 JSON values. (Decoding stays json.loads: orjson reads
    # integers past 64 bits as floats.)
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what only json takes (integers past 64 bits)
        return json.dumps(value)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_json_text, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg always rolls back an open transaction and drops
    listeners first; its default reset then runs `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` (a round trip per request, ~10 % of a GET's CPU). Nothing on this
    pool leaves such session state (no SET, LISTEN, advisory lock or held cursor), so that
    query is skipped."""


def plain_url(url: str) -> str:
    """The libpq form asyncpg.connect() takes."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    """One engine + session factory. Nothing connects until first use."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout_s: float = 3.0,
        statement_timeout_ms: int = 15000,
        echo: bool = False,
    ) -> None:
        self.url = asyncpg_url(url)
        connect_args: dict[str, Any] = {
            "timeout": connect_timeout_s,
            "command_timeout": statement_timeout_ms / 1000,
            "server_settings": {"statement_timeout": str(statement_timeout_ms)},
        }
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=connect_timeout_s + 2,
            pool_pre_ping=False,  # a dead connection invalidates the pool on first use instead
            connect_args=connect_args,
            echo=echo,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        # Reads need no transaction: one round trip per query instead of BEGIN/…/COMMIT.
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        """A plain asyncpg pool for hot read paths.

        Checking a connection out of SQLAlchemy's async pool measured ~300 us of CPU per
        request here, an asyncpg pool acquire ~20 us; the hottest reads (one row by key) use
        this pool. Writes stay on SQLAlchemy sessions (one transaction, outbox included).
        A connection must come back without session state (see `_keep_session`).
        """
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        plain_url(self.url),
                        min_size=1,
                        max_size=self._pool_size,
                        timeout=self._connect_timeout_s,
                        command_timeout=self._statement_timeout_ms / 1000,
                        server_settings={"statement_timeout": str(self._statement_timeout_ms)},
                        init=_init_connection,
                        reset=_keep_session,
                    )
        return self._pool

    async def ping(self, timeout_s: float = 2.0) -> None:
        async def _ping() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(_ping(), timeout_s)

    async def dispose(self, grace_s: float = 10.0) -> None:
        """Close the pools. asyncpg's close waits for every checked-out connection to come
        back: a leaked or stuck one would hang shutdown forever, so after `grace_s` the
        remaining connections are terminated."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), grace_s)
            except TimeoutError:
                log.warning("asyncpg pool still busy after %.0f s: terminating it", grace_s)
                pool.terminate()
        try:
            await asyncio.wait_for(self.engine.dispose(), grace_s)
        except TimeoutError:
            log.warning("SQLAlchemy engine still busy after %.0f s: abandoning it", grace_s)

    def session(self) -> AsyncSession:
        return self.sessions()
