"""The event backbone on real PostgreSQL, on real RabbitMQ and again on the in-process bus."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import func, select, text

from shared.bus import Message
from shared.http.app import create_service_app
from shared.relay import Relay
from tests.conftest import client_for, make_token, settings_for_tests
from tests.support.probe import GOAL_CREATED, PROBE, SINK, Note, Seen, SinkBehaviour

pytestmark = pytest.mark.infra


@pytest.fixture(params=["amqp", "memory"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _reset_sink() -> None:
    SinkBehaviour.failures_left = 0
    SinkBehaviour.always_fail = False
    SinkBehaviour.attempts = []


def settings_for(kind: str, pg_url: str, amqp_url: str | None, **kw):  # type: ignore[no-untyped-def]
    return settings_for_tests(pg_url, amqp_url if kind == "amqp" else None, **kw)


async def seen_count(runtime, goal_id: str) -> int:  # type: ignore[no-untyped-def]
    db = runtime.contexts["probe_sink"].db
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).where(Seen.goal_id == goal_id)) or 0)


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def outbox_rows(runtime, subject: str) -> list:  # type: ignore[no-untyped-def]
    db = runtime.contexts["probe"].db
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, routing_key, envelope, sent_at FROM probe.outbox "
                "WHERE envelope->>'subject' = :s"
            ),
            {"s": subject},
        )
        return list(rows)


async def test_state_change_and_event_commit_together(pg_url, amqp_url, make_runtime, bus_kind):
    settings = settings_for(bus_kind, pg_url, amqp_url)
    runtime = await make_runtime(settings, [PROBE, SINK], roles=["api"])
    app = create_service_app(runtime.contexts["probe"])
    token = make_token(settings)
    async with client_for(app, token) as client:
        r = await client.post("/v1/notes", json={"title": "reads up", "target": 100})
        assert r.status_code == 201, r.text
        note_id = r.json()["id"]
        rows = await outbox_rows(runtime, note_id)
        assert len(rows) == 1
        assert rows[0].routing_key == GOAL_CREATED
        env = rows[0].envelope
        assert env["specversion"] == "1.0" and env["type"] == GOAL_CREATED
        assert env["workspaceid"] == "ws-a" and env["id"] == str(rows[0].id)
        assert env["requestid"] == r.headers["x-request-id"]
        assert env["data"]["goal_id"] == note_id and env["data"]["target"] == 100

        # A request that fails after emitting rolls back both the note and its event.
        before = (await client.get("/v1/notes")).json()["count"]
        r = await client.post(
            "/v1/notes", json={"title": "doomed", "target": 1, "fail_after_emit": True}
        )
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/notes")).json()["count"] == before
        db = runtime.contexts["probe"].db
        async with db.engine.connect() as conn:
            doomed = await conn.scalar(
                text("SELECT count(*) FROM probe.outbox WHERE envelope->'data'->>'name' = 'doomed'")
            )
        assert doomed == 0


async def test_relay_delivers_after_restart_and_effect_is_once(
    pg_url, amqp_url, make_runtime, bus_kind
):
    """Committed rows with no relay running are delivered when a relay starts; a relay that
    crashed after publishing but before marking sent re-publishes, and the inbox dedupes."""
    settings = settings_for(bus_kind, pg_url, amqp_url)
    runtime = await make_runtime(settings, [PROBE, SINK], roles=["api", "consumers"])
    app = create_service_app(runtime.contexts["probe"])
    async with client_for(app, make_token(settings)) as client:
        r = await client.post("/v1/notes", json={"title": "no relay yet", "target": 5})
        goal_id = r.json()["id"]
    await asyncio.sleep(0.3)
    assert await seen_count(runtime, goal_id) == 0  # nothing relayed: no relay is running

    # A relay that dies right after the broker confirmed, before marking the row sent.
    class CrashAfterPublish:
        def __init__(self, bus):  # type: ignore[no-untyped-def]
            self.bus = bus

        async def publish(self, messages):  # type: ignore[no-untyped-def]
            await self.bus.publish(messages)
            raise ConnectionResetError("relay killed after publish")

    ctx = runtime.contexts["probe"]
    crashing = Relay({"probe": ctx.db}, CrashAfterPublish(runtime.bus))  # type: ignore[arg-type]
    with pytest.raises(ConnectionResetError):
        await crashing.drain_once("probe")
    rows = await outbox_rows(runtime, goal_id)
    assert rows[0].sent_at is None  # the crash left it unsent

    relay = Relay({"probe": ctx.db}, runtime.bus)
    assert await relay.drain("probe") >= 1
    await wait_for(lambda: _eq(seen_count(runtime, goal_id), 1))
    await asyncio.sleep(0.3)  # give a duplicate time to show up if dedupe were broken
    assert await seen_count(runtime, goal_id) == 1
    rows = await outbox_rows(runtime, goal_id)
    assert rows[0].sent_at is not None


async def _eq(coro, value) -> bool:  # type: ignore[no-untyped-def]
    return (await coro) == value


async def test_same_event_twice_has_one_effect(pg_url, amqp_url, make_runtime, bus_kind):
    settings = settings_for(bus_kind, pg_url, amqp_url)
    runtime = await make_runtime(settings, [PROBE, SINK], roles=["consumers"])
    ctx = runtime.contexts["probe"]
    goal_id = f"g-dup-{uuid.uuid4().hex[:8]}"
    async with ctx.db.session() as s, s.begin():
        event = await ctx.outbox.emit(
            s,
            GOAL_CREATED,
            {
                "goal_id": goal_id,
                "name": "x",
                "metric": "reads",
                "target": 1,
                "period_start": "2026-01-01T00:00:00Z",
                "period_end": "2026-02-01T00:00:00Z",
            },
            workspace_id="ws-a",
        )
    body = event.model_dump_json().encode()
    msg = Message("events", GOAL_CREATED, body, event.id)
    await runtime.bus.publish([msg])
    await runtime.bus.publish([msg])
    await wait_for(lambda: _eq(seen_count(runtime, goal_id), 1))
    await asyncio.sleep(0.4)
    assert await seen_count(runtime, goal_id) == 1


async def test_failing_handler_retries_then_dead_letters_then_replays_once(
    pg_url, amqp_url, make_runtime, bus_kind
):
    settings = settings_for(bus_kind, pg_url, amqp_url)
    runtime = await make_runtime(settings, [PROBE, SINK], roles=["consumers"])
    SinkBehaviour.always_fail = True
    ctx = runtime.contexts["probe"]
    goal_id = f"g-{uuid.uuid4().hex[:8]}"
    async with ctx.db.session() as s, s.begin():
        event = await ctx.outbox.emit(
            s,
            GOAL_CREATED,
            {
                "goal_id": goal_id,
                "name": "x",
                "metric": "reads",
                "target": 1,
                "period_start": "2026-01-01T00:00:00Z",
                "period_end": "2026-02-01T00:00:00Z",
            },
            workspace_id="ws-a",
        )
    await runtime.bus.publish(
        [Message("events", GOAL_CREATED, event.model_dump_json().encode(), event.id)]
    )

    async def dead_lettered() -> bool:
        return len(await runtime.bus.dlq_list("probe_sink")) == 1

    await wait_for(dead_lettered)
    # Bounded: exactly max_attempts deliveries, with growing back-off between them.
    assert len(SinkBehaviour.attempts) == settings.max_attempts
    gaps = [b - a for a, b in zip(SinkBehaviour.attempts, SinkBehaviour.attempts[1:], strict=False)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095, gaps
    letters = await runtime.bus.dlq_list("probe_sink")
    assert letters[0].message_id == event.id and "sink is broken" in (letters[0].error or "")
    assert await seen_count(runtime, goal_id) == 0

    SinkBehaviour.always_fail = False  # the fault is fixed
    assert await runtime.bus.dlq_replay("probe_sink") == 1
    await wait_for(lambda: _eq(seen_count(runtime, goal_id), 1))
    assert await runtime.bus.dlq_list("probe_sink") == []
    await asyncio.sleep(0.3)
    assert await seen_count(runtime, goal_id) == 1


async def test_event_crosses_processes_over_rabbitmq(pg_url, amqp_url, make_runtime):
    """The producer's runtime relays; a separate runtime (own connection) consumes."""
    settings = settings_for_tests(pg_url, amqp_url)
    producer = await make_runtime(settings, [PROBE], roles=["api", "relay"])
    consumer = await make_runtime(settings, [SINK], roles=["consumers"])
    app = create_service_app(producer.contexts["probe"])
    async with client_for(app, make_token(settings)) as client:
        r = await client.post("/v1/notes", json={"title": "over the wire", "target": 3})
    goal_id = r.json()["id"]

    async def arrived() -> bool:
        async with consumer.contexts["probe_sink"].db.session() as s:
            return bool(await s.scalar(select(func.count()).where(Seen.goal_id == goal_id)))

    started = time.monotonic()
    await wait_for(arrived, timeout=10)
    assert time.monotonic() - started < 5


