"""The publisher API on real PostgreSQL: accounts, approvals, scheduling rules, cancel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.publisher.app import create_app
from services.publisher.config import PublisherConfig
from services.publisher.scheduler import claim_due
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.publisher.support import APPROVED, REVISED, approved_data, deliver

pytestmark = pytest.mark.infra

INSIGHT = "mediaops.metrics.insight.generated"


class Clock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@pytest.fixture
async def env(pg_url, make_runtime):  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url, MEDIAOPS_URL_ALLOW_LIST=["10.9.0.0/16"])
    clock = Clock()
    runtime = await make_runtime(
        settings,
        ["publisher"],
        roles=["api"],
        clock=clock,
        extras={"publisher_config": PublisherConfig()},
    )
    ctx = runtime.contexts["publisher"]
    app = create_app(ctx)
    async with (
        client_for(app, make_token(settings, "ws-a")) as a,
        client_for(app, make_token(settings, "ws-b")) as b,
    ):
        yield ctx, a, b, clock


async def make_account(client, **kw):  # type: ignore[no-untyped-def]
    body = {"channel": "sandbox", "name": "Brand", "settings": {}, **kw}
    r = await client.post("/v1/accounts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def outbox(ctx, type_: str, subject: str) -> list[dict]:  # type: ignore[no-untyped-def]
    async with ctx.db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT envelope FROM publisher.outbox WHERE routing_key = :t AND envelope->>'subject' = :s"
            ),
            {"t": type_, "s": subject},
        )
        return [r.envelope for r in rows]


async def test_account_credentials_encrypted_and_never_returned(env) -> None:  # type: ignore[no-untyped-def]
    ctx, a, b, _ = env
    acc = await make_account(
        a,
        credentials={"token": "super-secret-token-123", "refresh_token": "rt-xyz"},
        settings={"timezone": "Europe/Berlin", "slots": ["09:00"], "handle": "brand"},
    )
    assert acc["credentials_set"] == ["refresh_token", "token"]
    assert "credentials" not in acc and "super-secret" not in str(acc)
    async with ctx.db.engine.connect() as conn:
        raw = (
            await conn.execute(
                text(
                    "SELECT credentials_enc::text AS c, settings::text AS s FROM publisher.accounts WHERE id = :i"
                ),
                {"i": acc["id"]},
            )
        ).one()
    assert "super-secret-token-123" not in raw.c and "rt-xyz" not in raw.c
    from services.publisher.bootstrap import credential_box

    async with ctx.db.engine.connect() as conn:
        blob = await conn.scalar(
            text("SELECT credentials_enc FROM publisher.accounts WHERE id = :i"), {"i": acc["id"]}
        )
    assert credential_box(ctx).decrypt(blob)["token"] == "super-secret-token-123"

    got = await a.get(f"/v1/accounts/{acc['id']}")
    assert got.status_code == 200 and "super-secret" not in got.text
    # another workspace: 404, and it cannot schedule on it
    assert (await b.get(f"/v1/accounts/{acc['id']}")).status_code == 404
    # a refresh-token-less credential update keeps the refresh token (merge rule)
    r = await a.patch(
        f"/v1/accounts/{acc['id']}",
        json={"credentials": {"token": "t2", "refresh_token": ""}},
        headers={"If-Match": got.headers["ETag"]},
    )
    assert r.status_code == 200, r.text
    async with ctx.db.engine.connect() as conn:
        blob = await conn.scalar(
            text("SELECT credentials_enc FROM publisher.accounts WHERE id = :i"), {"i": acc["id"]}
        )
    creds = credential_box(ctx).decrypt(blob)
    assert creds == {"token": "t2", "refresh_token": "rt-xyz"}
    # bad input
    r = await a.post("/v1/accounts", json={"channel": "myspace", "name": "x"})
    assert r.status_code == 422 and r.json()["field"] == "channel"
    r = await a.post(
        "/v1/accounts",
        json={"channel": "sandbox", "name": "x", "settings": {"timezone": "Mars/Base"}},
    )
    assert r.status_code == 422 and r.json()["field"] == "settings.timezone"


async def test_private_webhook_url_refused_unless_allow_listed(env) -> None:  # type: ignore[no-untyped-def]
    _, a, _, _ = env
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://192.168.1.10/x",
        "http://169.254.169.254/latest",
    ):
        r = await a.post(
            "/v1/accounts", json={"channel": "webhook", "name": "site", "settings": {"url": url}}
        )
        assert r.status_code == 422, (url, r.text)
        assert r.json()["field"] == "settings.url"
    r = await a.post(
        "/v1/accounts",
        json={"channel": "webhook", "name": "site", "settings": {"url": "http://10.9.1.2/hook"}},
    )
    assert r.status_code == 201, r.text


async def test_only_current_approved_content_is_scheduled(env) -> None:  # type: ignore[no-untyped-def]
    ctx, a, b, _ = env
    acc = await make_account(a)
    item = str(uuid.uuid4())
    r = await a.post("/v1/publications", json={"item_id": item, "account_id": acc["id"]})
    assert r.status_code == 409 and r.json()["field"] == "item_id"

    data = approved_data(item)
    await deliver(ctx, APPROVED, data)
    r = await a.post("/v1/publications", json={"item_id": item, "account_id": acc["id"]})
    assert r.status_code == 201, r.text
    pub = r.json()
    assert pub["status"] == "scheduled" and pub["content_hash"] == data["content_hash"]
    assert pub["channel"] == "sandbox" and pub["idempotency_key"] == f"mo-{pub['id']}"
    events = await outbox(ctx, "mediaops.publisher.publication.scheduled", pub["id"])
    assert len(events) == 1 and events[0]["data"]["item_id"] == item

    r = await a.post("/v1/publications", json={"item_id": item, "account_id": acc["id"]})
    assert r.status_code == 409 and r.json()["existing_id"] == pub["id"]

    # edited after approval: refused until approved again
    await deliver(
        ctx,
        REVISED,
        {
            "item_id": item,
            "version": 2,
            "content_hash": "h-new",
            "approved_hash": data["content_hash"],
        },
    )
    acc2 = await make_account(a, name="second")
    r = await a.post("/v1/publications", json={"item_id": item, "account_id": acc2["id"]})
    assert r.status_code == 409 and "approved again" in r.json()["detail"]
    await deliver(ctx, APPROVED, {**data, "version": 2, "content_hash": "h-new"})
    r = await a.post("/v1/publications", json={"item_id": item, "account_id": acc2["id"]})
    assert r.status_code == 201 and r.json()["content_hash"] == "h-new"

    # past time -> 422; another workspace's account -> 404; unknown variant -> 422
    acc3 = await make_account(a, name="third")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = await a.post(
        "/v1/publications", json={"item_id": item, "account_id": acc3["id"], "scheduled_at": past}
    )
    assert r.status_code == 422 and r.json()["field"] == "scheduled_at"
    r = await b.post("/v1/publications", json={"item_id": item, "account_id": acc3["id"]})
    assert r.status_code == 404 and r.json()["field"] == "account_id"
    r = await a.post(
        "/v1/publications", json={"item_id": item, "account_id": acc3["id"], "variant_id": "nope"}
    )
    assert r.status_code == 422 and r.json()["field"] == "variant_id"
    assert (await b.get(f"/v1/publications/{pub['id']}")).status_code == 404


async def test_quota_refuse_and_warn(env) -> None:  # type: ignore[no-untyped-def]
    ctx, a, _, _ = env
    day = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    refuse = await make_account(a, settings={"daily_quota": 1, "quota_policy": "refuse"})
    warn = await make_account(a, settings={"daily_quota": 1, "quota_policy": "warn"})
    items = [str(uuid.uuid4()) for _ in range(2)]
    for item in items:
        await deliver(ctx, APPROVED, approved_data(item))
    at = day.isoformat()
    r = await a.post(
        "/v1/publications",
        json={"item_id": items[0], "account_id": refuse["id"], "scheduled_at": at},
    )
    assert r.status_code == 201 and r.json()["warning"] is None
    r = await a.post(
        "/v1/publications",
        json={"item_id": items[1], "account_id": refuse["id"], "scheduled_at": at},
    )
    assert r.status_code == 409 and "quota" in r.json()["detail"]
    # the next day is free
    r = await a.post(
        "/v1/publications",
        json={
            "item_id": items[1],
            "account_id": refuse["id"],
            "scheduled_at": (day + timedelta(days=1)).isoformat(),
        },
    )
    assert r.status_code == 201
    r = await a.post(
        "/v1/publications", json={"item_id": items[0], "account_id": warn["id"], "scheduled_at": at}
    )
    assert r.status_code == 201 and r.json()["warning"] is None
    r = await a.post(
        "/v1/publications", json={"item_id": items[1], "account_id": warn["id"], "scheduled_at": at}
    )
    assert r.status_code == 201 and "quota of 1" in r.json()["warning"]


async def test_cancel(env) -> None:  # type: ignore[no-untyped-def]
    ctx, a, b, _ = env
    acc = await make_account(a)
    item = str(uuid.uuid4())
    await deliver(ctx, APPROVED, approved_data(item))
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    pub = (
        await a.post(
            "/v1/publications",
            json={"item_id": item, "account_id": acc["id"], "scheduled_at": later},
        )
    ).json()
    assert (await b.post(f"/v1/publications/{pub['id']}/cancel")).status_code == 404
    r = await a.post(f"/v1/publications/{pub['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert len(await outbox(ctx, "mediaops.publisher.publication.cancelled", pub["id"])) == 1
    r = await a.post(f"/v1/publications/{pub['id']}/cancel")  # idempotent
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert len(await outbox(ctx, "mediaops.publisher.publication.cancelled", pub["id"])) == 1
    # a published one cannot be cancelled
    async with ctx.db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE publisher.publications SET status='published' WHERE id=:i"),
            {"i": pub["id"]},
        )
    r = await a.post(f"/v1/publications/{pub['id']}/cancel")
    assert r.status_code == 409


async def test_dst_wall_time_and_dispatch_instant(env) -> None:  # type: ignore[no-untyped-def]
    """09:00 Europe/Berlin on the day after the spring change is 07:00Z (08:00Z the day before);
    the scheduler claims it at that instant, not an hour off."""
    ctx, a, _, clock = env
    clock.now = datetime(2030, 3, 29, 12, 0, tzinfo=UTC)  # before the change (2030-03-31)
    acc = await make_account(a, settings={"timezone": "Europe/Berlin"})
    item = str(uuid.uuid4())
    await deliver(ctx, APPROVED, approved_data(item))
    r = await a.post(
        "/v1/publications",
        json={"item_id": item, "account_id": acc["id"], "scheduled_at": "2030-04-01T09:00:00"},
    )
    assert r.status_code == 201, r.text
    pub = r.json()
    assert (
        pub["scheduled_at"].startswith("2030-04-01T07:00:00") and pub["timezone"] == "Europe/Berlin"
    )
    clock.now = datetime(2030, 4, 1, 6, 59, 59, tzinfo=UTC)
    while await claim_due(ctx):  # older rows of other tests are claimed too
        pass
    assert (await a.get(f"/v1/publications/{pub['id']}")).json()["status"] == "scheduled"
    clock.now = datetime(2030, 4, 1, 7, 0, 0, tzinfo=UTC)
    await claim_due(ctx)
    assert (await a.get(f"/v1/publications/{pub['id']}")).json()["status"] == "dispatching"
    cmds = await outbox(ctx, "mediaops.publisher.publication.dispatch", pub["id"])
    assert [c["data"] for c in cmds] == [{"publication_id": pub["id"], "attempt": 1}]

    # a weekly series keeps 09:00 local across the change: 08:00Z then 07:00Z
    clock.now = datetime(2030, 3, 20, 12, 0, tzinfo=UTC)
    item2 = str(uuid.uuid4())
    await deliver(ctx, APPROVED, approved_data(item2))
    r = await a.post(
        "/v1/publications",
        json={
            "item_id": item2,
            "account_id": acc["id"],
            "scheduled_at": "2030-03-24T09:00:00",
            "recurrence": {"frequency": "weekly", "count": 3},
        },
    )
    assert r.status_code == 201, r.text
    times = [p["scheduled_at"][:19] for p in r.json()["items"]]
    assert times == ["2030-03-24T08:00:00", "2030-03-31T07:00:00", "2030-04-07T07:00:00"]


async def test_next_slot_uses_best_hours_and_channels(env) -> None:  # type: ignore[no-untyped-def]
    ctx, a, _, clock = env
    clock.now = datetime(2030, 6, 3, 5, 0, tzinfo=UTC)  # a Monday, 07:00 Berlin
    acc = await make_account(
        a, settings={"timezone": "Europe/Berlin", "slots": ["09:00", "12:00", "18:00"]}
    )
    await deliver(
        ctx,
        INSIGHT,
        {
            "insight_id": "i1",
            "kind": "best_hours",
            "scope": {"channel": "sandbox", "account_id": acc["id"]},
            "recommendation": "post at Mon 18:00",
            "evidence": {
                "timezone": "Europe/Berlin",
                "slots": [{"weekday": 0, "hour": 18, "median": 40, "n": 5}],
            },
        },
    )
    item = str(uuid.uuid4())
    await deliver(ctx, APPROVED, approved_data(item))
    r = await a.post(
        "/v1/publications", json={"item_id": item, "account_id": acc["id"], "mode": "next_slot"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["scheduled_at"].startswith("2030-06-03T16:00:00")  # 18:00 CEST
    r = await a.get("/v1/channels")
    assert r.status_code == 200
    chans = {c["channel"]: c for c in r.json()["items"]}
    assert {"sandbox", "webhook", "mastodon", "wechat_mp", "weibo", "rss", "email"} <= set(chans)
    r = await a.get("/v1/ops/queue")
    assert r.status_code == 200 and "overdue" in r.json() and "consumers" in r.json()
