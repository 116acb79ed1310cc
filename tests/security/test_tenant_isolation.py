"""Tenant isolation, exhaustively: workspace A builds a realistic set of resources in each
service; then EVERY operation of the service's OpenAPI that has a path parameter is called
with workspace B's token (all roles), its parameters filled with A's real ids, with a
plausible valid body. Each must answer 404 problem+json, and A's view of everything it can
read must be byte-for-byte the same afterwards.

A new route cannot escape: an operation whose path parameter has no id of A to fill it with
fails the test (add the resource to the service's seed below).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.content.app import create_app as content_app
from services.metrics.app import create_app as metrics_app
from services.metrics.config import MetricsConfig
from services.planning.app import create_app as planning_app
from services.publisher.app import create_app as publisher_app
from services.publisher.config import PublisherConfig
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.content.support import png_bytes
from tests.integration.metrics.support import deliver as metrics_deliver
from tests.integration.metrics.support import published
from tests.integration.publisher.support import APPROVED, approved_data
from tests.integration.publisher.support import deliver as publisher_deliver

pytestmark = pytest.mark.infra

ALL_ROLES = "manager,planner,editor,reviewer,analyst,designer,video,community"
NOT_RESOURCES = {"/healthz", "/readyz", "/metrics", "/asyncapi.json"}
# Public by design (no token): the URL itself is the credential. They are still called with
# B's token, must change nothing, and a guessed value must be a 404.
PUBLIC = {
    ("get", "/v1/calendar/feeds/{secret}.ics"): "iCalendar feed: the secret is the credential",
    ("get", "/v1/feeds/{account_id}.atom"): "Atom feed of an RSS account, read by feed readers",
}
# Values for required query parameters, by name (a new required one without a value fails).
QUERY = {"start": "2026-04-01", "end": "2026-07-01", "from": "1", "to": "2", "channels": "weibo"}
APP_FACTORIES = {
    "planning": planning_app,
    "content": content_app,
    "publisher": publisher_app,
    "metrics": metrics_app,
}


# --- the seeds: A's realistic resources, returned as {"collection/param" or "param": id} ---


async def created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code in (200, 201, 202), f"{r.request.method} {r.request.url}: {r.text}"
    return r.json()  # type: ignore[no-any-return]


async def seed_planning(a: httpx.AsyncClient, _ctx: Any, _ws: str) -> dict[str, str]:
    await created(await a.put("/v1/workspace", json={"name": "A HQ", "timezone": "Asia/Shanghai"}))
    ws = await created(await a.post("/v1/workspace/calendar-feed/rotate"))
    secret = re.search(r"feeds/([^/.]+)\.ics", json.dumps(ws))
    assert secret, f"no feed secret in {ws}"
    member = await created(
        await a.post(
            "/v1/members",
            json={"user_id": "alice", "display_name": "Alice", "roles": ["planner", "editor"]},
        )
    )
    goal = await created(
        await a.post(
            "/v1/goals",
            json={
                "name": "Grow followers",
                "metric": "followers",
                "target": 20000,
                "baseline": 12000,
                "channel": "weibo",
                "period_start": "2026-04-01",
                "period_end": "2026-06-30",
            },
        )
    )
    pillar = await created(
        await a.post("/v1/pillars", json={"name": "product tips", "target_share": 0.4})
    )
    persona = await created(await a.post("/v1/personas", json={"name": "Young professional"}))
    competitor = await created(await a.post("/v1/competitors", json={"name": "Rival Co"}))
    partner = await created(
        await a.post("/v1/partners", json={"name": "Tech reviewer Li", "kind": "kol"})
    )
    topic = await created(
        await a.post(
            "/v1/topics",
            json={
                "title": "5 tips for spring travel",
                "format": "article",
                "pillar": "product tips",
                "planned_for": "2026-04-10T20:00:00+08:00",
            },
        )
    )
    tid = topic["id"]
    await created(await a.post(f"/v1/topics/{tid}/votes", json={"value": 1}))
    await created(await a.post(f"/v1/topics/{tid}/comments", json={"body": "pair with May"}))
    entry = await created(
        await a.post(
            "/v1/calendar/entries",
            json={"kind": "key_date", "title": "Labour Day", "day": "2026-05-01"},
        )
    )
    campaign = await created(
        await a.post(
            "/v1/campaigns",
            json={
                "name": "618 mid-year sale",
                "starts_at": "2026-06-01T00:00:00+08:00",
                "ends_at": "2026-06-18T23:59:00+08:00",
            },
        )
    )
    return {
        "secret": secret.group(1),
        "user_id": member["user_id"],
        "goal_id": goal["id"],
        "pillar_id": pillar["id"],
        "personas/item_id": persona["id"],
        "competitors/item_id": competitor["id"],
        "partners/item_id": partner["id"],
        "topic_id": tid,
        "entry_id": entry["id"],
        "campaign_id": campaign["id"],
    }


async def seed_content(a: httpx.AsyncClient, _ctx: Any, _ws: str) -> dict[str, str]:
    item = await created(
        await a.post(
            "/v1/items",
            json={"title": "春季新品上市", "format": "article", "body": "今年春天，三款新品上市。"},
        )
    )
    item = await created(
        await a.patch(
            f"/v1/items/{item['id']}",
            json={"body": "今年春天，我们带来三款新品。"},
            headers={"If-Match": f'"{item["version"]}"'},
        )
    )
    iid = item["id"]
    task = await created(
        await a.post(f"/v1/items/{iid}/tasks", json={"role": "design", "title": "Cover"})
    )
    variant = await created(
        await a.post(f"/v1/items/{iid}/variants", json={"channel": "weibo", "body": "新品 #春季#"})
    )
    clist = await created(
        await a.post(
            "/v1/compliance/lists",
            json={"name": "rivals", "terms": [{"term": "某竞品", "severity": "warn"}]},
        )
    )
    asset = await created(
        await a.post(
            "/v1/assets", files={"file": ("cover.png", png_bytes(8, 8, b"a"), "image/png")}
        )
    )
    return {
        "item_id": iid,
        "number": "1",
        "task_id": task["id"],
        "variant_id": variant["id"],
        "list_id": clist["id"],
        "asset_id": asset["id"],
    }


async def seed_publisher(a: httpx.AsyncClient, ctx: Any, ws: str) -> dict[str, str]:
    account = await created(
        await a.post(
            "/v1/accounts",
            json={
                "channel": "sandbox",
                "name": "A sandbox",
                "credentials": {"token": "a-secret-token"},
                "settings": {"handle": "brand-a", "timezone": "Europe/Berlin"},
            },
        )
    )
    rss = await created(
        await a.post("/v1/accounts", json={"channel": "rss", "name": "A feed", "settings": {}})
    )
    data = approved_data(account_ids=[account["id"]])
    await publisher_deliver(ctx, APPROVED, data, workspace=ws)
    when = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    pub = await created(
        await a.post(
            "/v1/publications",
            json={"item_id": data["item_id"], "account_id": account["id"], "scheduled_at": when},
        )
    )
    ids = {"account_id": account["id"], "publication_id": pub["id"], "rss": rss["id"]}
    return ids


async def seed_webhooks(a: httpx.AsyncClient, ctx: Any, ws: str) -> dict[str, str]:
    """A webhook subscription and one delivery (an event fanned out to it)."""
    from shared.bus import Delivery
    from shared.events import new_event

    sub = await created(
        await a.post(
            "/v1/webhooks/subscriptions",
            json={
                "url": "http://127.0.0.1:9/hook",
                "event_types": ["mediaops.publisher.publication.published"],
            },
        )
    )
    from services.publisher.webhooks.delivery import fanout_subscription

    data = published(str(uuid.uuid4()), datetime.now(UTC))
    event = new_event(
        "mediaops.publisher.publication.published", data, workspace_id=ws, source="/tests"
    )
    handler = fanout_subscription(ctx)[0].handler
    await handler(
        Delivery("webhooks", event.type, event.model_dump_json().encode(), event.id, {}, 1)
    )
    deliveries = (await a.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries")).json()
    return {"subscription_id": sub["id"], "delivery_id": deliveries["items"][0]["id"]}


async def seed_metrics(a: httpx.AsyncClient, ctx: Any, ws: str) -> dict[str, str]:
    now = datetime.now(UTC)
    goal_id = str(uuid.uuid4())
    await metrics_deliver(
        ctx,
        "mediaops.planning.goal.created",
        {
            "goal_id": goal_id,
            "name": "reads goal",
            "metric": "reads",
            "target": 1000,
            "period_start": (now - timedelta(days=5)).isoformat(),
            "period_end": (now + timedelta(days=5)).isoformat(),
        },
        ws,
    )
    pid = str(uuid.uuid4())
    await metrics_deliver(
        ctx,
        "mediaops.publisher.publication.published",
        published(pid, now - timedelta(hours=3)),
        ws,
    )
    await created(
        await a.post(
            "/v1/points",
            json={
                "points": [
                    {
                        "publication_id": pid,
                        "metric": "reads",
                        "value": 300,
                        "observed_at": (now - timedelta(hours=1)).isoformat(),
                        "source": "manual",
                    }
                ]
            },
        )
    )
    competitor = await created(
        await a.post("/v1/competitors", json={"name": "Rival Tea", "channel": "weibo"})
    )
    await created(
        await a.post(
            f"/v1/competitors/{competitor['id']}/points",
            json={
                "points": [{"metric": "followers", "observed_at": now.isoformat(), "value": 120500}]
            },
        )
    )
    return {"publication_id": pid, "goal_id": goal_id, "competitor_id": competitor["id"]}


SEEDS: dict[str, Callable[[httpx.AsyncClient, Any, str], Awaitable[dict[str, str]]]] = {
    "planning": seed_planning,
    "content": seed_content,
    "publisher": seed_publisher,
    "metrics": seed_metrics,
}


# --- the OpenAPI walk --------------------------------------------------------------------


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in spec["paths"].items()
        if path not in NOT_RESOURCES
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def path_params(op: dict[str, Any]) -> list[str]:
    return [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]


def query(method: str, path: str, op: dict[str, Any]) -> dict[str, str]:
    """Required query parameters (and the optional ones QUERY knows) with plausible values."""
    params = [p for p in op.get("parameters", []) if p["in"] == "query"]
    missing = [p["name"] for p in params if p.get("required") and p["name"] not in QUERY]
    assert not missing, f"{method.upper()} {path}: add a value for query {missing} to QUERY"
    return {p["name"]: QUERY[p["name"]] for p in params if p["name"] in QUERY}


def fill(path: str, ids: dict[str, str]) -> str | None:
    """The path with each `{name}` replaced by A's id: `collection/name` (the segment before
    it) wins over plain `name`. None when one cannot be filled."""
    segments = path.strip("/").split("/")
    out = []
    for i, seg in enumerate(segments):
        m = re.search(r"\{(\w+)\}", seg)
        if m is None:
            out.append(seg)
            continue
        name = m.group(1)
        collection = segments[i - 1] if i else ""
        value = ids.get(f"{collection}/{name}", ids.get(name))
        if value is None:
            return None
        out.append(seg.replace(m.group(0), value))
    return "/" + "/".join(out)


def example_body(spec: dict[str, Any], op: dict[str, Any]) -> tuple[str, Any] | None:
    """(content type, body) from the operation's documented example: a valid request."""
    rb = op.get("requestBody")
    if not rb:
        return None
    ctype, media = next(iter(rb["content"].items()))
    if ctype != "application/json":
        return ctype, media.get("example", "")
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    examples = schema.get("examples") or ([schema["example"]] if "example" in schema else [])
    return ctype, (examples[0] if examples else {})