async def test_poison_message_is_dead_lettered_without_retries(
    pg_url, amqp_url, make_runtime, bus_kind
):
    settings = settings_for(bus_kind, pg_url, amqp_url)
    runtime = await make_runtime(settings, [SINK], roles=["consumers"])
    await runtime.bus.publish([Message("events", GOAL_CREATED, b"{not json", "poison-1")])
    await wait_for(lambda: _len_is(runtime.bus.dlq_list("probe_sink"), 1))
    assert SinkBehaviour.attempts == []


async def _len_is(coro, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await coro) == n


async def test_note_model_rows_are_workspace_scoped(pg_url, make_runtime):
    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(settings, [PROBE], roles=["api"])
    app = create_service_app(runtime.contexts["probe"])
    async with client_for(app, make_token(settings, workspace="ws-a")) as a:
        note = (await a.post("/v1/notes", json={"title": "mine", "target": 1})).json()
    async with client_for(app, make_token(settings, workspace="ws-b")) as b:
        r = await b.get(f"/v1/notes/{note['id']}")
        assert r.status_code == 404
        r = await b.patch(
            f"/v1/notes/{note['id']}", json={"title": "theirs"}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 404
    async with runtime.contexts["probe"].db.session() as s:
        row = await s.get(Note, uuid.UUID(note["id"]))
        assert row is not None and row.title == "mine"


async def test_purge_drops_old_sent_outbox_rows_and_old_inbox_rows_only(pg_url, make_runtime):
    settings = settings_for("memory", pg_url, None)
    runtime = await make_runtime(settings, [PROBE, SINK], roles=[])
    db = runtime.contexts["probe_sink"].db
    old, new = uuid.uuid4(), uuid.uuid4()
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO probe_sink.inbox (consumer, event_id, event_type, received_at) VALUES "
                "('c', :old, 't', now() - interval '8 days'), ('c', :new, 't', now())"
            ),
            {"old": old, "new": new},
        )
        await conn.execute(
            text(
                "INSERT INTO probe_sink.outbox (id, routing_key, envelope, sent_at) VALUES "
                "(:old, 't', '{}', now() - interval '2 days'), (:new, 't', '{}', now()), "
                "(:unsent, 't', '{}', NULL)"
            ),
            {"old": old, "new": new, "unsent": uuid.uuid4()},
        )
    relay = Relay({"probe_sink": db}, runtime.bus)
    await relay.purge_sent("probe_sink")
    async with db.engine.connect() as conn:
        inbox = {r[0] for r in await conn.execute(text("SELECT event_id FROM probe_sink.inbox"))}
        outbox = list(await conn.execute(text("SELECT id, sent_at FROM probe_sink.outbox")))
    assert old not in inbox and new in inbox
    ids = {r.id for r in outbox}
    assert old not in ids and new in ids
    assert any(r.sent_at is None for r in outbox)  # unsent rows are never purged


async def test_a_publish_the_broker_never_confirms_fails_in_time(pg_url, amqp_url):
    """A broker that stops answering (a blocked publisher, a half-dead connection) turns a
    publish into an error after MEDIAOPS_PUBLISH_TIMEOUT_S instead of a wait without end: the
    relay rolls back, keeps its rows and tries again."""
    from shared.bus.amqp import AmqpBus
    from tests.support import infra
    from tests.support.faultproxy import FaultProxy

    proxy = FaultProxy.for_url(amqp_url).start()
    settings = settings_for_tests(pg_url, proxy.rewrite(amqp_url), MEDIAOPS_PUBLISH_TIMEOUT_S=0.5)
    bus = AmqpBus(settings)
    await bus.start()
    try:
        message = Message("events", GOAL_CREATED, b"{}", str(uuid.uuid4()))
        await bus.publish([message])  # confirmed while the broker answers
        proxy.set_mode("blackhole")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await bus.publish([Message("events", GOAL_CREATED, b"{}", str(uuid.uuid4()))])
        assert 0.4 <= time.monotonic() - started < 3
    finally:
        proxy.set_mode("pass")
        proxy.cut()
        await bus.close(grace_s=1)
        await infra.delete_declared(bus)
        proxy.stop()
