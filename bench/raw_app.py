"""The raw ceiling for HTTP figures: FastAPI + asyncpg, one row read by primary key.

DATABASE_URL=... uvicorn bench.raw_app:app --port 8801
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

pool: asyncpg.Pool | None = None


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global pool
    # Without the per-release reset query, as our services' pool runs: the ceiling must not
    # pay a round trip that the measured code was allowed to drop.
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=10, max_size=10, reset=_no_reset
    )
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_items (id uuid PRIMARY KEY, title text, body text)"
        )
    yield
    await pool.close()


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """asyncpg still rolls back an open transaction on release; nothing here keeps state."""


app = FastAPI(lifespan=lifespan)


@app.post("/raw", status_code=201)
async def create() -> dict:
    assert pool is not None
    new_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO raw_items VALUES ($1, 'a title', 'a body of some length')", new_id
    )
    return {"id": str(new_id)}


@app.get("/raw/{item_id}")
async def read(item_id: uuid.UUID) -> Response:
    assert pool is not None
    row = await pool.fetchrow("SELECT id, title, body FROM raw_items WHERE id = $1", item_id)
    if row is None:
        return Response(status_code=404)
    return JSONResponse({"id": str(row["id"]), "title": row["title"], "body": row["body"]})
