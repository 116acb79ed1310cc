"""Helpers shared by the benchmarks: fresh databases, percentiles, printing a table."""

from __future__ import annotations

import json
import os
import statistics
import uuid
from pathlib import Path
from typing import Any

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RESULTS = Path(__file__).resolve().parent / "results.json"


async def fresh_database(name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def prefix() -> str:
    return f"bench{uuid.uuid4().hex[:8]}."


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = ["figure", "ours", "ceiling", "ratio", "aim", "unit"]
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def save_results(
    section: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None
) -> None:
    data: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            data = json.loads(RESULTS.read_text())
        except ValueError:
            data = {}
    data[section] = {"rows": rows, **(extra or {})}
    RESULTS.write_text(json.dumps(data, indent=2, default=str))


async def delete_topology(amqp_prefix: str) -> None:
    """Delete every queue and exchange the code declares under a benchmark's prefix."""
    import aio_pika

    from shared.bus.definitions import topology_definitions
    from shared.config import Settings

    if not amqp_prefix:
        return
    names = topology_definitions(
        Settings(MEDIAOPS_AMQP_PREFIX=amqp_prefix, MEDIAOPS_QUEUE_TYPE="classic")  # type: ignore[call-arg]
    )
    conn = await aio_pika.connect(AMQP_URL)
    try:
        channel = await conn.channel()
        for q in names["queues"]:
            await channel.queue_delete(q["name"])
        for x in names["exchanges"]:
            await channel.exchange_delete(x["name"])
    finally:
        await conn.close()
