"""Strategy CRUD: pillars (shares), personas, competitors, partners."""

from __future__ import annotations

import pytest

from .support import Planning, assert_problem

pytestmark = pytest.mark.infra


async def test_pillars_shares_add_up_to_at_most_one(planning: Planning) -> None:
    async with planning.client("planner") as c:
        a = await c.post("/v1/pillars", json={"name": "tips", "target_share": 0.6})
        assert a.status_code == 201, a.text
        body = assert_problem(
            await c.post("/v1/pillars", json={"name": "news", "target_share": 0.5}),
            422,
            "target_share",
        )
        assert "110%" in body["detail"]
        assert_problem(
            await c.post("/v1/pillars", json={"name": "TIPS", "target_share": 0.1}), 409, "name"
        )
        assert_problem(
            await c.post("/v1/pillars", json={"name": "x", "target_share": 1.5}),
            422,
            "target_share",
        )
        b = (await c.post("/v1/pillars", json={"name": "news", "target_share": 0.4})).json()
        url = f"/v1/pillars/{b['id']}"
        assert_problem(await c.patch(url, json={"target_share": 0.5}), 422, "target_share")
        r = await c.patch(url, json={"name": "industry news"}, headers={"If-Match": '"1"'})
        assert r.status_code == 200 and r.json()["name"] == "industry news"
        listed = (await c.get("/v1/pillars")).json()["items"]
        assert [(p["name"], p["target_share"], p["actual_share"]) for p in listed] == [
            ("industry news", 0.4, 0.0),
            ("tips", 0.6, 0.0),
        ]
        assert (await c.delete(url)).status_code == 204
        assert_problem(await c.get(url), 404)
    async with planning.client("editor") as c:
        assert_problem(await c.post("/v1/pillars", json={"name": "y", "target_share": 0.1}), 403)
        assert (await c.get("/v1/pillars")).status_code == 200


async def test_personas_competitors_partners(planning: Planning) -> None:
    async with planning.client("manager") as c:
        p = await c.post(
            "/v1/personas",
            json={"name": "Young pro", "interests": ["career"], "active_hours": [21, 8, 8]},
        )
        assert p.status_code == 201, p.text and p.json()["active_hours"] == [8, 21]
        assert_problem(
            await c.post("/v1/personas", json={"name": "Owl", "active_hours": [25]}),
            422,
            "active_hours",
        )
        url = f"/v1/personas/{p.json()['id']}"
        r = await c.patch(url, json={"preferred_channels": ["weibo"]})
        assert r.status_code == 200 and r.json()["preferred_channels"] == ["weibo"]
        assert_problem(await c.patch(url, json={"active_hours": [-1]}), 422, "active_hours")
        assert_problem(await c.patch(url, json={"name": None}), 422, "name")

        comp = await c.post(
            "/v1/competitors",
            json={
                "name": "Rival",
                "accounts": [{"channel": "weibo", "handle": "rival"}],
                "notes": "daily",
            },
        )
        assert comp.status_code == 201 and comp.json()["accounts"][0]["handle"] == "rival"
        assert_problem(
            await c.post("/v1/competitors", json={"name": "R", "accounts": [{"channel": "weibo"}]}),
            422,
            "accounts.0.handle",
        )

        kol = await c.post(
            "/v1/partners",
            json={
                "name": "Li",
                "kind": "kol",
                "audience": 850000,
                "rate": {"amount": "12000.50", "currency": "cny"},
                "contact": "agent@example.com",
            },
        )
        assert kol.status_code == 201, kol.text
        assert kol.json()["rate"] == {"amount": "12000.5", "currency": "CNY"}
        assert_problem(
            await c.post(
                "/v1/partners",
                json={"name": "X", "kind": "kol", "rate": {"amount": "1", "currency": "ABC"}},
            ),
            422,
            "rate.currency",
        )
        assert_problem(
            await c.post(
                "/v1/partners",
                json={"name": "X", "kind": "kol", "rate": {"amount": "-1", "currency": "CNY"}},
            ),
            422,
            "rate.amount",
        )
        assert_problem(
            await c.post(
                "/v1/partners",
                json={"name": "X", "kind": "kol", "rate": {"amount": "1.5", "currency": "JPY"}},
            ),
            422,
            "rate.amount",
        )
        assert_problem(await c.post("/v1/partners", json={"name": "X", "kind": "cat"}), 422, "kind")
        purl = f"/v1/partners/{kol.json()['id']}"
        r = await c.patch(
            purl, json={"rate": None, "audience": 900000}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 200 and r.json()["rate"] is None and r.json()["audience"] == 900000
        assert_problem(await c.patch(purl, json={"notes": "x"}, headers={"If-Match": '"1"'}), 412)
        listed = (await c.get("/v1/partners")).json()
        assert [x["name"] for x in listed["items"]] == ["Li"]
    async with planning.client("manager", workspace="ws-spy") as spy:
        assert_problem(await spy.get(url), 404)
        assert_problem(await spy.patch(purl, json={"notes": "mine"}), 404)
        assert (await spy.get("/v1/competitors")).json()["items"] == []
