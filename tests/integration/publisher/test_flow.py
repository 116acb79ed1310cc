"""End to end on real PostgreSQL and RabbitMQ, against the sandbox platform served by uvicorn:
approved event -> auto-scheduled -> scheduler -> `publisher.dispatch` -> worker -> sandbox ->
published event; faults (500, 429, timeouts) -> retries and reconciliation, zero duplicates."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from services.publisher.app import create_app
from services.publisher.config import PublisherConfig
from shared.bus import Message
from shared.events import new_event
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.publisher.support import (
    APPROVED,
    SandboxServer,
    approved_data,
    utcnow,
    wait_for,
)

pytestmark = pytest.mark.infra

ROLES = ["api", "consumers", "relay", "publisher.scheduler", "publisher.worker"]


def fast_config(**kw) -> PublisherConfig:  # type: ignore[no-untyped-def]
    values = {
        "scheduler_poll_s": 0.05,
        "maintenance_poll_s": 0.05,
        "reconcile_delay_s": 0.1,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.3,
        "max_attempts": 12,
        "connector_timeout_s": 0.5,
        **kw,
    }
    return PublisherConfig(**values)


async def start(pg_url, amqp_url, make_runtime, sandbox: SandboxServer, **cfg):  # type: ignore[no-untyped-def]
    settings = settings_for_tests(
        pg_url, amqp_url, MEDIAOPS_SANDBOX_URL=sandbox.url, MEDIAOPS_RELAY_POLL_S=0.05
    )
    runtime = await make_runtime(
        settings, ["publisher"], roles=ROLES, extras={"publisher_config": fast_config(**cfg)}
    )
    ctx = runtime.contexts["publisher"]
    return settings, runtime, ctx, client_for(create_app(ctx), make_token(settings, "ws-a"))


async def publish_event(runtime, type_: str, data: dict) -> None:  # type: ignore[no-untyped-def]
    event = new_event(type_, data, workspace_id="ws-a", source="/tests/content")
    await runtime.bus.publish(
        [Message("events", type_, json.dumps(event.to_json_dict()).encode(), event.id)]
    )


async def outbox_events(ctx, type_: str) -> list[dict]:  # type: ignore[no-untyped-def]
    async with ctx.db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM publisher.outbox WHERE routing_key = :t"), {"t": type_}
        )
        return [r.envelope for r in rows]


async def test_approved_item_is_published_once_end_to_end(pg_url, amqp_url, make_runtime):
    async with SandboxServer() as sandbox:
        _settings, runtime, ctx, client = await start(pg_url, amqp_url, make_runtime, sandbox)
        async with client:
            acc = (
                await client.post(
                    "/v1/accounts",
                    json={
                        "channel": "sandbox",
                        "name": "Brand",
                        "settings": {"handle": "brand-e2e"},
                    },
                )
            ).json()
            rss = (
                await client.post(
                    "/v1/accounts",
                    json={"channel": "rss", "name": "Blog feed", "settings": {"title": "Our blog"}},
                )
            ).json()
            data = approved_data(
                planned_for=utcnow() + timedelta(seconds=0.5),
                account_ids=[acc["id"], rss["id"]],
                body="Spring is here",
            )
            await publish_event(runtime, APPROVED, data)

            async def published() -> list[dict] | None:
                r = await client.get("/v1/publications", params={"item_id": data["item_id"]})
                items = r.json()["items"]
                return (
                    items
                    if len(items) == 2 and all(p["status"] == "published" for p in items)
                    else None
                )

            pubs = {p["channel"]: p for p in await wait_for(published, 15, "both published")}
            pub = pubs["sandbox"]
            assert pub["external_id"] and pub["url"] and pub["published_at"]
            assert pub["published_at"] >= data["planned_for"][:19]

            # the platform got exactly one post with our key and the channel variant's text
            async with httpx.AsyncClient() as h:
                posts = (
                    await h.get(f"{sandbox.url}/v1/posts", params={"account": "brand-e2e"})
                ).json()["posts"]
            assert [p["idempotency_key"] for p in posts] == [f"mo-{pub['id']}"]
            assert posts[0]["text"] == "Spring is here" and posts[0]["id"] == pub["external_id"]

            events = [
                e
                for e in await outbox_events(ctx, "mediaops.publisher.publication.published")
                if e["data"]["publication_id"] == pub["id"]
            ]
            assert len(events) == 1
            d = events[0]["data"]
            assert (d["item_id"], d["topic_id"], d["campaign_id"], d["channel"]) == (
                data["item_id"],
                "topic-1",
                "camp-1",
                "sandbox",
            )
            assert d["external_id"] == pub["external_id"] and d["title"] == "Spring launch"
            assert d["format"] == "post" and d["pillar"] == "product"

            attempts = (await client.get(f"/v1/publications/{pub['id']}/attempts")).json()["items"]
            assert [a["status"] for a in attempts] == ["published"]
            assert attempts[0]["worker_id"] and attempts[0]["latency_ms"] is not None

            # the owned RSS channel serves the entry in its Atom feed
            feed = await client.get(f"/v1/feeds/{rss['id']}.atom")
            assert feed.status_code == 200 and feed.headers["content-type"].startswith(
                "application/atom+xml"
            )
            assert (
                b"Spring is here" in feed.content
                and pubs["rss"]["external_id"].encode() in feed.content
            )

            ops = (await client.get("/v1/ops/queue")).json()
            assert ops["consumers"] >= 1 and ops["overdue"] == 0
            metrics = (await client.get("/metrics")).text
            assert "mediaops_publisher_dispatch_consumers" in metrics
            ready = await client.get("/readyz")
            assert ready.status_code == 200


async def test_errors_rate_limits_and_timeouts_end_with_zero_duplicates(
    pg_url, amqp_url, make_runtime
):
    t0 = time.time()
    fast = lambda: t0 + (time.time() - t0) * 30  # noqa: E731  a sandbox minute is 2 s here
    async with SandboxServer(
        clock=fast,
        error_rate=0.25,
        timeout_rate=0.25,
        timeout_delay_s=1.0,
        rate_limit_per_minute=20,
        seed=7,
    ) as sandbox:
        _settings, _runtime, ctx, client = await start(
            pg_url, amqp_url, make_runtime, sandbox, connector_timeout_s=0.3, max_defer_s=0.5
        )
        n = 24
        async with client:
            acc = (
                await client.post(
                    "/v1/accounts",
                    json={"channel": "sandbox", "name": "Flaky", "settings": {"handle": "flaky"}},
                )
            ).json()
            ids = []
            for _ in range(n):
                data = approved_data(account_ids=[acc["id"]], planned_for=utcnow())
                from tests.integration.publisher.support import deliver

                await deliver(ctx, APPROVED, data)
                r = await client.get("/v1/publications", params={"item_id": data["item_id"]})
                ids.append(r.json()["items"][0]["id"])

            async def all_published() -> bool:
                r = await client.get(
                    "/v1/publications", params={"account_id": acc["id"], "limit": 200}
                )
                return all(p["status"] == "published" for p in r.json()["items"])

            try:
                await wait_for(all_published, 40, "every publication published")
            except AssertionError:
                r = await client.get(
                    "/v1/publications", params={"account_id": acc["id"], "limit": 200}
                )
                stuck = [p for p in r.json()["items"] if p["status"] != "published"]
                raise AssertionError(f"not published: {stuck[:3]}") from None
            async with httpx.AsyncClient() as h:
                summary = (await h.get(f"{sandbox.url}/v1/summary")).json()
            assert summary["duplicate_keys"] == []
            assert summary["posts"] == n and summary["distinct_keys"] == n
            outcomes = summary["requests_by_outcome"]
            assert outcomes.get("error", 0) > 0 and outcomes.get("timeout", 0) > 0
            assert outcomes.get("rate_limited", 0) > 0

            statuses: dict[str, int] = {}
            for pid in ids:
                for a in (await client.get(f"/v1/publications/{pid}/attempts")).json()["items"]:
                    statuses[a["status"]] = statuses.get(a["status"], 0) + 1
            # timeouts went through `unknown` and were resolved by reconciliation, not re-posts
            assert statuses.get("unknown", 0) > 0 and statuses.get("found", 0) > 0
            assert statuses.get("retry", 0) > 0
            published = [
                e
                for e in await outbox_events(ctx, "mediaops.publisher.publication.published")
                if e["data"]["publication_id"] in ids
            ]
            assert len(published) == n


async def test_worker_death_mid_call_is_reconciled_not_reposted(pg_url, amqp_url, make_runtime):
    """A worker that recorded its attempt and then died: the redelivered command looks the post
    up first; found -> published without a second post."""
    async with SandboxServer() as sandbox:
        _settings, runtime, ctx, client = await start(pg_url, amqp_url, make_runtime, sandbox)
        await runtime.stop()  # drive the dispatcher by hand
        from services.publisher.dispatch import Dispatcher
        from shared.bus import Delivery
        from tests.integration.publisher.support import deliver

        async with client:
            acc = (
                await client.post(
                    "/v1/accounts",
                    json={"channel": "sandbox", "name": "B", "settings": {"handle": "dies"}},
                )
            ).json()
            data = approved_data(account_ids=[acc["id"]], planned_for=utcnow())
            await deliver(ctx, APPROVED, data)
            from services.publisher.scheduler import claim_due

            await claim_due(ctx)
            pub = (
                await client.get("/v1/publications", params={"item_id": data["item_id"]})
            ).json()["items"][0]
            assert pub["status"] == "dispatching"
            cmd = next(
                e
                for e in await outbox_events(ctx, "mediaops.publisher.publication.dispatch")
                if e["data"]["publication_id"] == pub["id"]
            )
            # the broker redelivers an unacked message of a dead consumer with `redelivered`
            delivery = Delivery(
                "publisher.dispatch",
                cmd["type"],
                json.dumps(cmd).encode(),
                cmd["id"],
                {},
                1,
                redelivered=True,
            )
            dying = Dispatcher(ctx)
            work = await dying.begin_one(
                new_event(cmd["type"], cmd["data"], workspace_id="ws-a", source="/t"),
                uuid.UUID(pub["id"]),
                1,
            )
            assert work is not None
            await dying._call(work)  # the post is made, then the worker "dies" before tx2
            await Dispatcher(ctx)(delivery)  # the broker redelivers to another worker
            pub = (await client.get(f"/v1/publications/{pub['id']}")).json()
            assert pub["status"] == "published"
            attempts = (await client.get(f"/v1/publications/{pub['id']}/attempts")).json()["items"]
            assert sorted(a["kind"] for a in attempts) == ["publish", "reconcile"]
            assert sandbox.world.summary()["posts"] == 1
