"""The whole loop end to end, every part a separate process, on real PostgreSQL and RabbitMQ.

Processes (as deployments run them): the four services (`mediaops serve X`, API + event
consumers), the outbox relay, the publisher scheduler, TWO publisher workers, the stats
poller, the metrics analyst and rollup workers, the content review watcher and the sandbox
platform. The loop is driven through the public HTTP APIs by `demo.loop.Loop` (the same
code `./run demo` narrates) and asserted step by step. An outside subscriber binds its own queue to
`<prefix>mediaops.events` with `#` and parses every message with the `cloudevents` SDK.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from cloudevents.core.formats.json import JSONFormat

from demo.client import Urls, wait_for
from demo.loop import CHANNELS, ROLES, TZ, Config, Loop, Narrator
from shared.auth import mint_token
from shared.config import SERVICES, Settings
from tests.support import infra
from tests.support.processes import Cluster, free_port

pytestmark = pytest.mark.infra

TIME_SCALE = 7200.0
WORKERS = (
    ("relay", ["relay"]),
    ("scheduler", ["worker", "publisher.scheduler"]),
    ("worker-1", ["worker", "publisher.worker"]),
    ("worker-2", ["worker", "publisher.worker"]),
    ("poller", ["worker", "publisher.poller"]),
    ("analyst", ["worker", "metrics.analyst"]),
    ("rollup", ["worker", "metrics.rollup"]),
    ("reviews", ["worker", "content.reviews"]),
)


class Outside:
    """An outside tool: its own queue on the events exchange, every message a CloudEvent."""

    def __init__(self, amqp_url: str, exchange: str, queue: str) -> None:
        self.amqp_url, self.exchange, self.queue = amqp_url, exchange, queue
        self.events: list[Any] = []
        self.unparsed: list[str] = []
        self.connection: Any = None

    async def start(self) -> None:
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self.connection.channel()
        exchange = await channel.get_exchange(self.exchange, ensure=True)
        queue = await channel.declare_queue(self.queue, durable=False, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        self._queue = queue
        self._tag = await queue.consume(self._on_message)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            try:
                self.events.append(JSONFormat().read(None, message.body))
            except Exception as exc:  # a malformed event is a finding, not a crash
                self.unparsed.append(f"{exc!r}: {message.body[:200]!r}")

    def of(self, type_: str, workspace: str) -> list[Any]:
        return [
            e
            for e in self.events
            if e.get_type() == type_ and e.get_extension("workspaceid") == workspace
        ]

    async def stop(self) -> None:
        if self.connection is not None:
            await self._queue.cancel(self._tag)
            channel = await self.connection.channel()
            await channel.queue_delete(self.queue)
            await self.connection.close()


def _amqp_names(kind: str, prefix: str) -> set[str]:
    """Queues or exchanges whose name starts with the test's prefix (rabbitmqctl, if here)."""
    if shutil.which("rabbitmqctl") is None:
        return set()
    out = subprocess.run(
        ["rabbitmqctl", "-q", f"list_{kind}", "name"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return {line.strip() for line in out.splitlines() if line.strip().startswith(prefix)}


async def _delete_topology(prefix: str) -> None:
    queues = {
        f"{prefix}{base}{suffix}"
        for base in (*SERVICES, "publisher.dispatch", "mediaops.unrouted")
        for suffix in ("", ".dlq", ".retry.1", ".retry.2", ".retry.3")
    }
    queues |= _amqp_names("queues", prefix)
    exchanges = {f"{prefix}mediaops.events", f"{prefix}mediaops.commands"}
    exchanges |= {f"{prefix}mediaops.unrouted"} | _amqp_names("exchanges", prefix)
    conn = await aio_pika.connect(infra.AMQP_URL)
    try:
        for name in sorted(queues):
            ch = await conn.channel()
            try:
                await ch.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
        for name in sorted(exchanges):
            ch = await conn.channel()
            try:
                await ch.exchange_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
    finally:
        await conn.close()


@pytest.fixture
def cluster(pg_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Cluster]:
    prefix = infra.unique_prefix()
    sandbox_port = free_port()
    env = {
        **os.environ,
        "MEDIAOPS_ENV": "test",
        "DATABASE_URL": pg_url,
        "AMQP_URL": amqp_url,
        "MEDIAOPS_AMQP_PREFIX": prefix,
        "MEDIAOPS_QUEUE_TYPE": "classic",
        "MEDIAOPS_SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
        "MEDIAOPS_LOG_LEVEL": "WARNING",
        "MEDIAOPS_RELAY_POLL_S": "0.2",
        "MEDIAOPS_RETRY_DELAYS_MS": "[100,200,400]",
        "MEDIAOPS_WRITE_RATE_PER_MINUTE": "100000",
        # compressed time: post-age checkpoints, the poller, the analyst
        "MEDIAOPS_TIME_SCALE": str(TIME_SCALE),
        "MEDIAOPS_PUBLISHER_POLLER_POLL_S": "0.5",
        "MEDIAOPS_PUBLISHER_SCHEDULER_POLL_S": "0.25",
        "MEDIAOPS_METRICS_ANALYST_INTERVAL_S": "1.5",
        "MEDIAOPS_METRICS_GOAL_EMIT_MIN_INTERVAL_S": "0.5",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    c = Cluster(env=env, log_dir=tmp_path)
    try:
        sandbox = c.add("sandbox", ["sandbox", "--port", str(sandbox_port)], sandbox_port)
        services = [c.service(name) for name in SERVICES]
        workers = [
            c.add(name, [*args, "--port", str(p)], p)
            for name, args in WORKERS
            for p in [free_port()]
        ]
        c.wait_ready(sandbox, "/healthz")
        for proc in (*services, *workers):
            c.wait_ready(proc)
        yield c
    finally:
        c.stop_all()
        asyncio.run(_delete_topology(prefix))


@pytest.fixture
async def outside(cluster: Cluster, amqp_url: str) -> AsyncIterator[Outside]:
    prefix = cluster.env["MEDIAOPS_AMQP_PREFIX"]
    sub = Outside(amqp_url, f"{prefix}mediaops.events", f"{prefix}outside.e2e")
    await sub.start()
    yield sub
    await sub.stop()


def _proc(cluster: Cluster, name: str) -> Any:
    return next(p for p in cluster.procs if p.name == name)


async def test_the_whole_loop(cluster: Cluster, outside: Outside) -> None:
    settings = Settings(MEDIAOPS_ENV="test")  # the same development signing key as the processes
    workspace = f"e2e-{os.getpid()}-{datetime.now().strftime('%H%M%S%f')}"
    tokens = {
        role: mint_token(settings, workspace=workspace, roles=roles, sub=sub, ttl_s=3600)
        for role, (sub, roles) in ROLES.items()
    }
    urls = Urls(
        **{name: _proc(cluster, name).url for name in SERVICES},
        sandbox=_proc(cluster, "sandbox").url,
    )
    narrator = Narrator()
    loop = Loop(urls, tokens, Config(workspace=workspace, time_scale=TIME_SCALE), narrator)
    s = loop.s
    http = httpx.AsyncClient(timeout=30)

    async def step(fn: Any) -> Any:
        try:
            return await asyncio.to_thread(fn)
        except BaseException:
            print("\n".join(narrator.lines))
            for proc in cluster.procs:
                if not proc.alive():
                    print(f"--- {proc.name} exited:\n{proc.tail()}")
            raise

    try:
        # 1. the workspace and the team
        ws = await step(loop.setup_workspace)
        assert ws["id"] == workspace and ws["timezone"] == TZ
        assert {m["user_id"] for m in s.members} == {sub for sub, _ in ROLES.values()}

        # 2. plan: goal, pillars, campaign, topics approved
        await step(loop.plan)
        assert s.goal["status"] == "active" and s.goal["metric"] == "engagements"
        assert s.goal["progress"]["current"] == 0
        assert [p["name"] for p in s.pillars] == ["product tips", "brand stories", "community"]
        assert s.campaign["status"] == "live" and s.campaign["goal_ids"] == [s.goal["id"]]
        assert {t["status"] for t in s.topics.values()} == {"approved"}
        assert all(t["goal_id"] == s.goal["id"] for t in s.topics.values())

        # 3. accounts and content
        await step(loop.connect_accounts)
        assert {a["channel"] for a in s.accounts.values()} == {"sandbox", "rss"}
        assert s.accounts["weibo"]["settings"]["handle"] == f"{workspace}-weibo"
        await step(loop.create)
        for key, item in s.items.items():
            assert item["status"] == "draft" and item["version"] == 1
            assert item["topic_id"] == s.topics[key]["id"]
            assert set(s.variants[key]) == set(CHANNELS)

        # 4. review: compliance blocks, the fix, two approvals
        await step(loop.review)
        blocked = s.blocked_submit
        assert blocked["item"]["status"] == "in_review"
        assert blocked["review"]["current_stage"] == "compliance"
        assert blocked["review"]["stages"][0]["state"] == "blocked"
        hits = {(f["term"], f["severity"]) for f in blocked["findings"]}
        assert ("国家级", "block") in hits and ("全网最低价", "warn") in hits
        assert {f["field"] for f in blocked["findings"]} >= {"body", "variant:weibo.body"}
        for item in s.items.values():
            assert item["status"] == "approved"
            assert item["approved_hash"] == item["content_hash"]
            assert "全网最低价" not in item["body"]
        reviewers = [r["review"]["stages"] for r in s.reviews]
        assert all(st[1]["approvals"] == ["bob"] for st in reviewers)
        assert reviewers[-1][2]["approvals"] == ["mia"]  # campaign content: the manager too

        # 5. distribute: two workers, ASAP and the planned slot, the sandbox's own record
        await step(loop.distribute)
        await step(loop.publish_weak)
        pubs = s.publications
        assert len(pubs) == 2 * len(CHANNELS) + 2 + 1
        for key, pub in pubs.items():
            assert pub["status"] == "published", (key, pub)
            assert pub["external_id"] and pub["published_at"]
        planned_for = datetime.fromisoformat(s.topics["planned"]["planned_for"])
        for key in ("planned/rss", "planned/mastodon"):
            assert pubs[key]["mode"] == "at"
            assert datetime.fromisoformat(pubs[key]["scheduled_at"]) == planned_for
            assert datetime.fromisoformat(pubs[key]["published_at"]) >= planned_for
        sandbox_pubs = {k: p for k, p in pubs.items() if k != "planned/rss"}
        posts = (await http.get(f"{urls.sandbox}/v1/posts")).json()["posts"]
        assert len(posts) == len(sandbox_pubs)
        by_key = {p["idempotency_key"]: p for p in posts}
        for key, pub in sandbox_pubs.items():
            post = by_key[pub["idempotency_key"]]
            assert post["id"] == pub["external_id"]
            channel = key.split("/")[1]
            assert post["account"] == f"{workspace}-{channel}"
            assert post["text"].startswith(s.items[key.split("/")[0]]["title"])
        summary = (await http.get(f"{urls.sandbox}/v1/summary")).json()
        assert summary["duplicate_keys"] == [] and summary["posts"] == len(sandbox_pubs)
        workers = set()
        for pub in pubs.values():
            attempts = (
                await http.get(
                    f"{urls.publisher}/v1/publications/{pub['id']}/attempts",
                    headers={"Authorization": f"Bearer {tokens['planner']}"},
                )
            ).json()["items"]
            workers |= {a["worker_id"] for a in attempts if a.get("worker_id")}
        assert workers, "no attempt names its worker"
        feed = await http.get(f"{urls.publisher}/v1/feeds/{s.accounts['rss']['id']}.atom")
        assert feed.status_code == 200 and s.items["planned"]["title"] in feed.text

        # 6. analyse: checkpoints, the weak post's diagnosis, the report
        await step(loop.analyse)
        history = s.post_metrics["brew/weibo"]["checkpoints"]
        names = [c["checkpoint"] for c in history]
        assert names[:3] == ["1h", "6h", "24h"]
        impressions = [c["values"]["impressions"] for c in history]
        assert impressions == sorted(impressions) and impressions[0] > 0
        findings = await step(loop.diagnose)
        weak = s.publications[s.weak_key]
        exposure = next(d for d in findings if d["cause"] == "distribution_or_timing")
        assert exposure["metric"] == "impressions" and exposure["checkpoint"] == "24h"
        assert exposure["ratio"] < 0.6 and exposure["sample_size"] >= 5
        assert exposure["severity"] in ("high", "medium")
        await step(loop.report)
        report = s.report
        assert report["period"]["kind"] == "week" and report["period"]["timezone"] == TZ
        assert report["totals"]["engagements"]["current"] > 0
        assert report["bottom_posts"][0]["publication_id"] == weak["id"]
        assert any(
            d["cause"] == "distribution_or_timing" for d in report["bottom_posts"][0]["diagnoses"]
        )
        assert s.report_html.lstrip().lower().startswith("<!doctype html")

        # 7. optimise: goal progress, insights and suggestions back in planning
        await step(loop.insights)
        progress = s.goal_progress
        assert 0 < progress["current"] <= s.metrics_goal["progress"]["current"] + 1e-6
        assert progress["ratio"] == pytest.approx(progress["current"] / s.goal["target"], rel=1e-3)
        kinds = {i["kind"] for i in s.insights}
        assert "goal_at_risk" in kinds and kinds & {"pillar_performance", "topic_performance"}
        assert {x["kind"] for x in s.suggestions} & {"goal_at_risk", "repeat_topic", "best_hours"}
        await step(loop.calendar)
        assert s.ics.startswith("BEGIN:VCALENDAR") and s.items["planned"]["title"] in s.ics
        slots = [e for e in s.calendar["entries"] if e.get("topic_id") == s.topics["planned"]["id"]]
        assert slots and slots[0]["kind"] == "publication"

        # 8. what an outside subscriber saw, as CloudEvents
        expected = {
            "mediaops.planning.goal.created": {s.goal["id"]},
            "mediaops.planning.topic.approved": {t["id"] for t in s.topics.values()},
            "mediaops.content.item.submitted": {i["id"] for i in s.items.values()},
            "mediaops.content.review.decided": {i["id"] for i in s.items.values()},
            "mediaops.content.item.approved": {i["id"] for i in s.items.values()},
            "mediaops.publisher.publication.scheduled": {p["id"] for p in pubs.values()},
            "mediaops.publisher.publication.published": {p["id"] for p in pubs.values()},
            "mediaops.metrics.goal.progressed": {s.goal["id"]},
        }

        def all_seen() -> bool:
            return all(
                want <= {e.get_subject() for e in outside.of(type_, workspace)}
                for type_, want in expected.items()
            ) and bool(outside.of("mediaops.metrics.insight.generated", workspace))

        await asyncio.to_thread(
            wait_for, all_seen, "the contract's events at the outside subscriber", timeout=20
        )
        assert outside.unparsed == []
        for event in outside.events:
            assert event.get_extension("workspaceid"), event.get_type()
            assert event.get_specversion() == "1.0" and event.get_id() and event.get_source()
        published = {
            e.get_subject(): e.get_data()
            for e in outside.of("mediaops.publisher.publication.published", workspace)
        }
        for pub in pubs.values():
            data = published[pub["id"]]
            assert data["external_id"] == pub["external_id"] and data["item_id"] == pub["item_id"]
        approved = outside.of("mediaops.content.item.approved", workspace)
        assert {e.get_data()["content_hash"] for e in approved} >= {
            i["content_hash"] for i in s.items.values()
        }
        decided = outside.of("mediaops.content.review.decided", workspace)
        assert {(e.get_data()["stage"], e.get_data()["decision"]) for e in decided} >= {
            ("review", "approve"),
            ("manager", "approve"),
        }
        progressed = outside.of("mediaops.metrics.goal.progressed", workspace)
        assert progressed[-1].get_data()["current"] > 0
        assert json.dumps(progressed[-1].get_data())  # plain JSON data
    finally:
        loop.http.close()
        await http.aclose()
