"""HTTP figures beside the raw FastAPI + asyncpg single-row read, measured in the same run.

- GET one content item, authenticated (`mediaops serve content`, the real process)
- POST one content item (item row + version + tasks + outbox row, one transaction)
- ceiling: FastAPI + asyncpg reading one row by primary key (`bench/raw_app.py`), both served
  by uvicorn (uvloop + httptools, one process), loaded by wrk (or the asyncio fallback)

The machine is shared and its load drifts within seconds, so the three loads run in rounds
(ceiling, GET, POST, again), each after a short warm-up; a figure is the median of its rounds
and its ratio the median of the per-round ratios (each against the ceiling of its own round).

    .venv/bin/python -m bench.http_api [--rounds 3] [--seconds 5] [--connections 32] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from bench.common import drop_database, fresh_database, print_table, save_results
from bench.load import LoadResult, run_load
from shared.auth import mint_token
from shared.config import Settings
from shared.migrations import upgrade
from tests.support.processes import free_port


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def _opts(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "url"}


def main(args: argparse.Namespace) -> list[dict]:
    db_name = "mediaops_bench_http"  # not `name`: the rounds below use that for their figures
    url = asyncio.run(fresh_database(db_name))
    upgrade("content", url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIAOPS_ENV": "test",
        "MEDIAOPS_WRITE_RATE_PER_MINUTE": "100000000",
        "MEDIAOPS_LOG_LEVEL": args.log_level,
    }
    env.pop("AMQP_URL", None)
    raw_port, our_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.raw_app:app",
                "--port",
                str(raw_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shared.cli",
                "serve",
                "content",
                "--port",
                str(our_port),
                "--host",
                "127.0.0.1",
                "--no-consumers",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    rows: list[dict] = []
    try:
        raw = f"http://127.0.0.1:{raw_port}"
        ours = f"http://127.0.0.1:{our_port}"
        wait_ready(f"{ours}/readyz")
        wait_ready(f"{raw}/docs")
        token = mint_token(Settings(), workspace="bench", roles=["manager", "editor"], sub="b")
        auth = {"Authorization": f"Bearer {token}"}
        raw_id = httpx.post(f"{raw}/raw").json()["id"]
        body = {
            "title": "618 大促选题：夏季新品",
            "format": "article",
            "body": "<p>正文内容，" + "一段文字。" * 40 + "</p>",
            "tags": ["新品", "夏季"],
        }
        created = httpx.post(f"{ours}/v1/items", json=body, headers=auth)
        created.raise_for_status()
        item_id = created.json()["id"]

        loads: dict[str, dict[str, Any]] = {
            "ceiling": {"url": f"{raw}/raw/{raw_id}"},
            "get": {"url": f"{ours}/v1/items/{item_id}", "headers": auth},
            "post": {
                "url": f"{ours}/v1/items",
                "method": "POST",
                "headers": {**auth, "Content-Type": "application/json"},
                "body": json.dumps(body, ensure_ascii=False),
            },
        }
        results: dict[str, list[LoadResult]] = {name: [] for name in loads}
        for spec in loads.values():  # warm-up: pools filled, statements prepared
            run_load(spec["url"], seconds=1, connections=args.connections, **_opts(spec))
        for _ in range(args.rounds):
            for name, spec in loads.items():
                results[name].append(
                    run_load(
                        spec["url"],
                        seconds=args.seconds,
                        connections=args.connections,
                        **_opts(spec),
                    )
                )
        ceilings = [r.requests_per_s for r in results["ceiling"]]
        for label, name, aim in (
            ("GET one content item (auth)", "get", ">= 0.50"),
            ("POST one content item (+version+outbox)", "post", ">= 0.25"),
        ):
            runs = results[name]
            ratios = [r.requests_per_s / c for r, c in zip(runs, ceilings, strict=True)]
            non_2xx = sum(r.non_2xx for r in runs)
            rows.append(
                {
                    "figure": label,
                    "ours": statistics.median(r.requests_per_s for r in runs),
                    "ceiling": statistics.median(ceilings),
                    "ratio": statistics.median(ratios),
                    "aim": aim,
                    "unit": "req/s",
                    "rounds": [
                        {"ours": round(r.requests_per_s), "ceiling": round(c), "ratio": round(x, 3)}
                        for r, c, x in zip(runs, ceilings, ratios, strict=True)
                    ],
                    "p50_ms": statistics.median(r.p50_ms or 0 for r in runs),
                    "p99_ms": statistics.median(r.p99_ms or 0 for r in runs),
                    "non_2xx": non_2xx,
                    "tool": runs[0].tool,
                }
            )
            if non_2xx:
                print(f"warning: {non_2xx} non-2xx answers during {label}", file=sys.stderr)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()  # a slow shutdown must not leave the database behind
                p.wait(10)
        asyncio.run(drop_database(db_name))
    return rows


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="ceiling, GET, POST per round")
    parser.add_argument("--seconds", type=float, default=5, help="per load and round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--log-level", default="INFO", help="service log level (INFO = access log on)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = main(args)
    save_results("http_api", rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
        for r in rows:
            each = ", ".join(
                f"{x['ours']:,}/{x['ceiling']:,} = {x['ratio']:.2f}" for x in r["rounds"]
            )
            print(f"{r['figure']}, each round (ours/ceiling): {each}")


if __name__ == "__main__":
    cli()
