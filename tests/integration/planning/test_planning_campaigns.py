"""Campaigns (活动策划): validation, lifecycle with events, summary, isolation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .support import Planning, assert_problem

pytestmark = pytest.mark.infra

CAMPAIGN = {
    "name": "618 sale",
    "starts_at": "2026-06-01T00:00:00+08:00",
    "ends_at": "2026-06-19T00:00:00+08:00",
    "budget": {"amount": "50000", "currency": "CNY"},
    "theme": "Summer upgrade",
    "mechanics": "Share-to-unlock coupons",
    "resources": [
        {"kind": "kol", "name": "Li", "cost": "30000"},
        {"kind": "paid_ads", "name": "Feed ads", "cost": "25000"},
    ],
    "milestones": [{"id": "teaser", "title": "Teaser", "due_at": "2026-05-28T20:00:00+08:00"}],
    "risks": [{"risk": "Coupon abuse", "likelihood": 4, "impact": 5}],
}


async def test_campaign_lifecycle_summary_and_events(planning: Planning) -> None:
    planning.clock.pinned = datetime(2026, 6, 10, tzinfo=UTC)
    async with planning.client("manager") as c:
        goal = (
            await c.post(
                "/v1/goals",
                json={
                    "name": "618 conversions",
                    "metric": "conversions",
                    "target": 1000,
                    "period_start": "2026-06-01",
                    "period_end": "2026-06-18",
                },
            )
        ).json()
        r = await c.post("/v1/campaigns", json={**CAMPAIGN, "goal_ids": [goal["id"]]})
        assert r.status_code == 201, r.text
        camp = r.json()
        assert camp["status"] == "draft" and camp["budget"] == {
            "amount": "50000.00",
            "currency": "CNY",
        }
        assert camp["risks"][0]["level"] == "critical" and camp["risks"][0]["severity"] == 20
        url = f"/v1/campaigns/{camp['id']}"

        summary = (await c.get(f"{url}/summary")).json()
        assert (
            summary["budget"]["over_budget"] is True
            and summary["budget"]["remaining"] == "-5000.00"
        )
        assert summary["goals"]["total"] == 1 and summary["goals"]["at_risk"] == [goal["id"]]
        assert summary["risks"]["unmitigated_serious"] == ["Coupon abuse"]
        assert summary["milestones"]["overdue"] == ["teaser"]

        # The milestone shows on the calendar.
        cal = (await c.get("/v1/calendar", params={"start": "2026-05-28", "view": "week"})).json()
        assert any(e["kind"] == "milestone" and "Teaser" in e["title"] for e in cal["entries"])

        r = await c.post(f"{url}/launch")
        assert r.status_code == 200 and r.json()["status"] == "live"
        launched = await planning.outbox("mediaops.planning.campaign.launched", camp["id"])
        assert launched[0]["data"]["goal_ids"] == [goal["id"]]
        assert launched[0]["data"]["starts_at"].startswith("2026-05-31T16:00:00")
        r = await c.patch(
            url, json={"theme": "Summer upgrade 2"}, headers={"If-Match": r.headers["etag"]}
        )
        assert r.status_code == 200 and r.json()["theme"] == "Summer upgrade 2"
        assert (await c.post(f"{url}/end")).json()["status"] == "ended"
        ended = await planning.outbox("mediaops.planning.campaign.ended", camp["id"])
        assert ended[0]["data"]["status"] == "ended"
        assert_problem(await c.post(f"{url}/cancel"), 409, "status")
        assert_problem(await c.post(f"{url}/launch"), 409, "status")


async def test_bad_campaigns_and_roles(planning: Planning) -> None:
    async with planning.client("manager") as c:
        bad = {
            "ends_at": ({**CAMPAIGN, "ends_at": "2026-05-01T00:00:00+08:00"}, "ends_at"),
            "currency": (
                {**CAMPAIGN, "budget": {"amount": "1", "currency": "RMB"}},
                "budget.currency",
            ),
            "amount": (
                {**CAMPAIGN, "budget": {"amount": "-1", "currency": "CNY"}},
                "budget.amount",
            ),
            "risk": (
                {**CAMPAIGN, "risks": [{"risk": "x", "likelihood": 7, "impact": 1}]},
                "risks.0.likelihood",
            ),
            "resource": (
                {**CAMPAIGN, "resources": [{"kind": "billboard", "name": "x"}]},
                "resources.0.kind",
            ),
            "goal": (
                {**CAMPAIGN, "goal_ids": ["8d1c5f0e-0000-4000-8000-000000000000"]},
                "goal_ids.0",
            ),
            "naive": ({**CAMPAIGN, "starts_at": "2026-06-01T00:00:00"}, "starts_at"),
        }
        for name, (body, field) in bad.items():
            assert_problem(await c.post("/v1/campaigns", json=body), 422, field), name
        assert (await c.get("/v1/campaigns")).json()["items"] == []
        camp = (await c.post("/v1/campaigns", json=CAMPAIGN)).json()
        url = f"/v1/campaigns/{camp['id']}"
        assert_problem(await c.patch(url, json={"theme": "x"}), 428, "If-Match")
        assert_problem(await c.patch(url, json={"theme": "x"}, headers={"If-Match": '"9"'}), 412)
    async with planning.client("planner") as c:
        assert_problem(await c.post("/v1/campaigns", json=CAMPAIGN), 403)
        assert_problem(await c.post(f"{url}/launch"), 403)
        assert (await c.get(url)).status_code == 200
    async with planning.client("manager", workspace="ws-competitor") as other:
        assert_problem(await other.get(url), 404)
        assert_problem(
            await other.patch(url, json={"theme": "x"}, headers={"If-Match": '"1"'}), 404
        )
        assert_problem(await other.post(f"{url}/launch"), 404)
        assert_problem(await other.get(f"{url}/summary"), 404)
    async with planning.client("manager") as c:
        assert (await c.get(url)).json()["status"] == "draft"
