"""Topics (选题): proposal, review, votes, comments, assignment with capacity, score."""

from __future__ import annotations

import pytest

from .support import Planning, assert_problem

pytestmark = pytest.mark.infra

SLOT = "2026-04-10T20:00:00+08:00"


async def _setup(planning: Planning) -> None:
    async with planning.client("manager") as c:
        r = await c.post("/v1/pillars", json={"name": "tips", "target_share": 0.5})
        assert r.status_code == 201, r.text
        r = await c.post("/v1/pillars", json={"name": "news", "target_share": 0.3})
        assert r.status_code == 201, r.text


async def test_propose_approve_schedules_and_emits(planning: Planning) -> None:
    await _setup(planning)
    async with planning.client("manager") as boss:
        goal = (
            await boss.post(
                "/v1/goals",
                json={
                    "name": "reads",
                    "metric": "reads",
                    "target": 100,
                    "period_start": "2026-04-01",
                    "period_end": "2026-04-30",
                },
            )
        ).json()
    async with planning.client("editor", sub="eve") as editor:
        r = await editor.post(
            "/v1/topics",
            json={
                "title": "Spring travel tips",
                "format": "article",
                "pillar": "tips",
                "goal_id": goal["id"],
                "planned_for": SLOT,
                "channels": ["wechat_mp"],
                "account_ids": ["acc-1"],
                "priority": 4,
                "tags": ["travel"],
            },
        )
        assert r.status_code == 201, r.text
        topic = r.json()
        assert topic["status"] == "idea" and topic["proposed_by"] == "eve"
        assert topic["planned_for"] == "2026-04-10T12:00:00+00:00"
        # Editors propose; they do not approve.
        assert_problem(await editor.post(f"/v1/topics/{topic['id']}/approve"), 403)
    async with planning.client("planner", sub="pat") as planner:
        r = await planner.post(f"/v1/topics/{topic['id']}/approve")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["approved_by"] == "pat"
        assert_problem(await planner.post(f"/v1/topics/{topic['id']}/approve"), 409, "status")
        approved = await planning.outbox("mediaops.planning.topic.approved", topic["id"])
        assert len(approved) == 1
        data = approved[0]["data"]
        assert data["format"] == "article" and data["channels"] == ["wechat_mp"]
        assert data["goal_id"] == goal["id"] and data["planned_for"].startswith("2026-04-10T12:00")
        scheduled = await planning.outbox("mediaops.planning.calendar.entry_scheduled")
        assert len(scheduled) == 1 and scheduled[0]["data"]["topic_id"] == topic["id"]
        assert scheduled[0]["data"]["account_ids"] == ["acc-1"]
        cal = (
            await planner.get("/v1/calendar", params={"start": "2026-04-10", "view": "week"})
        ).json()
        slots = [e for e in cal["entries"] if e["topic_id"] == topic["id"]]
        assert len(slots) == 1 and slots[0]["starts_at"] == "2026-04-10T20:00:00+08:00"
        # Moving planned_for moves the slot (If-Match required) and announces it again.
        r = await planner.patch(
            f"/v1/topics/{topic['id']}",
            json={"planned_for": "2026-04-11T09:00:00+08:00"},
            headers={"If-Match": r.headers["etag"]},
        )
        assert r.status_code == 200, r.text
        scheduled = await planning.outbox("mediaops.planning.calendar.entry_scheduled")
        assert scheduled[-1]["data"]["starts_at"].startswith("2026-04-11T01:00")


