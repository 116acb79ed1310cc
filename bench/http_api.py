"""HTTP figures beside the raw FastAPI + asyncpg single-row read, measured in the same run.

- GET one content item, authenticated (`mediaops serve content`, the real process)
- POST one content item (item row + version + tasks + outbox row, one transaction)
- ceiling: FastAPI + asyncpg reading one row by primary key (`bench/raw_app.py`), both served
  by uvicorn (uvloop + httptools, one process), loaded by wrk (or the asyncio fallback)

    .venv/bin/python -m bench.http_api [--seconds 8] [--connections 32] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import httpx

from bench.common import drop_database, fresh_database, print_table, save_results
from bench.load import run_load
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


def main(args: argparse.Namespace) -> list[dict]:
    name = "mediaops_bench_http"
    url = asyncio.run(fresh_database(name))
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

        ceiling = run_load(
            f"{raw}/raw/{raw_id}", seconds=args.seconds, connections=args.connections
        )
        get = run_load(
            f"{ours}/v1/items/{item_id}",
            seconds=args.seconds,
            connections=args.connections,
            headers=auth,
        )
        post = run_load(
            f"{ours}/v1/items",
            seconds=args.seconds,
            connections=args.connections,
            method="POST",
            headers={**auth, "Content-Type": "application/json"},
            body=json.dumps(body, ensure_ascii=False),
        )
        for label, res, aim in (
            ("GET one content item (auth)", get, ">= 0.50"),
            ("POST one content item (+version+outbox)", post, ">= 0.25"),
        ):
            rows.append(
                {
                    "figure": label,
                    "ours": res.requests_per_s,
                    "ceiling": ceiling.requests_per_s,
                    "ratio": res.requests_per_s / ceiling.requests_per_s,
                    "aim": aim,
                    "unit": "req/s",
                    "p50_ms": res.p50_ms,
                    "p99_ms": res.p99_ms,
                    "non_2xx": res.non_2xx,
                    "tool": res.tool,
                }
            )
            if res.non_2xx:
                print(f"warning: {res.non_2xx} non-2xx answers during {label}", file=sys.stderr)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        asyncio.run(drop_database(name))
    return rows


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
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


if __name__ == "__main__":
    cli()
