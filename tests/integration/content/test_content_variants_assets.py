"""Channel variants (platform rules in each platform's unit), submit 422 listing every
problem, compliance lists and brand terms, and asset uploads (413, 415, dedupe)."""

from __future__ import annotations

from .support import Content, assert_problem, create_item, png_bytes


def files_under(root) -> list:  # type: ignore[no-untyped-def]
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_variants_report_platform_problems_in_their_own_units(content: Content):
    async with content.client() as c:
        item = await create_item(c, link="https://example.com/a", tags=["新品"])
        url = f"/v1/items/{item['id']}/variants"
        long_cn = "新" * 141 + " https://example.com/a"  # 141 full-width = 141 Weibo units
        r = await c.post(url, json={"channel": "weibo", "body": long_cn})
        assert r.status_code == 201, r.text
        codes = {p["code"]: p for p in r.json()["problems"]}
        assert "body_too_long" in codes and codes["body_too_long"]["actual"] > 140
        # X weighs CJK as 2: 141 CJK characters = 282 > 280
        r = await c.post(url, json={"channel": "x", "body": "新" * 141})
        x = r.json()
        assert [p["code"] for p in x["problems"]] == ["body_too_long"]
        assert x["problems"][0]["actual"] == 282 and x["problems"][0]["limit"] == 280
        # the same length in Latin letters fits X
        xid = x["id"]
        r = await c.patch(
            f"{url}/{xid}", json={"body": "a" * 141}, headers={"If-Match": f'"{x["version"]}"'}
        )
        assert r.status_code == 200 and r.json()["problems"] == []
        assert_problem(await c.post(url, json={"channel": "x"}), 409, "channel")
        assert_problem(await c.post(url, json={"channel": "myspace"}), 422, "channel")

        # drafting several channels from the master
        r = await c.post(f"{url}/draft", params={"channels": "mastodon,bluesky,x"})
        assert r.status_code == 201, r.text
        drafted = r.json()
        assert [v["channel"] for v in drafted["items"]] == ["mastodon", "bluesky"]
        assert drafted["skipped"] == ["x"]
        masto = drafted["items"][0]
        assert masto["problems"] == [] and "#新品" in masto["body"]
        listed = (await c.get(url)).json()["items"]
        assert sorted(v["channel"] for v in listed) == ["bluesky", "mastodon", "weibo", "x"]
        # each variant change is a new item version whose hash covers the variant text
        versions = (await c.get(f"/v1/items/{item['id']}/versions")).json()["items"]
        assert len(versions) == 5
        assert len({v["content_hash"] for v in versions}) == 5
        d = await c.get(f"/v1/items/{item['id']}/diff", params={"from": 3, "to": 4})
        assert [f["field"] for f in d.json()["fields"]] == ["variant:x.body"]
        assert (await c.delete(f"{url}/{xid}")).status_code == 204
        assert_problem(await c.get(f"{url}/{xid}"), 404)


async def test_weibo_text_without_the_required_link_gets_it_appended(content: Content):
    async with content.client() as c:
        item = await create_item(c, link="https://example.com/spring")
        r = await c.post(
            f"/v1/items/{item['id']}/variants", json={"channel": "weibo", "body": "春季新品上市"}
        )
        assert r.status_code == 201, r.text
        v = r.json()
        assert v["body"] == "春季新品上市 https://example.com/spring"
        assert v["problems"] == []
        assert any("appended" in n for n in v["notes"])


async def test_submit_lists_every_problem_and_changes_nothing(content: Content):
    async with content.client(roles="manager", sub="mia") as m:
        r = await m.put("/v1/settings", json={"require_tasks_done_before_submit": True})
        assert r.status_code == 200 and r.json()["require_tasks_done_before_submit"] is True
    async with content.client(sub="alice") as c:
        item = await create_item(c, format="image")
        url = f"/v1/items/{item['id']}"
        await c.post(f"{url}/variants", json={"channel": "weibo", "body": "新" * 150})
        await c.post(f"{url}/variants", json={"channel": "x", "body": "新" * 150})
        body = assert_problem(await c.post(f"{url}/submit"), 422)
        errs = body["errors"]
        variant_codes = {(e["channel"], e["code"]) for e in errs if e["source"] == "variant"}
        assert ("weibo", "body_too_long") in variant_codes
        assert ("weibo", "body_url_required") in variant_codes
        assert ("x", "body_too_long") in variant_codes
        tasks = [e for e in errs if e["source"] == "task"]
        assert sorted(t["role"] for t in tasks) == ["brief", "design"]
        cur = (await c.get(url)).json()
        assert cur["status"] == "draft"
        assert await content.outbox("mediaops.content.item.submitted", item["id"]) == []

        # finish the tasks, drop the bad variants: the submit goes through
        for t in (await c.get(f"{url}/tasks")).json()["items"]:
            r = await c.patch(
                f"{url}/tasks/{t['id']}", json={"status": "done"}, headers={"If-Match": '"1"'}
            )
            assert r.status_code == 200
        for v in (await c.get(f"{url}/variants")).json()["items"]:
            await c.delete(f"{url}/variants/{v['id']}")
        r = await c.post(f"{url}/submit")
        assert r.status_code == 200, r.text
        assert r.json()["item"]["status"] == "in_review"


