"""Events through outbox -> relay -> RabbitMQ -> consumer with inbox, beside the raw ceiling.

Raw ceiling (same run, same broker): aio-pika publish with confirms (windowed) and a consumer
with manual acks, no database. Ours: events committed to the outbox, published by the relay
with confirms, consumed with an inbox row and the handler's effect in one transaction each.
Latency: a producer commits one event per transaction at a steady rate; the handler records
commit-to-handler time.

    .venv/bin/python -m bench.relay [--events 20000] [--rate 500] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import aio_pika

from bench.common import (
    AMQP_URL,
    delete_topology,
    drop_database,
    fresh_database,
    pct,
    prefix,
    print_table,
    save_results,
)
from shared.bus.amqp import AmqpBus
from shared.cli import run_event_loop
from shared.config import Settings
from shared.db import Database
from shared.events import new_event
from shared.inbox import Inbox
from shared.migrations import upgrade
from shared.outbox import Outbox
from shared.service import ServiceContext, ServiceSpec

TYPE = "mediaops.planning.goal.created"


def payload(i: int) -> dict:
    return {
        "goal_id": f"g{i}",
        "name": "bench",
        "metric": "reads",
        "target": 1,
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-02-01T00:00:00Z",
    }


async def raw_ceiling(n: int) -> float:
    """Publish n persistent messages with confirms (window 500) while consuming with acks."""
    # Not robust: a robust channel re-declares its queues, which left this one behind after
    # the delete below.
    conn = await aio_pika.connect(AMQP_URL)
    ch = await conn.channel(publisher_confirms=True)
    q = await ch.declare_queue(
        f"{prefix()}raw", durable=True, arguments={"x-queue-type": "classic"}
    )
    cch = await conn.channel()
    await cch.set_qos(prefetch_count=300)
    got = 0
    done = asyncio.Event()

    async def on_msg(m: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal got
        await m.ack()
        got += 1
        if got >= n:
            done.set()

    cq = await cch.declare_queue(q.name, durable=True, arguments={"x-queue-type": "classic"})
    tag = await cq.consume(on_msg)
    body = (
        new_event(TYPE, payload(0), workspace_id="bench", source="/bench")
        .model_dump_json()
        .encode()
    )
    started = time.perf_counter()
    for s in range(0, n, 500):
        await asyncio.gather(
            *(
                ch.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=q.name,
                )
                for _ in range(min(500, n - s))
            )
        )
    await done.wait()
    elapsed = time.perf_counter() - started
    await cq.cancel(tag)
    await q.delete(if_unused=False, if_empty=False)
    await conn.close()
    return n / elapsed


def make_ctx(spec: ServiceSpec, settings: Settings, db: Database, bus: AmqpBus) -> ServiceContext:
    return ServiceContext(
        spec=spec,
        settings=settings,
        db=db,
        bus=bus,
        outbox=Outbox(spec.metadata, spec.name),
        inbox=Inbox(spec.metadata),
    )


async def main(args: argparse.Namespace) -> list[dict]:
    from services.metrics.service import SERVICE as METRICS
    from services.planning.service import SERVICE as PLANNING

    name = "mediaops_bench_relay"
    url = await fresh_database(name)
    for svc in ("planning", "metrics"):
        await asyncio.to_thread(upgrade, svc, url)
    settings = Settings(
        MEDIAOPS_ENV="test",
        DATABASE_URL=url,
        AMQP_URL=AMQP_URL,
        MEDIAOPS_AMQP_PREFIX=prefix(),
        MEDIAOPS_QUEUE_TYPE="classic",
        MEDIAOPS_PREFETCH=200,
        MEDIAOPS_RELAY_POLL_S=0.5,
    )
    db = Database(url, pool_size=20)
    bus = AmqpBus(settings)
    await bus.start()
    producer = make_ctx(PLANNING, settings, db, bus)

    received: dict[str, float] = {}
    latencies: list[float] = []
    all_done = asyncio.Event()
    expected = {"n": args.events}

    async def handler(ctx, event) -> None:  # type: ignore[no-untyped-def]
        # The effect: one row in the consumer's own schema (the inbox row is written too).
        received[event.id] = time.time()
        latencies.append(time.time() - event.time.timestamp())
        if len(received) >= expected["n"]:
            all_done.set()

    sink_spec = ServiceSpec(
        name="metrics",
        title="",
        description="",
        metadata=METRICS.metadata,
        routers=lambda: [],
        event_handlers={TYPE: [handler]},
    )
    sink = make_ctx(sink_spec, settings, db, bus)
    from shared.consumer import event_subscription

    sub = event_subscription(sink)
    assert sub is not None
    await bus.subscribe(sub)

    rows = []
    ceiling = await raw_ceiling(args.events)

    # Throughput: commit the events first (in transactions of 100), then relay + consume.
    for s in range(0, args.events, 1000):
        async with db.session() as session, session.begin():
            events = [
                new_event(TYPE, payload(i), workspace_id="bench", source="/bench")
                for i in range(s, min(s + 1000, args.events))
            ]
            await producer.outbox.add(session, events)
    received.clear()
    latencies.clear()
    # The relay runs as its own process, as in production (`mediaops relay`).
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AMQP_URL": AMQP_URL,
        "MEDIAOPS_AMQP_PREFIX": settings.amqp_prefix,
        "MEDIAOPS_QUEUE_TYPE": "classic",
        "MEDIAOPS_LOG_LEVEL": "WARNING",
        "MEDIAOPS_RELAY_POLL_S": "0.5",
    }
    started = time.perf_counter()
    relay_proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
        [sys.executable, "-m", "shared.cli", "relay", "--service", "planning"], env=env
    )
    await asyncio.wait_for(all_done.wait(), 300)
    elapsed = time.perf_counter() - started
    ours = args.events / elapsed
    rows.append(
        {
            "figure": "events through outbox+relay+bus+inbox",
            "ours": ours,
            "ceiling": ceiling,
            "ratio": ours / ceiling,
            "aim": ">= 0.30",
            "unit": "events/s",
        }
    )

    # Latency at a steady rate: one event per transaction, commit-to-handler time.
    received.clear()
    latencies.clear()
    all_done.clear()
    total = int(args.rate * args.seconds)
    expected["n"] = total
    # The producers run in their own process (like a service), so the measuring process
    # only consumes: its latency figure is the pipeline's, not the harness's CPU queue.
    t0 = time.perf_counter()
    producer_proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.relay", "--produce", "--rate", str(args.rate),
        "--seconds", str(args.seconds), env={**env, "BENCH_DATABASE_URL": url},
    )  # fmt: skip
    await producer_proc.wait()
    achieved = total / (time.perf_counter() - t0)
    await asyncio.wait_for(all_done.wait(), 60)
    p50, p99 = pct(latencies, 50) * 1000, pct(latencies, 99) * 1000
    rows.append(
        {
            "figure": f"latency p50 at {achieved:.0f} events/s",
            "ours": p50,
            "ceiling": None,
            "ratio": None,
            "aim": "<= 10",
            "unit": "ms",
        }
    )
    rows.append(
        {
            "figure": f"latency p99 at {achieved:.0f} events/s",
            "ours": p99,
            "ceiling": None,
            "ratio": None,
            "aim": "<= 100",
            "unit": "ms",
        }
    )
    relay_proc.terminate()
    relay_proc.wait(10)
    await bus.close()
    await delete_topology(settings.amqp_prefix)
    await db.dispose()
    await drop_database(name)
    return rows


async def produce_steadily(rate: float, seconds: float) -> None:
    """Commit one event per transaction at `rate` per second (8 concurrent producers)."""
    from services.planning.service import SERVICE as PLANNING

    db = Database(os.environ["BENCH_DATABASE_URL"], pool_size=10)
    outbox = Outbox(PLANNING.metadata, "planning")
    total, interval, producers = int(rate * seconds), 1 / rate, 8
    t0 = time.perf_counter()

    async def produce(k: int) -> None:
        for i in range(k, total, producers):
            async with db.session() as session, session.begin():
                await outbox.emit(session, TYPE, payload(i), workspace_id="bench")
            delay = t0 + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    await asyncio.gather(*(produce(k) for k in range(producers)))
    await db.dispose()


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # the event loop of the processes measured (`mediaops relay`/`worker` run on uvloop)
    if args.produce:
        run_event_loop(produce_steadily(args.rate, args.seconds))
        return
    rows = run_event_loop(main(args))
    save_results("relay", rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)


if __name__ == "__main__":
    cli()