async def test_bad_topics_and_dropped_cannot_be_approved(planning: Planning) -> None:
    await _setup(planning)
    async with planning.client("planner") as c:
        body = assert_problem(
            await c.post("/v1/topics", json={"title": "x", "format": "hologram"}), 422, "format"
        )
        assert "short_video" in body["detail"]
        assert_problem(
            await c.post(
                "/v1/topics",
                json={"title": "x", "format": "article", "deadline": "2030-01-01T00:00:00Z"},
            ),
            422,
            "deadline",
        )
        assert_problem(
            await c.post("/v1/topics", json={"title": "x", "format": "article", "pillar": "memes"}),
            422,
            "pillar",
        )
        assert_problem(
            await c.post("/v1/topics", json={"title": "x", "format": "article", "priority": 9}),
            422,
            "priority",
        )
        assert_problem(
            await c.post("/v1/topics", json={"title": "  ", "format": "article"}), 422, "title"
        )
        assert_problem(
            await c.post(
                "/v1/topics", json={"title": "x", "format": "article", "status": "approved"}
            ),
            422,
            "status",
        )
        topic = (await c.post("/v1/topics", json={"title": "Meh", "format": "gif"})).json()
        r = await c.post(f"/v1/topics/{topic['id']}/drop")
        assert r.status_code == 200 and r.json()["status"] == "dropped"
        dropped = await planning.outbox("mediaops.planning.topic.dropped", topic["id"])
        assert len(dropped) == 1 and dropped[0]["data"]["title"] == topic["title"]
        body = assert_problem(await c.post(f"/v1/topics/{topic['id']}/approve"), 409, "status")
        assert body["current_status"] == "dropped"
        assert (await c.get(f"/v1/topics/{topic['id']}")).json()["status"] == "dropped"
        assert await planning.outbox("mediaops.planning.topic.approved", topic["id"]) == []
    async with planning.client("analyst") as c:
        assert_problem(await c.post("/v1/topics", json={"title": "x", "format": "gif"}), 403)
    # A goal of another workspace is not a goal here.
    async with planning.client("manager", workspace="ws-theirs") as them:
        theirs = (
            await them.post(
                "/v1/goals",
                json={
                    "name": "g",
                    "metric": "views",
                    "target": 10,
                    "period_start": "2026-04-01",
                    "period_end": "2026-04-02",
                },
            )
        ).json()
    async with planning.client("planner") as c:
        assert_problem(
            await c.post(
                "/v1/topics", json={"title": "x", "format": "gif", "goal_id": theirs["id"]}
            ),
            422,
            "goal_id",
        )


async def test_votes_comments_score_and_ranking(planning: Planning) -> None:
    await _setup(planning)
    async with planning.client("planner") as c:
        low = (
            await c.post("/v1/topics", json={"title": "Low", "format": "image", "priority": 1})
        ).json()
        high = (
            await c.post(
                "/v1/topics",
                json={"title": "High", "format": "short_video", "pillar": "tips", "priority": 5},
            )
        ).json()
        for sub in ("a", "b", "c"):
            async with planning.client("designer", sub=sub) as voter:
                r = await voter.post(f"/v1/topics/{high['id']}/votes", json={"value": 1})
                assert r.status_code == 200, r.text
        async with planning.client("designer", sub="a") as voter:  # a changes their mind
            r = await voter.post(f"/v1/topics/{high['id']}/votes", json={"value": -1})
            assert r.json() == {"topic_id": high["id"], "up": 2, "down": 1, "net": 1, "mine": -1}
            assert_problem(
                await voter.post(f"/v1/topics/{high['id']}/votes", json={"value": 2}), 422, "value"
            )
            r = await voter.post(
                f"/v1/topics/{high['id']}/comments", json={"body": "Pair with 618?"}
            )
            assert r.status_code == 201 and r.json()["author"] == "a"
        comments = (await c.get(f"/v1/topics/{high['id']}/comments")).json()["items"]
        assert [x["body"] for x in comments] == ["Pair with 618?"]

        score = (await c.get(f"/v1/topics/{high['id']}/score")).json()
        parts = {p["name"]: p for p in score["parts"]}
        assert set(parts) == {"priority", "pillar_gap", "performance", "urgency", "votes"}
        assert (
            parts["priority"]["points"] == 30 and "priority 5 of 5" in parts["priority"]["reason"]
        )
        assert (
            "tips" in parts["pillar_gap"]["reason"]
            and "under-served" in parts["pillar_gap"]["reason"]
        )
        assert parts["votes"]["reason"].startswith("2 for, 1 against")
        assert parts["performance"]["reason"] == "no performance data yet; neutral"
        assert score["total"] == pytest.approx(sum(p["points"] for p in score["parts"]), abs=0.1)

        ranked = (await c.get("/v1/topics", params={"sort": "score", "limit": 1})).json()
        assert ranked["items"][0]["id"] == high["id"] and ranked["next_cursor"]
        rest = (
            await c.get("/v1/topics", params={"sort": "score", "cursor": ranked["next_cursor"]})
        ).json()
        assert [t["id"] for t in rest["items"]] == [low["id"]]
        only = (await c.get("/v1/topics", params={"pillar": "tips"})).json()["items"]
        assert [t["id"] for t in only] == [high["id"]]
        ideas = (await c.get("/v1/topics", params={"status": "idea"})).json()["items"]
        assert {t["id"] for t in ideas} == {low["id"], high["id"]}