async def test_compliance_check_lists_and_brand_terms(content: Content):
    async with content.client(roles="manager", sub="mia") as m:
        r = await m.post("/v1/compliance/check", json={"text": "这是最 佳选择，全网最低价！"})
        found = r.json()["findings"]
        assert [(f["term"], f["severity"], f["start"], f["end"]) for f in found] == [
            ("最佳", "block", 2, 5),
            ("全网最低价", "warn", 8, 13),
        ]
        assert found[0]["category"] == "superlative" and found[0]["source"] == "ad_law"
        assert (await m.post("/v1/compliance/check", json={"text": "竞品甲很好"})).json()[
            "findings"
        ] == []
        r = await m.post(
            "/v1/compliance/lists",
            json={
                "name": "competitors",
                "terms": [{"term": "竞品甲", "category": "competitor", "severity": "warn"}],
            },
        )
        assert r.status_code == 201, r.text
        lst = r.json()
        f = (await m.post("/v1/compliance/check", json={"text": "竞品甲很好"})).json()["findings"]
        assert [(x["term"], x["category"], x["source"]) for x in f] == [
            ("竞品甲", "competitor", "workspace")
        ]
        assert_problem(await m.post("/v1/compliance/lists", json={"name": "competitors"}), 409)
        r = await m.patch(
            f"/v1/compliance/lists/{lst['id']}",
            json={"enabled": False},
            headers={"If-Match": '"1"'},
        )
        assert r.status_code == 200
        assert (await m.post("/v1/compliance/check", json={"text": "竞品甲"})).json()[
            "findings"
        ] == []
        r = await m.put(
            "/v1/settings",
            json={
                "brand_terms": [{"correct": "WeChat", "wrong_spellings": ["威信"]}],
                "allow_phrases": ["最佳实践"],
            },
        )
        assert r.status_code == 200, r.text
        f = (
            await m.post(
                "/v1/compliance/check", json={"text": "关注Wechat和威信，WeChat，最佳实践"}
            )
        ).json()["findings"]
        assert [(x["matched_text"], x["suggestion"]) for x in f] == [
            ("Wechat", "WeChat"),
            ("威信", "WeChat"),
        ]
        r = await m.post("/v1/compliance/check", json={"text": "新" * 141, "channel": "x"})
        assert [(p["code"], p["actual"]) for p in r.json()["problems"]] == [("body_too_long", 282)]
    async with content.client(workspace="ws-other", roles="manager") as other:
        f = (await other.post("/v1/compliance/check", json={"text": "威信"})).json()["findings"]
        assert f == []  # another workspace's brand list does not apply
        assert_problem(await other.get(f"/v1/compliance/lists/{lst['id']}"), 404)


async def test_upload_sniffs_dedupes_and_reads_dimensions(content: Content):
    async with content.client() as c:
        png = png_bytes(40, 30, b"a")
        r = await c.post("/v1/assets", files={"file": ("cover.bin", png, "application/x-whatever")})
        assert r.status_code == 201, r.text
        a = r.json()
        assert (a["mime"], a["kind"], a["width"], a["height"]) == ("image/png", "image", 40, 30)
        assert a["size_bytes"] == len(png) and a["deduplicated"] is False
        r2 = await c.post("/v1/assets", files={"file": ("again.png", png, "image/png")})
        assert r2.status_code == 200 and r2.json()["id"] == a["id"]
        assert r2.json()["deduplicated"] is True
        assert len(files_under(content.storage)) == 1
        got = await c.get(f"/v1/assets/{a['id']}/content")
        assert got.status_code == 200 and got.content == png
        assert got.headers["content-type"] == "image/png"

        # a text file named .png is refused and leaves nothing behind
        r = await c.post(
            "/v1/assets", files={"file": ("evil.png", b"hello, not a png", "image/png")}
        )
        assert_problem(r, 415, "file")
        # over the limit (200 kB in these tests): 413 and no partial file
        big = b"\x89PNG\r\n\x1a\n" + b"\0" * 250_000
        r = await c.post("/v1/assets", files={"file": ("big.png", big, "image/png")})
        assert_problem(r, 413, "file")
        assert len(files_under(content.storage)) == 1

        # the asset becomes the item's cover, with its facts, for the adapter and rules
        item = await create_item(c, cover_asset_id=a["id"])
        assert item["media"] == [
            {
                "asset_id": a["id"],
                "kind": "image",
                "mime": "image/png",
                "size_bytes": len(png),
                "width": 40,
                "height": 30,
                "role": "cover",
            }
        ]
    async with content.client(workspace="ws-other") as other:
        assert_problem(await other.get(f"/v1/assets/{a['id']}"), 404)
        assert_problem(await other.get(f"/v1/assets/{a['id']}/content"), 404)
        # the same bytes in another workspace are another asset
        r = await other.post("/v1/assets", files={"file": ("c.png", png, "image/png")})
        assert r.status_code == 201 and r.json()["id"] != a["id"]


async def test_upload_over_the_limit_without_content_length_leaves_nothing(content: Content):
    async with content.client() as c:

        async def chunks():  # type: ignore[no-untyped-def]
            yield b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            yield b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
            for _ in range(30):
                yield b"\0" * 10_000
            yield b"\r\n--XyZ--\r\n"

        r = await c.post(
            "/v1/assets",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert_problem(r, 413)
        assert files_under(content.storage) == []
        r = await c.post("/v1/assets", content=b"raw", headers={"Content-Type": "image/png"})
        assert_problem(r, 415, "Content-Type")