async def snapshot(client: httpx.AsyncClient, spec: dict[str, Any], ids: dict[str, str]) -> dict:
    """Everything A can read: every GET (lists and each resource), status and exact body."""
    seen: dict[str, tuple[int, str]] = {}
    for method, path, op in operations(spec):
        if method != "get" or (method, path) in PUBLIC:
            continue
        url = fill(path, ids)
        assert url is not None, f"GET {path}: no id of A for its parameters"
        r = await client.get(url, params=query(method, path, op))
        seen[url] = (r.status_code, r.text)
    return seen


async def check_service(service: str, pg_url: str, make_runtime: Any, tmp_path: Any) -> None:
    settings = settings_for_tests(
        pg_url,
        MEDIAOPS_STORAGE_DIR=str(tmp_path / "assets"),
        MEDIAOPS_URL_ALLOW_LIST=["127.0.0.0/8"],
    )
    extras = {
        "publisher_config": PublisherConfig(),
        "metrics_config": MetricsConfig(goal_emit_min_interval_s=0),
    }
    # The clock is pinned so that reads are comparable byte for byte (no "generated_at" drift).
    now = datetime.now(UTC)
    runtime = await make_runtime(
        settings, [service], roles=["api"], extras=extras, clock=lambda: now
    )
    ctx = runtime.contexts[service]
    app = APP_FACTORIES[service](ctx)
    spec = app.openapi()
    ws_a, ws_b = f"ws-a-{uuid.uuid4().hex[:8]}", f"ws-b-{uuid.uuid4().hex[:8]}"
    a = client_for(app, make_token(settings, ws_a, ALL_ROLES, "alice"))
    b = client_for(app, make_token(settings, ws_b, ALL_ROLES, "mallory"))
    async with a, b:
        ids = await SEEDS[service](a, ctx, ws_a)
        if "/v1/webhooks/subscriptions" in spec["paths"]:  # publisher's outgoing webhooks
            ids.update(await seed_webhooks(a, ctx, ws_a))
        before = await snapshot(a, spec, ids)
        for url, (status, _text) in before.items():
            assert status == 200, f"A cannot read its own {url}: {status} {_text}"
        everything_a_sees = "\n".join(text for _s, text in before.values())
        failures: list[str] = []
        called = 0
        for method, path, op in operations(spec):
            if not path_params(op):
                continue
            url = fill(path, ids)
            if url is None:
                failures.append(
                    f"{method.upper()} {path}: parameter(s) {path_params(op)} have no id of A; "
                    "seed the resource in this test"
                )
                continue
            for name in path_params(op):
                value = ids.get(name) or next(v for k, v in ids.items() if k.endswith("/" + name))
                assert value in everything_a_sees or (method, path) in PUBLIC, (
                    f"{name}={value} is not one of A's visible ids"
                )
            kw: dict[str, Any] = {"params": query(method, path, op)}
            if method in ("patch", "put", "delete", "post"):
                kw["headers"] = {"If-Match": "*"}
            body = example_body(spec, op)
            if body is not None:
                ctype, value = body
                if ctype == "application/json":
                    kw["json"] = value
                else:
                    kw["content"] = value
                    kw["headers"]["content-type"] = ctype
            r = await b.request(method.upper(), url, **kw)
            called += 1
            if (method, path) in PUBLIC:
                if r.status_code not in (200, 404):
                    failures.append(f"{method.upper()} {url} (public): {r.status_code}")
                guessed = fill(path, {n: str(uuid.uuid4()) for n in path_params(op)})
                guess = await b.get(guessed or "")
                if guess.status_code != 404:
                    failures.append(f"GET {guessed} (guessed): {guess.status_code}")
                continue
            ok = (
                r.status_code == 404
                and r.headers.get("content-type") == "application/problem+json"
                and r.json().get("status") == 404
            )
            if not ok:
                failures.append(f"{method.upper()} {url} as B -> {r.status_code} {r.text[:300]}")
        assert called, "no operation with a path parameter"
        after = await snapshot(a, spec, ids)
        for url in before:
            if before[url] != after[url]:
                failures.append(
                    f"A's {url} changed:\n  before {before[url]}\n  after  {after[url]}"
                )
        assert not failures, f"{service}: tenant isolation broken:\n" + "\n".join(failures)
        # and B's own lists show none of A's ids
        for method, path, op in operations(spec):
            if method == "get" and not path_params(op):
                text = (await b.get(path, params=query(method, path, op))).text
                leaked = [v for v in ids.values() if len(v) > 8 and v in text]
                assert not leaked, f"B's {path} shows A's ids {leaked}"


