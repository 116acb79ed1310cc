"""RabbitMQ becomes unreachable during a flow of events, then comes back.

Real processes: planning (API + consumers), its outbox relay and metrics (API + consumers),
all reaching RabbitMQ through a fault proxy. Goals are created in planning at a steady rate;
mid-flow the proxy cuts every broker connection and refuses new ones for a few seconds.
Planning keeps accepting writes (the outbox holds the events), and once the broker is back
every goal reaches metrics (none lost, none twice) without restarting any process.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from shared.auth import mint_token
from tests.faults.conftest import ALL_ROLES, poll
from tests.support import infra
from tests.support.processes import free_port

pytestmark = pytest.mark.infra

GOALS = 120
RATE_PER_S = 20
OUTAGE_AT_S, OUTAGE_S = 1.5, 4.0


async def all_goals(client: httpx.AsyncClient, url: str) -> set[str]:
    seen: set[str] = set()
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{url}/v1/goals", params=params)
        r.raise_for_status()
        body = r.json()
        seen |= {g["id"] for g in body["items"]}
        cursor = body.get("next_cursor")
        if not cursor:
            return seen


async def test_broker_outage_loses_nothing_and_delivery_resumes_by_itself(stack) -> None:  # type: ignore[no-untyped-def]
    s = stack()
    proxy = s.proxy(infra.AMQP_URL)
    env = {"AMQP_URL": proxy.rewrite(infra.AMQP_URL)}
    metrics = s.service("metrics", env)
    planning = s.service("planning", env)
    relay = s.start("relay", ["relay", "--service", "planning", "--port", str(free_port())], env)
    relay.port = int(relay.args[-1])
    s.cluster.wait_ready(relay)
    procs = [metrics, planning, relay]
    pids = [p.popen.pid for p in procs]  # type: ignore[union-attr]
    token = mint_token(s.settings(), workspace="ws-broker", roles=ALL_ROLES.split(","), sub="pat")
    headers = {"Authorization": f"Bearer {token}"}

    created: list[str] = []
    outage: dict[str, float] = {}
    async with httpx.AsyncClient(headers=headers, timeout=10) as c:

        async def feed() -> None:
            for i in range(GOALS):
                r = await c.post(
                    f"{planning.url}/v1/goals",
                    json={
                        "name": f"goal {i}",
                        "metric": "reads",
                        "target": 1000 + i,
                        "period_start": "2026-01-01",
                        "period_end": "2026-12-31",
                    },
                )
                assert r.status_code == 201, f"goal {i} during the flow: {r.status_code} {r.text}"
                created.append(r.json()["id"])
                await asyncio.sleep(1 / RATE_PER_S)

        async def break_broker() -> None:
            await asyncio.sleep(OUTAGE_AT_S)
            outage["start"] = time.monotonic()
            await asyncio.to_thread(proxy.set_mode, "refuse")
            outage["cut"] = await asyncio.to_thread(proxy.cut)
            outage["created_before"] = len(created)
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(proxy.set_mode, "pass")
            outage["end"] = time.monotonic()
            outage["created_during"] = len(created) - outage["created_before"]

        await asyncio.gather(feed(), break_broker())
        assert outage["cut"] >= 3, f"the outage cut only {outage['cut']} connections"
        assert outage["created_during"] > 0, "no goal was created while the broker was away"

        async def delivered() -> bool:
            return set(created) <= await all_goals(c, metrics.url)

        await poll(delivered, 45, f"all {GOALS} goals in metrics")
        resumed = time.monotonic() - outage["end"]
        got = await all_goals(c, metrics.url)
        assert got == set(created) and len(created) == GOALS
        for p, pid in zip(procs, pids, strict=True):
            assert p.alive() and p.popen.pid == pid, f"{p.name} was restarted or died:\n{p.tail()}"  # type: ignore[union-attr]
        for p in (metrics, planning):
            r = await c.get(f"{p.url}/readyz")
            assert r.status_code == 200, r.text
        print(
            f"\nbroker away {OUTAGE_S:.1f} s ({outage['cut']} connections cut, "
            f"{outage['created_during']} goals created meanwhile); all {GOALS} goals in metrics "
            f"{resumed:.1f} s after it came back"
        )
