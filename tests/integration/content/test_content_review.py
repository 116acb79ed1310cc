"""The review workflow through the API: compliance at submit, hash-bound approvals,
separation of duties, the manager stage, overrides, the audit trail and overdue SLAs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.content.reviews_worker import scan_overdue

from .support import Content, assert_problem, create_item, patch_item

APPROVED = "mediaops.content.item.approved"


async def submit(c, item_id: str) -> dict:  # type: ignore[no-untyped-def]
    r = await c.post(f"/v1/items/{item_id}/submit")
    assert r.status_code == 200, r.text
    return r.json()


async def decide(c, item_id: str, decision: str = "approve", **kw):  # type: ignore[no-untyped-def]
    return await c.post(f"/v1/items/{item_id}/reviews", json={"decision": decision, **kw})


async def test_whole_review_flow(content: Content):
    author = content.client(roles="editor,manager", sub="alice")
    reviewer = content.client(roles="reviewer", sub="bob")
    designer = content.client(roles="designer", sub="carol")
    async with author as a, reviewer as b, designer as d:
        item = await create_item(
            a, body="这是今年最佳的选择，欢迎选购。", link="https://example.com/p"
        )
        iid = item["id"]
        weibo = await a.post(f"/v1/items/{iid}/variants", json={"channel": "weibo"})
        assert weibo.status_code == 201 and weibo.json()["problems"] == []
        item = (await a.get(f"/v1/items/{iid}")).json()

        # 1. compliance catches 最佳 in the body and in the Weibo variant: the stage blocks
        out = await submit(a, iid)
        assert out["item"]["status"] == "in_review"
        assert out["review"]["current_stage"] == "compliance"
        assert out["review"]["stages"][0]["state"] == "blocked"
        hits = {(f["field"], f["term"]) for f in out["findings"] if f["severity"] == "block"}
        assert ("body", "最佳") in hits and ("variant:weibo.body", "最佳") in hits
        body_hit = next(f for f in out["findings"] if f["field"] == "body")
        assert item["body"][body_hit["start"] : body_hit["end"]] == "最佳"
        assert body_hit["category"] == "superlative" and body_hit["source"] == "ad_law"
        r = await decide(b, iid)
        assert_problem(r, 409, "stage")
        assert (await content.outbox("mediaops.content.item.submitted", iid))[0]["data"][
            "version"
        ] == item["version"]

        # 2. the author fixes the text: back to draft; resubmit passes compliance
        fixed = await patch_item(a, out["item"], body="这是今年很棒的选择，欢迎选购。")
        assert fixed["status"] == "draft"
        variants = (await a.get(f"/v1/items/{iid}/variants")).json()["items"]
        wv = variants[0]
        r = await a.patch(
            f"/v1/items/{iid}/variants/{wv['id']}",
            json={"body": "这是今年很棒的选择，欢迎选购。https://example.com/p"},
            headers={"If-Match": f'"{wv["version"]}"'},
        )
        assert r.status_code == 200, r.text
        out = await submit(a, iid)
        assert out["review"]["current_stage"] == "review"
        assert [f for f in out["findings"] if f["severity"] == "block"] == []
        current = out["item"]

        # 3. separation of duties and roles
        body = assert_problem(await decide(a, iid), 403)
        assert "own content" in body["detail"]
        assert_problem(await decide(d, iid), 403)
        # a decision on a hash that is not the current one is refused
        r = await decide(b, iid, content_hash=item["content_hash"])
        assert_problem(r, 409, "content_hash")

        # 4. the reviewer approves: not important, no campaign -> approved
        r = await decide(b, iid, comment="好", content_hash=current["content_hash"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"
        approved = (await a.get(f"/v1/items/{iid}")).json()
        assert approved["approved_hash"] == approved["content_hash"] == current["content_hash"]
        assert_problem(await decide(b, iid), 409, "status")

        events = await content.outbox(APPROVED, iid)
        assert len(events) == 1
        data = events[0]["data"]
        assert data["content_hash"] == current["content_hash"]
        assert data["version"] == current["version"]
        assert data["body"] == "这是今年很棒的选择，欢迎选购。"
        assert data["variants"][0]["channel"] == "weibo"
        assert data["variants"][0]["body"] == "这是今年很棒的选择，欢迎选购。https://example.com/p"
        decided = await content.outbox("mediaops.content.review.decided", iid)
        assert decided[-1]["data"]["reviewer"] == "bob"
        assert decided[-1]["data"]["item_status"] == "approved"

        # 5. an edit after approval sends it back, and item.revised voids the approval
        edited = await patch_item(a, approved, title="春季新品（修订）")
        assert edited["status"] == "draft"
        revised = await content.outbox("mediaops.content.item.revised", iid)
        assert len(revised) == 1
        assert revised[0]["data"]["approved_hash"] == current["content_hash"]
        assert revised[0]["data"]["content_hash"] == edited["content_hash"]
        # a scheduling-only change does not touch the approval cycle
        out = await submit(a, iid)
        r = await decide(b, iid)
        assert r.json()["status"] == "approved"
        again = (await a.get(f"/v1/items/{iid}")).json()
        moved = await patch_item(a, again, planned_for="2026-05-01T09:00:00+08:00")
        assert moved["status"] == "approved" and moved["content_hash"] == again["content_hash"]

        # 6. the audit trail has every step with actor, version and hash
        trail = (await a.get(f"/v1/items/{iid}/reviews")).json()["items"]
        kinds = [(x["kind"], x["actor"]) for x in trail]
        assert kinds[:3] == [
            ("submitted", "alice"),
            ("compliance_check", "system:compliance"),
            ("edited", "alice"),
        ]
        assert ("decision", "bob") in kinds and kinds.count(("submitted", "alice")) == 3
        first_check = trail[1]
        assert first_check["details"]["blocking"] == 2
        assert first_check["content_hash"] == item["content_hash"]
        decision = next(x for x in trail if x["kind"] == "decision")
        assert decision["comment"] == "好" and decision["version"] == current["version"]
        assert decision["status_after"] == "approved" and "reviewer" in decision["actor_roles"]


async def test_important_item_needs_a_manager_after_the_reviewer(content: Content):
    async with (
        content.client(sub="alice") as a,
        content.client(roles="reviewer", sub="bob") as b,
        content.client(roles="reviewer", sub="erin") as e,
        content.client(roles="manager", sub="mia") as m,
    ):
        item = await create_item(a, important=True)
        out = await submit(a, item["id"])
        assert [s["stage"] for s in out["review"]["stages"]] == ["compliance", "review", "manager"]
        r = await decide(b, item["id"], comment="文字没问题")
        assert r.json()["status"] == "in_review"
        assert r.json()["item"]["review"]["stage"] == "manager"
        assert_problem(await decide(e, item["id"]), 403)  # a reviewer is not a manager
        r = await decide(m, item["id"])
        assert r.json()["status"] == "approved"
        assert len(await content.outbox(APPROVED, item["id"])) == 1

        campaign = await create_item(a, campaign_id="camp-9")
        await submit(a, campaign["id"])
        r = await decide(m, campaign["id"])  # the manager approves the review stage...
        assert r.json()["item"]["review"]["stage"] == "manager"  # ...and then the manager one
        r = await decide(m, campaign["id"])
        assert r.json()["status"] == "approved"


async def test_request_changes_then_reject_is_final(content: Content):
    async with content.client(sub="alice") as a, content.client(roles="reviewer", sub="bob") as b:
        item = await create_item(a)
        await submit(a, item["id"])
        r = await decide(
            b,
            item["id"],
            "request_changes",
            comment="标题太长",
            anchor={"field": "title", "start": 0, "end": 2},
        )
        assert r.json()["status"] == "changes_requested"
        ev = await content.outbox("mediaops.content.item.changes_requested", item["id"])
        assert ev[0]["data"]["comment"] == "标题太长"
        assert ev[0]["data"]["anchor"] == {"field": "title", "start": 0, "end": 2}
        # resubmitting starts a new round: the old request no longer counts
        out = await submit(a, item["id"])
        assert out["review"]["current_stage"] == "review"
        r = await decide(b, item["id"], "approve", anchor={"field": "nope", "start": 0, "end": 1})
        assert_problem(r, 422, "anchor.field")
        r = await decide(b, item["id"], "approve", anchor={"field": "title", "start": 0, "end": 99})
        assert_problem(r, 422, "anchor.end")
        r = await decide(b, item["id"], "reject", comment="不做了")
        assert r.json()["status"] == "rejected"
        assert len(await content.outbox("mediaops.content.item.rejected", item["id"])) == 1
        cur = (await a.get(f"/v1/items/{item['id']}")).json()
        r = await a.patch(
            f"/v1/items/{item['id']}",
            json={"title": "x"},
            headers={"If-Match": f'"{cur["version"]}"'},
        )
        assert_problem(r, 409, "status")


async def test_manager_override_of_a_blocking_finding_is_audited(content: Content):
    async with (
        content.client(roles="editor,manager", sub="alice") as a,
        content.client(roles="reviewer", sub="bob") as b,
        content.client(roles="manager", sub="mia") as m,
    ):
        item = await create_item(a, body="国家级非遗传承人亲自制作。")
        out = await submit(a, item["id"])
        assert out["review"]["stages"][0]["state"] == "blocked"
        url = f"/v1/items/{item['id']}/compliance/override"
        assert_problem(await b.post(url, json={"reason": "不是广告"}), 403)  # not a manager
        assert_problem(await a.post(url, json={"reason": "我说可以"}), 403)  # the author
        assert_problem(await m.post(url, json={}), 422, "reason")
        r = await m.post(url, json={"reason": "“国家级非遗”是官方认定称号，法务已确认"})
        assert r.status_code == 200, r.text
        assert r.json()["item"]["review"]["stage"] == "review"
        assert_problem(await m.post(url, json={"reason": "again"}), 409)  # nothing blocked now
        ev = await content.outbox("mediaops.content.compliance.overridden", item["id"])
        assert ev[0]["data"]["by"] == "mia" and ev[0]["data"]["terms"] == ["国家级"]
        r = await decide(b, item["id"])
        assert r.json()["status"] == "approved"
        trail = (await a.get(f"/v1/items/{item['id']}/reviews")).json()["items"]
        ov = next(x for x in trail if x["kind"] == "override")
        assert ov["actor"] == "mia" and "法务已确认" in ov["comment"]
        assert ov["content_hash"] == item["content_hash"]


async def test_configured_workflow_with_two_approvals(content: Content):
    async with (
        content.client(roles="manager", sub="mia") as m,
        content.client(sub="alice") as a,
        content.client(roles="reviewer", sub="bob") as b,
        content.client(roles="reviewer", sub="erin") as e,
    ):
        bad = {"stages": [{"key": "review", "required_roles": ["wizard"]}]}
        assert_problem(
            await m.put("/v1/settings/workflow", json=bad), 422, "stages[0].required_roles"
        )
        dup = {"stages": [{"key": "a"}, {"key": "a"}]}
        assert_problem(await m.put("/v1/settings/workflow", json=dup), 422, "stages")
        flow = {
            "stages": [
                {"key": "compliance", "kind": "compliance", "sla_hours": 1},
                {"key": "peer", "required_roles": ["reviewer"], "mode": "n", "n": 2},
            ]
        }
        r = await m.put("/v1/settings/workflow", json=flow)
        assert r.status_code == 200, r.text
        assert [s["key"] for s in r.json()["stages"]] == ["compliance", "peer"]
        assert (await m.get("/v1/settings/workflow")).json()["stages"][1]["n"] == 2
        item = await create_item(a)
        await submit(a, item["id"])
        r = await decide(b, item["id"])
        assert r.json()["status"] == "in_review"
        assert r.json()["review"]["stages"][1]["approvals"] == ["bob"]
        r = await decide(e, item["id"])
        assert r.json()["status"] == "approved"


async def test_overdue_reviews_are_listed_and_announced_once(content: Content):
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    content.clock.pinned = t0
    async with content.client(sub="alice") as a:
        item = await create_item(a)
        await submit(a, item["id"])
        assert (await a.get("/v1/reviews/overdue")).json()["items"] == []
        content.clock.pinned = t0 + timedelta(hours=25)
        listed = (await a.get("/v1/reviews/overdue")).json()["items"]
        assert [x["item_id"] for x in listed] == [item["id"]]
        assert listed[0]["stage"] == "review" and listed[0]["overdue_by_s"] == 3600.0
    assert await scan_overdue(content.ctx) >= 1
    assert await scan_overdue(content.ctx) == 0
    events = await content.outbox("mediaops.content.review.overdue", item["id"])
    assert len(events) == 1
    assert events[0]["data"]["stage"] == "review" and events[0]["data"]["sla_hours"] == 24