@pytest.mark.parametrize("service", list(SEEDS))
async def test_another_workspace_gets_404_on_every_resource_and_changes_nothing(
    service: str, pg_url: str, make_runtime: Any, tmp_path: Any
) -> None:
    await check_service(service, pg_url, make_runtime, tmp_path)


async def test_another_workspace_cannot_schedule_on_accounts_or_items_it_does_not_own(
    pg_url: str, make_runtime: Any
) -> None:
    """References in a body are looked up in the caller's workspace too."""
    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(
        settings, ["publisher"], roles=["api"], extras={"publisher_config": PublisherConfig()}
    )
    ctx = runtime.contexts["publisher"]
    app = publisher_app(ctx)
    ws_a, ws_b = f"ws-a-{uuid.uuid4().hex[:8]}", f"ws-b-{uuid.uuid4().hex[:8]}"
    async with (
        client_for(app, make_token(settings, ws_a, ALL_ROLES)) as a,
        client_for(app, make_token(settings, ws_b, ALL_ROLES)) as b,
    ):
        ids = await seed_publisher(a, ctx, ws_a)
        item_a = (await a.get(f"/v1/publications/{ids['publication_id']}")).json()["item_id"]
        own = await created(await b.post("/v1/accounts", json={"channel": "sandbox", "name": "B"}))
        item_b = approved_data(account_ids=[own["id"]])
        await publisher_deliver(ctx, APPROVED, item_b, workspace=ws_b)
        when = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        # B's own approved item on A's account: A's account does not exist for B
        r = await b.post(
            "/v1/publications",
            json={
                "item_id": item_b["item_id"],
                "account_id": ids["account_id"],
                "scheduled_at": when,
            },
        )
        assert r.status_code == 404 and r.json()["field"] == "account_id", r.text
        assert r.headers["content-type"] == "application/problem+json"
        # A's approved item on B's account: answered exactly as an item that never existed
        answers = []
        for item_id in (item_a, str(uuid.uuid4())):
            r = await b.post(
                "/v1/publications",
                json={"item_id": item_id, "account_id": own["id"], "scheduled_at": when},
            )
            assert r.status_code in (404, 409, 422), r.text
            body = r.json()
            answers.append((r.status_code, body["field"], body["detail"]))
        assert answers[0] == answers[1], answers
        assert (await b.get("/v1/publications")).json()["items"] == []
        assert len((await a.get("/v1/publications")).json()["items"]) == 1
