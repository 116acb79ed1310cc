"""Alembic per service: each service migrates its own schema with its own version table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import asyncpg_url

ROOT = Path(__file__).resolve().parent.parent
MIGRATION_LOCK = 727_274  # advisory lock id: one migrator at a time per database


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", asyncpg_url(url).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)


def downgrade(service: str, url: str, revision: str) -> None:
    command.downgrade(alembic_config(service, url), revision)


def revision(service: str, url: str, message: str, autogenerate: bool = True) -> None:
    command.revision(alembic_config(service, url), message=message, autogenerate=autogenerate)


def run_migrations(metadata: MetaData) -> None:
    """Called from each service's migrations/env.py."""
    schema = metadata.schema
    assert schema, "a service's metadata must name its schema"
    url = context.config.get_main_option("sqlalchemy.url")
    assert url

    def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
        if type_ == "schema":
            return name == schema
        return True

    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        # Tables the code does not declare (e.g. monthly partitions created at run time) are
        # never proposed for dropping by autogenerate; a drop is written by hand.
        return not (type_ == "table" and reflected and compare_to is None)

    def do_run(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            include_object=include_object,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(do_run)
        finally:
            await engine.dispose()

    asyncio.run(run_async())
