"""PostgreSQL becomes unreachable for a service process, then comes back.

planning (real process) reaches PostgreSQL through a fault proxy. With the database away
(first refused and cut, as when it is stopped; then blackholed, as when the network drops
packets) `/readyz` answers 503, reads and writes fail fast with 503 problem+json (each under
5 s, never hanging), and when it is back `/readyz` is 200 again, writes work and every goal
committed before the outage is still there.
"""

from __future__ import annotations

import time

import httpx
import pytest

from shared.auth import mint_token
from tests.faults.conftest import ALL_ROLES, poll

pytestmark = pytest.mark.infra

FAST_S = 5.0


def goal(i: int) -> dict:
    return {
        "name": f"goal {i}",
        "metric": "reads",
        "target": 100 + i,
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
    }


async def timed(c: httpx.AsyncClient, method: str, url: str, **kw) -> tuple[httpx.Response, float]:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    try:
        r = await c.request(method, url, **kw)
    except httpx.HTTPError as exc:
        took = time.monotonic() - t0
        raise AssertionError(
            f"{method} {url}: no HTTP answer ({exc!r}) after {took:.2f} s, expected 503"
        ) from exc
    return r, time.monotonic() - t0


async def test_database_outage_is_503_fast_and_loses_nothing(stack) -> None:  # type: ignore[no-untyped-def]
    s = stack()
    proxy = s.proxy(s.db_url)
    planning = s.service("planning", {"DATABASE_URL": proxy.rewrite(s.db_url)})
    token = mint_token(s.settings(), workspace="ws-db", roles=ALL_ROLES.split(","), sub="pat")
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(
        base_url=planning.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        ids = []
        for i in range(20):
            r = await c.post("/v1/goals", json=goal(i))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        assert (await c.get("/readyz")).status_code == 200

        for mode in ("refuse", "blackhole"):
            proxy.set_mode(mode)  # type: ignore[arg-type]
            proxy.cut()

            async def not_ready() -> httpx.Response | None:
                r = await c.get("/readyz")
                return r if r.status_code == 503 else None

            t0 = time.monotonic()
            r = await poll(not_ready, 15, f"/readyz 503 ({mode})")
            timings[f"{mode}: readyz 503 after"] = [time.monotonic() - t0]
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["checks"]["database"].startswith("unavailable"), r.text
            for i in range(3):
                for method, url, kw in (
                    ("GET", "/v1/goals", {}),
                    ("GET", f"/v1/goals/{ids[i]}", {}),
                    ("POST", "/v1/goals", {"json": goal(100 + i)}),
                ):
                    r, took = await timed(c, method, url, **kw)
                    timings.setdefault(f"{mode}: {method} {url.split('/')[2]}", []).append(took)
                    assert r.status_code == 503, f"{mode} {method} {url}: {r.status_code} {r.text}"
                    assert r.headers["content-type"] == "application/problem+json"
                    assert r.json()["status"] == 503 and r.headers.get("retry-after")
                    assert took < FAST_S, f"{mode} {method} {url} took {took:.1f} s"
            proxy.set_mode("pass")
            proxy.cut()  # what the blackhole held is gone

            async def ready() -> bool:
                return (await c.get("/readyz")).status_code == 200

            t0 = time.monotonic()
            await poll(ready, 20, f"/readyz 200 after {mode}")
            timings[f"{mode}: readyz 200 again after"] = [time.monotonic() - t0]
            r = await c.post("/v1/goals", json=goal(1000))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])

        listed = (await c.get("/v1/goals", params={"limit": 200})).json()["items"]
        assert {g["id"] for g in listed} == set(ids), "a committed goal is missing or extra"
        assert planning.alive()
    print("\n" + "\n".join(f"{k}: max {max(v):.2f} s" for k, v in timings.items()))
