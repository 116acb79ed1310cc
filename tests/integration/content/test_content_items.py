"""Items, versions and diffs, If-Match, tasks, isolation and roles, through the API."""

from __future__ import annotations

from .support import Content, assert_problem, create_item, patch_item


async def test_create_item_is_a_draft_at_version_1_with_tasks_and_event(content: Content):
    async with content.client(sub="alice") as c:
        r = await c.post(
            "/v1/items",
            json={
                "title": "短视频：新品开箱",
                "format": "short_video",
                "body": "开箱视频脚本见下。",
                "tags": ["#新品", "开箱", "开箱"],
                "important": True,
                "title_alternatives": ["三分钟开箱新品"],
                "script": {
                    "scenes": [
                        {
                            "title": "开场",
                            "shots": [{"description": "产品特写", "duration_s": 3}],
                        }
                    ]
                },
            },
        )
        assert r.status_code == 201, r.text
        item = r.json()
        assert r.headers["etag"] == '"1"'
        assert item["status"] == "draft" and item["version"] == 1
        assert item["owner"] == "alice" and item["important"] is True
        assert item["tags"] == ["新品", "开箱"]
        assert len(item["content_hash"]) == 64
        assert item["script"]["scenes"][0]["shots"][0]["duration_s"] == 3
        tasks = (await c.get(f"/v1/items/{item['id']}/tasks")).json()["items"]
        assert [t["role"] for t in tasks] == ["brief", "video_script", "shoot", "edit"]
        assert all(t["status"] == "todo" for t in tasks)
        got = await c.get(f"/v1/items/{item['id']}")
        assert got.json()["content_hash"] == item["content_hash"]
    events = await content.outbox("mediaops.content.item.created", item["id"])
    assert len(events) == 1
    assert events[0]["data"]["version"] == 1 and events[0]["data"]["owner"] == "alice"


async def test_bad_input_is_422_naming_the_field(content: Content):
    async with content.client() as c:
        r = await c.post("/v1/items", json={"title": "x", "format": "novel"})
        assert_problem(r, 422, "format")
        r = await c.post(
            "/v1/items", json={"title": "x", "format": "article", "status": "approved"}
        )
        assert_problem(r, 422, "status")
        r = await c.post(
            "/v1/items",
            json={
                "title": "x",
                "format": "article",
                "asset_ids": ["00000000-0000-0000-0000-000000000001"],
            },
        )
        assert_problem(r, 422, "asset_ids")


async def test_patch_needs_if_match_and_makes_immutable_versions_with_diff(content: Content):
    async with content.client() as c:
        item = await create_item(c, body="第一句。第二句。第三句。")
        url = f"/v1/items/{item['id']}"
        assert_problem(await c.patch(url, json={"title": "新标题"}), 428, "If-Match")
        r = await c.patch(url, json={"title": "新标题"}, headers={"If-Match": '"7"'})
        body = assert_problem(r, 412, "If-Match")
        assert body["current_etag"] == '"1"'

        v2 = await patch_item(c, item, title="新标题")
        assert v2["version"] == 2 and v2["content_hash"] != item["content_hash"]
        v3 = await patch_item(c, v2, body="第一句。第二句改了。第三句。", pillar="产品")
        assert v3["version"] == 3
        # stale tag after someone else's save
        r = await c.patch(url, json={"title": "x"}, headers={"If-Match": '"2"'})
        assert_problem(r, 412)

        versions = (await c.get(f"{url}/versions")).json()["items"]
        assert [v["number"] for v in versions] == [1, 2, 3]
        assert versions[0]["change"] == "created"
        assert "title" in versions[1]["change"]
        assert versions[2]["content_hash"] == v3["content_hash"]
        page = await c.get(f"{url}/versions", params={"limit": 2})
        assert len(page.json()["items"]) == 2 and page.json()["next_cursor"] == "2"
        rest = await c.get(f"{url}/versions", params={"cursor": "2"})
        assert [v["number"] for v in rest.json()["items"]] == [3]

        one = (await c.get(f"{url}/versions/1")).json()
        assert one["fields"]["title"] == "春季新品上市"
        assert one["fields"]["body"] == "第一句。第二句。第三句。"
        assert_problem(await c.get(f"{url}/versions/9"), 404, "number")

        d = (await c.get(f"{url}/diff", params={"from": 1, "to": 3})).json()
        by_field = {f["field"]: f for f in d["fields"]}
        assert set(by_field) == {"title", "body"}
        assert by_field["title"]["old"] == "春季新品上市"
        assert by_field["title"]["new"] == "新标题"
        assert "{+改了+}" in by_field["body"]["inline"]
        assert by_field["body"]["chars_added"] == 2
        assert d["from_hash"] == item["content_hash"] and d["to_hash"] == v3["content_hash"]


