"""A poison message: an unparseable body on a binding of the metrics queue, in the middle of a
flow of valid events. It is dead-lettered (`mediaops dlq list metrics` shows it) while the
events before and after it are all handled."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import httpx
import pytest

from shared.auth import mint_token
from shared.bus import Message, create_bus
from shared.events import new_event
from tests.faults.conftest import ALL_ROLES, poll
from tests.support.processes import ROOT

pytestmark = pytest.mark.infra

GOAL_CREATED = "mediaops.planning.goal.created"
WS = "ws-poison"


def goal_event(i: int) -> tuple[str, Message]:
    goal_id = str(uuid.uuid4())
    event = new_event(
        GOAL_CREATED,
        {
            "goal_id": goal_id,
            "name": f"goal {i}",
            "metric": "reads",
            "target": 100 + i,
            "period_start": "2026-01-01T00:00:00+00:00",
            "period_end": "2026-12-31T00:00:00+00:00",
        },
        workspace_id=WS,
        source="/tests/faults",
    )
    body = json.dumps(event.to_json_dict()).encode()
    return goal_id, Message("events", GOAL_CREATED, body, event.id)


async def test_poison_message_is_dead_lettered_and_the_rest_keep_flowing(stack) -> None:  # type: ignore[no-untyped-def]
    s = stack()
    metrics = s.service("metrics")
    bus = create_bus(s.settings())
    await bus.start()
    poison_id = f"poison-{uuid.uuid4().hex[:8]}"
    before = [goal_event(i) for i in range(10)]
    after = [goal_event(i) for i in range(10, 20)]
    try:
        await bus.publish([m for _g, m in before])
        await bus.publish([Message("events", GOAL_CREATED, b"{not json at all", poison_id)])
        await bus.publish([m for _g, m in after])
    finally:
        await bus.close()

    token = mint_token(s.settings(), workspace=WS, roles=ALL_ROLES.split(","), sub="pat")
    async with httpx.AsyncClient(
        base_url=metrics.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:

        async def all_handled() -> bool:
            r = await c.get("/v1/goals", params={"limit": 200})
            return {g["id"] for g in r.json()["items"]} == {g for g, _m in before + after}

        await poll(all_handled, 20, "the 20 valid events before and after the poison handled")

    async def dead_letters() -> list[dict]:
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shared.cli", "dlq", "list", "metrics"],
            cwd=ROOT,
            env=s.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    listed = await poll(dead_letters, 15, "the poison in `mediaops dlq list metrics`", 0.5)
    assert [d["message_id"] for d in listed] == [poison_id], listed
    assert listed[0]["type"] == GOAL_CREATED and listed[0]["error"], listed
    assert metrics.alive()