async def test_assignment_checks_weekly_capacity(planning: Planning) -> None:
    async with planning.client("manager") as boss:
        r = await boss.post(
            "/v1/members", json={"user_id": "ann", "display_name": "Ann", "capacity_per_week": 1}
        )
        assert r.status_code == 201, r.text
        one = (await boss.post("/v1/topics", json={"title": "One", "format": "article"})).json()
        two = (await boss.post("/v1/topics", json={"title": "Two", "format": "article"})).json()
        due = "2026-04-08T18:00:00+08:00"
        r = await boss.post(
            f"/v1/topics/{one['id']}/assign", json={"member_id": "ann", "due_at": due}
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee"] == "ann" and "full capacity" in r.json()["warning"]
        over = await boss.post(
            f"/v1/topics/{two['id']}/assign",
            json={"member_id": "ann", "due_at": "2026-04-09T10:00:00+08:00"},
        )
        body = assert_problem(over, 409, "member_id")
        assert body["capacity"]["load"] == 2 and body["capacity"]["week_start"] == "2026-04-06"
        assert (await boss.get(f"/v1/topics/{two['id']}")).json()["assignee"] is None
        # Another week is fine; or force it with a warning.
        forced = await boss.post(
            f"/v1/topics/{two['id']}/assign",
            json={"member_id": "ann", "due_at": "2026-04-09T10:00:00+08:00", "force": True},
        )
        assert forced.status_code == 200, forced.text
        assert "over a weekly capacity of 1" in forced.json()["warning"]
        events = await planning.outbox("mediaops.planning.topic.assigned")
        assert [(e["data"]["topic_id"], e["data"]["over_capacity"]) for e in events] == [
            (one["id"], False),
            (two["id"], True),
        ]
        assert_problem(
            await boss.post(
                f"/v1/topics/{one['id']}/assign", json={"member_id": "nobody", "due_at": due}
            ),
            422,
            "member_id",
        )
    async with planning.client("editor") as editor:
        assert_problem(
            await editor.post(
                f"/v1/topics/{one['id']}/assign", json={"member_id": "ann", "due_at": due}
            ),
            403,
        )


async def test_another_workspaces_topic_is_404(planning: Planning) -> None:
    async with planning.client("planner") as c:
        topic = (await c.post("/v1/topics", json={"title": "Ours", "format": "article"})).json()
        etag = '"1"'
    async with planning.client("manager", workspace="ws-intruder") as other:
        url = f"/v1/topics/{topic['id']}"
        assert_problem(await other.get(url), 404)
        assert_problem(await other.patch(url, json={"title": "x"}, headers={"If-Match": etag}), 404)
        assert_problem(await other.post(f"{url}/approve"), 404)
        assert_problem(await other.post(f"{url}/drop"), 404)
        assert_problem(await other.post(f"{url}/votes", json={"value": 1}), 404)
        assert_problem(await other.get(f"{url}/score"), 404)
    async with planning.client("planner") as c:
        r = await c.get(f"/v1/topics/{topic['id']}")
        assert r.json()["status"] == "idea" and r.json()["title"] == "Ours"
        assert_problem(await c.patch(f"/v1/topics/{topic['id']}", json={"title": "y"}), 428)
        assert_problem(
            await c.patch(
                f"/v1/topics/{topic['id']}", json={"title": "y"}, headers={"If-Match": '"7"'}
            ),
            412,
        )