async def test_list_filters_and_cursor(content: Content):
    async with content.client() as c:
        a = await create_item(c, title="A", format="article", tags=["x"])
        b = await create_item(c, title="B", format="poster", campaign_id="camp-1")
        c3 = await create_item(c, title="C", format="article", important=True)
        ids = lambda r: [i["id"] for i in r.json()["items"]]  # noqa: E731
        assert ids(await c.get("/v1/items", params={"format": "article"})) == [a["id"], c3["id"]]
        assert ids(await c.get("/v1/items", params={"campaign_id": "camp-1"})) == [b["id"]]
        assert ids(await c.get("/v1/items", params={"important": "true"})) == [c3["id"]]
        assert ids(await c.get("/v1/items", params={"tag": "x"})) == [a["id"]]
        first = await c.get("/v1/items", params={"limit": 2})
        assert ids(first) == [a["id"], b["id"]]
        second = await c.get("/v1/items", params={"cursor": first.json()["next_cursor"]})
        assert ids(second) == [c3["id"]]


async def test_tasks_crud_with_if_match(content: Content):
    async with content.client() as c:
        item = await create_item(c, format="image")
        url = f"/v1/items/{item['id']}/tasks"
        r = await c.post(
            url,
            json={"role": "layout", "assignee": "dana", "due_at": "2026-03-02T10:00:00+08:00"},
        )
        assert r.status_code == 201, r.text
        task = r.json()
        assert task["due_at"] == "2026-03-02T02:00:00+00:00" and task["status"] == "todo"
        assert_problem(await c.post(url, json={"role": "cook"}), 422, "role")
        turl = f"{url}/{task['id']}"
        assert_problem(await c.patch(turl, json={"status": "done"}), 428)
        r = await c.patch(turl, json={"status": "doing"}, headers={"If-Match": '"1"'})
        assert r.json()["status"] == "doing" and r.headers["etag"] == '"2"'
        assert (await c.delete(turl)).status_code == 204
        roles = [x["role"] for x in (await c.get(url)).json()["items"]]
        assert roles == ["brief", "design"]


async def test_other_workspace_gets_404_and_changes_nothing(content: Content):
    async with content.client() as mine:
        item = await create_item(mine)
    async with content.client(workspace="ws-intruder", roles="manager") as other:
        iid = item["id"]
        assert_problem(await other.get(f"/v1/items/{iid}"), 404)
        r = await other.patch(f"/v1/items/{iid}", json={"title": "x"}, headers={"If-Match": '"1"'})
        assert_problem(r, 404)
        assert_problem(await other.get(f"/v1/items/{iid}/versions"), 404)
        assert_problem(await other.get(f"/v1/items/{iid}/tasks"), 404)
        assert_problem(await other.post(f"/v1/items/{iid}/submit"), 404)
        r = await other.post(f"/v1/items/{iid}/reviews", json={"decision": "approve"})
        assert_problem(r, 404)
        r = await other.post(f"/v1/items/{iid}/variants", json={"channel": "weibo"})
        assert_problem(r, 404)
        assert (await other.get("/v1/items")).json()["items"] == []
    async with content.client() as mine:
        assert (await mine.get(f"/v1/items/{item['id']}")).json()["version"] == 1


async def test_roles(content: Content):
    async with content.client(roles="analyst") as c:
        r = await c.post("/v1/items", json={"title": "x", "format": "article"})
        assert_problem(r, 403)
    async with content.client(roles="editor") as c:
        assert_problem(await c.put("/v1/settings", json={}), 403)
        r = await c.post("/v1/compliance/lists", json={"name": "x"})
        assert_problem(r, 403)
    async with content.client(roles="reviewer") as c:
        r = await c.post("/v1/items", json={"title": "x", "format": "article"})
        assert_problem(r, 403)


async def test_idempotency_key_replays_the_create(content: Content):
    async with content.client() as c:
        body = {"title": "once", "format": "article"}
        h = {"Idempotency-Key": "k-1"}
        r1 = await c.post("/v1/items", json=body, headers=h)
        r2 = await c.post("/v1/items", json=body, headers=h)
        assert r1.status_code == r2.status_code == 201
        assert r1.json()["id"] == r2.json()["id"]
        assert len((await c.get("/v1/items")).json()["items"]) == 1
