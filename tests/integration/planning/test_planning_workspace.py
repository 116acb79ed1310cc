"""Workspace settings (defaults on first use, time zone, blackouts) and the team."""

from __future__ import annotations

import pytest

from .support import Planning, assert_problem

pytestmark = pytest.mark.infra


async def test_workspace_defaults_then_settings_change(planning: Planning) -> None:
    async with planning.client("analyst") as c:
        r = await c.get("/v1/workspace")
        assert r.status_code == 200, r.text
        ws = r.json()
        assert ws["id"] == planning.workspace and ws["name"] == planning.workspace
        assert ws["timezone"] == "Asia/Shanghai" and ws["blackout_dates"] == []
        assert ws["calendar_feed_path"].startswith("/v1/calendar/feeds/")
        assert r.headers["etag"] == '"1"'
        # Reading is for everyone; changing settings is a manager's.
        assert_problem(await c.put("/v1/workspace", json={"name": "x"}), 403)
    async with planning.client("manager") as c:
        r = await c.put(
            "/v1/workspace",
            json={
                "name": "Brand HQ",
                "timezone": "Europe/Berlin",
                "blackout_dates": [{"first_day": "2026-06-04", "reason": "quiet"}],
            },
            headers={"If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["name"] == "Brand HQ" and body["timezone"] == "Europe/Berlin"
        assert body["blackout_dates"] == [
            {
                "first_day": "2026-06-04",
                "last_day": "2026-06-04",
                "reason": "quiet",
                "account_ids": [],
            }
        ]
        assert body["version"] == 2
        bad = await c.put("/v1/workspace", json={"timezone": "Mars/Olympus"})
        assert "Mars/Olympus" in assert_problem(bad, 422, "timezone")["detail"]
        assert_problem(
            await c.put("/v1/workspace", json={"name": "y"}, headers={"If-Match": '"1"'}),
            412,
            "If-Match",
        )
        bad = await c.put(
            "/v1/workspace",
            json={"blackout_dates": [{"first_day": "2026-06-04", "last_day": "2026-06-01"}]},
        )
        assert_problem(bad, 422, "blackout_dates.0.last_day")
        assert_problem(await c.put("/v1/workspace", json={"owner": "me"}), 422, "owner")
        # Nothing of the refused writes stuck.
        assert (await c.get("/v1/workspace")).json()["timezone"] == "Europe/Berlin"


async def test_members_roles_capacity_skills(planning: Planning) -> None:
    async with planning.client("planner,editor", sub="bob") as bob:
        # Anyone joins themselves: user id = the token's sub, roles from the token.
        r = await bob.post("/v1/members", json={"display_name": "Bob", "capacity_per_week": 3})
        assert r.status_code == 201, r.text
        assert r.json()["user_id"] == "bob" and r.json()["roles"] == ["editor", "planner"]
        assert_problem(
            await bob.post("/v1/members", json={"user_id": "carol", "display_name": "C"}),
            403,
            "user_id",
        )
        assert_problem(
            await bob.post("/v1/members", json={"display_name": "Bob", "roles": ["manager"]}),
            403,
            "roles",
        )
        assert_problem(await bob.post("/v1/members", json={"display_name": "Bob"}), 409, "user_id")
    async with planning.client("manager") as boss:
        r = await boss.post(
            "/v1/members",
            json={
                "user_id": "carol",
                "display_name": "Carol",
                "roles": ["designer", "video"],
                "capacity_per_week": 2,
                "skills": ["posters"],
            },
        )
        assert r.status_code == 201, r.text
        assert_problem(
            await boss.post(
                "/v1/members", json={"user_id": "d", "display_name": "D", "roles": ["boss"]}
            ),
            422,
            "roles",
        )
        assert_problem(
            await boss.post("/v1/members", json={"display_name": "x", "capacity_per_week": -1}),
            422,
            "capacity_per_week",
        )
        r = await boss.patch("/v1/members/carol", json={"capacity_per_week": 4})
        assert r.status_code == 200 and r.json()["capacity_per_week"] == 4
        listed = (await boss.get("/v1/members", params={"limit": 1})).json()
        assert len(listed["items"]) == 1 and listed["next_cursor"]
        rest = (await boss.get("/v1/members", params={"cursor": listed["next_cursor"]})).json()
        ids = {m["user_id"] for m in listed["items"] + rest["items"]}
        assert ids == {"bob", "carol"}
    async with planning.client("editor", sub="bob") as bob:
        assert (await bob.patch("/v1/members/bob", json={"skills": ["video"]})).status_code == 200
        assert_problem(await bob.patch("/v1/members/carol", json={"skills": []}), 403)
    async with planning.client("manager", workspace="ws-other-team") as other:
        assert_problem(await other.get("/v1/members/carol"), 404)
