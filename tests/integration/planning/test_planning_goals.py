"""SMART goals through the API: validation, events out, progress, If-Match, at-risk."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .support import Planning, assert_problem

pytestmark = pytest.mark.infra

GOAL = {
    "name": "Grow reads",
    "metric": "reads",
    "target": 10000,
    "baseline": 1000,
    "period_start": "2026-04-01T00:00:00+08:00",
    "period_end": "2026-05-01T00:00:00+08:00",
    "channel": "wechat_mp",
}


async def test_create_goal_emits_and_reports_progress(planning: Planning) -> None:
    planning.clock.pinned = datetime(2026, 4, 16, 0, 0, tzinfo=UTC)
    async with planning.client("manager") as c:
        r = await c.post("/v1/goals", json=GOAL)
        assert r.status_code == 201, r.text
        goal = r.json()
        assert goal["status"] == "active" and goal["metric"] == "reads" and goal["unit"] == "count"
        assert goal["period_start"] == "2026-03-31T16:00:00+00:00"
        p = goal["progress"]
        # Nothing measured yet: at the baseline, half the period gone, expected 5,500.
        assert p["current"] == 1000 and p["ratio"] == 0 and p["updated_at"] is None
        assert p["expected"] == pytest.approx(1000 + 9000 * (15 * 24 + 8) / (30 * 24))
        assert p["on_track"] is False
        events = await planning.outbox("mediaops.planning.goal.created", goal["id"])
        assert len(events) == 1
        data = events[0]["data"]
        assert data["goal_id"] == goal["id"] and data["metric"] == "reads"
        assert data["target"] == 10000 and data["baseline"] == 1000
        assert data["period_end"].startswith("2026-04-30T16:00:00")
        assert data["channel"] == "wechat_mp" and data["status"] == "active"

        got = await c.get(f"/v1/goals/{goal['id']}")
        assert got.status_code == 200 and got.headers["etag"] == '"1"'
        risky = (await c.get("/v1/goals/at-risk")).json()["items"]
        assert [g["id"] for g in risky] == [goal["id"]]
        assert "reads at 1000" in risky[0]["reason"]
    async with planning.client("analyst") as reader:
        listed = (await reader.get("/v1/goals", params={"status": "active"})).json()
        assert [g["id"] for g in listed["items"]] == [goal["id"]]


async def test_a_period_that_ended_below_target_reads_as_missed(planning: Planning) -> None:
    planning.clock.pinned = datetime(2026, 4, 16, 0, 0, tzinfo=UTC)
    async with planning.client("manager") as c:
        goal = (await c.post("/v1/goals", json=GOAL)).json()
        assert goal["status"] == "active"
        planning.clock.pinned = datetime(2026, 5, 2, 0, 0, tzinfo=UTC)  # the period is over
        got = (await c.get(f"/v1/goals/{goal['id']}")).json()
        assert got["status"] == "missed" and got["progress"]["current"] == 1000


async def test_local_dates_are_whole_days_in_the_workspace_zone(planning: Planning) -> None:
    async with planning.client("manager") as c:
        r = await c.post(
            "/v1/goals", json={**GOAL, "period_start": "2026-04-01", "period_end": "2026-04-30"}
        )
        assert r.status_code == 201, r.text
        # Asia/Shanghai is UTC+8: the first local day starts at 16:00 UTC the day before.
        assert r.json()["period_start"] == "2026-03-31T16:00:00+00:00"
        assert r.json()["period_end"] == "2026-04-30T16:00:00+00:00"


async def test_bad_goals_are_422_naming_the_field(planning: Planning) -> None:
    async with planning.client("manager") as c:
        before = len((await c.get("/v1/goals")).json()["items"])
        body = assert_problem(
            await c.post("/v1/goals", json={**GOAL, "metric": "vibes"}), 422, "metric"
        )
        assert "engagement_rate" in body["detail"] and "followers" in body["allowed"]
        assert_problem(
            await c.post(
                "/v1/goals",
                json={**GOAL, "period_end": "2026-03-01T00:00:00+08:00"},
            ),
            422,
            "period_end",
        )
        assert_problem(await c.post("/v1/goals", json={**GOAL, "target": -5}), 422, "target")
        assert_problem(
            await c.post("/v1/goals", json={**GOAL, "period_start": "2026-04-01T00:00:00"}),
            422,
            "period_start",
        )
        assert_problem(
            await c.post("/v1/goals", json={**GOAL, "metric": "engagement_rate", "target": 5}),
            422,
            "target",
        )
        assert_problem(
            await c.post("/v1/goals", json={**GOAL, "status": "achieved"}), 422, "status"
        )
        assert_problem(
            await c.post(
                "/v1/goals", json={**GOAL, "campaign_id": "8d1c5f0e-0000-4000-8000-000000000000"}
            ),
            422,
            "campaign_id",
        )
        assert len((await c.get("/v1/goals")).json()["items"]) == before
    async with planning.client("planner") as c:
        assert_problem(await c.post("/v1/goals", json=GOAL), 403)


async def test_patch_needs_if_match_and_cancel_is_final(planning: Planning) -> None:
    async with planning.client("manager") as c:
        goal = (await c.post("/v1/goals", json=GOAL)).json()
        url = f"/v1/goals/{goal['id']}"
        assert_problem(await c.patch(url, json={"target": 12000}), 428, "If-Match")
        r = await c.patch(url, json={"target": 12000}, headers={"If-Match": '"1"'})
        assert r.status_code == 200, r.text
        assert r.json()["target"] == 12000 and r.headers["etag"] == '"2"'
        assert_problem(
            await c.patch(url, json={"target": 13000}, headers={"If-Match": '"1"'}), 412, "If-Match"
        )
        assert_problem(
            await c.patch(
                url, json={"period_end": "2026-01-01T00:00:00Z"}, headers={"If-Match": '"2"'}
            ),
            422,
            "period_end",
        )
        updated = await planning.outbox("mediaops.planning.goal.updated", goal["id"])
        assert [e["data"]["target"] for e in updated] == [12000]
        r = await c.post(f"{url}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        updated = await planning.outbox("mediaops.planning.goal.updated", goal["id"])
        assert updated[-1]["data"]["status"] == "cancelled"
        assert_problem(await c.post(f"{url}/cancel"), 409)
        assert_problem(await c.patch(url, json={"target": 1}, headers={"If-Match": '"3"'}), 409)
    async with planning.client("planner") as c:
        assert_problem(await c.patch(url, json={"target": 1}, headers={"If-Match": '"3"'}), 403)


async def test_another_workspaces_goal_is_404(planning: Planning) -> None:
    planning.clock.pinned = datetime(2026, 4, 16, 0, 0, tzinfo=UTC)  # inside the period
    async with planning.client("manager") as c:
        goal = (await c.post("/v1/goals", json=GOAL)).json()
    async with planning.client("manager", workspace="ws-elsewhere") as other:
        url = f"/v1/goals/{goal['id']}"
        assert_problem(await other.get(url), 404)
        assert_problem(await other.patch(url, json={"target": 1}, headers={"If-Match": '"1"'}), 404)
        assert_problem(await other.post(f"{url}/cancel"), 404)
        assert goal["id"] not in [g["id"] for g in (await other.get("/v1/goals")).json()["items"]]
    async with planning.client("manager") as c:
        assert (await c.get(f"/v1/goals/{goal['id']}")).json()["status"] == "active"
