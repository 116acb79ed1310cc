"""The `mediaops` command: one entry for every process and operation."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer

from shared.config import SERVICES, Settings, get_settings

app = typer.Typer(help="mediaops: run, migrate and operate the services.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and replay dead-lettered messages.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Long-running processes (relay, workers, consumers) run on uvloop, as uvicorn's API
    processes do: its socket writes cost a fraction of the default loop's, and every
    message is a few database and broker round trips."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _settings() -> Settings:
    return get_settings()


def _ensure_database(settings: Settings) -> Settings:
    """No DATABASE_URL -> the embedded PostgreSQL under the data dir."""
    if settings.database_url or all(settings.service_database_url(s) for s in SERVICES):
        return settings
    from shared.embedded import embedded_database_url

    typer.echo(f"no DATABASE_URL: starting embedded PostgreSQL in {settings.data_dir}/pg", err=True)
    url = embedded_database_url(settings.data_dir)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    return get_settings()


def _migrate(settings: Settings, services: list[str]) -> None:
    from shared.migrations import upgrade

    for name in services:
        url = settings.service_database_url(name)
        if not url:
            raise typer.BadParameter(f"no database URL for {name}")
        upgrade(name, url)


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="Port (default MEDIAOPS_PORT or 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
) -> None:
    """Everything in one process: four services, relay, scheduler, a worker and the sandbox."""
    import uvicorn

    from shared.gateway import create_gateway
    from shared.logging import configure_logging
    from shared.runtime import Runtime, all_roles

    settings = _ensure_database(_settings())
    configure_logging(settings.log_level)
    if not settings.sandbox_url:
        os.environ["MEDIAOPS_SANDBOX_URL"] = f"http://127.0.0.1:{port or settings.port}/sandbox"
        get_settings.cache_clear()
        settings = get_settings()
    _migrate(settings, list(SERVICES))
    runtime = Runtime(settings, SERVICES, roles=all_roles())
    bus = "RabbitMQ" if settings.amqp_url else "in-process bus"
    typer.echo(
        f"mediaops up on http://{host or settings.host}:{port or settings.port} ({bus})",
        err=True,
    )
    uvicorn.run(
        create_gateway(runtime, tune_gc=True),
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        lifespan="on",
    )


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of {', '.join(SERVICES)}")],
    port: Annotated[int, typer.Option()] = 8000,
    host: Annotated[str, typer.Option()] = "0.0.0.0",
    consumers: Annotated[bool, typer.Option(help="Also consume the service's event queue")] = True,
) -> None:
    """One service's HTTP API (and, by default, its event consumers)."""
    import contextlib

    import uvicorn

    from shared.http.app import tune_gc_for_serving
    from shared.logging import configure_logging
    from shared.runtime import Runtime

    settings = _settings()
    configure_logging(settings.log_level)
    roles = {"api", "consumers"} if consumers else {"api"}
    runtime = Runtime(settings, [service], roles=roles)
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    api = module.create_app(runtime.contexts[service])

    @contextlib.asynccontextmanager
    async def lifespan(_app: object):  # type: ignore[no-untyped-def]
        await runtime.start()
        tune_gc_for_serving()
        try:
            yield
        finally:
            await runtime.stop()

    api.router.lifespan_context = lifespan
    uvicorn.run(api, host=host, port=port, log_level="warning")


def _run_roles(services: list[str], roles: set[str], port: int | None) -> None:
    """Run background roles until SIGTERM; optionally serve /healthz, /readyz, /metrics."""
    from shared.logging import configure_logging
    from shared.runtime import Runtime

    settings = _settings()
    configure_logging(settings.log_level)

    async def main() -> None:
        import signal

        runtime = Runtime(settings, services, roles=roles)
        await runtime.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server_task = None
        if port:
            import uvicorn

            from shared.http.app import create_service_app

            ctx = next(iter(runtime.contexts.values()))
            probe = create_service_app(ctx.__class__(**{**ctx.__dict__, "spec": _probe_spec(ctx)}))
            server = uvicorn.Server(
                uvicorn.Config(probe, host="0.0.0.0", port=port, log_level="warning")
            )
            server_task = asyncio.create_task(server.serve())
        await stop.wait()
        if server_task is not None:
            server_task.cancel()
        await runtime.stop()

    run_event_loop(main())


def _probe_spec(ctx):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(ctx.spec, routers=lambda: [])


@app.command()
def relay(
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Limit to these services' outboxes")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Serve /healthz /readyz /metrics here")] = None,
) -> None:
    """The outbox relay (several may run)."""
    _run_roles(list(service or SERVICES), {"relay"}, port)


@app.command()
def worker(
    name: Annotated[
        str,
        typer.Argument(
            help="SERVICE or SERVICE.ROLE, e.g. publisher, publisher.scheduler, metrics.poller"
        ),
    ],
    concurrency: Annotated[int, typer.Option(help="Messages handled at once")] = 20,
    port: Annotated[int | None, typer.Option(help="Serve /healthz /readyz /metrics here")] = None,
) -> None:
    """A service's background worker role."""
    service, _, role = name.partition(".")
    role = role or "worker"
    os.environ["MEDIAOPS_PREFETCH"] = str(concurrency)
    get_settings.cache_clear()
    _run_roles([service], {f"{service}.{role}"}, port)


@app.command()
def migrate(
    services: Annotated[list[str] | None, typer.Argument(help="Default: all")] = None,
) -> None:
    """Apply each service's Alembic migrations (a one-off job in deployments)."""
    settings = _settings()
    _migrate(settings, list(services or SERVICES))
    typer.echo("migrated: " + ", ".join(services or SERVICES))


@app.command()
def makemigration(
    service: str, message: Annotated[str, typer.Option("-m", "--message")] = "change"
) -> None:
    """Autogenerate a migration for SERVICE from its tables (development)."""
    from shared.migrations import revision

    settings = _settings()
    url = settings.service_database_url(service)
    if not url:
        raise typer.BadParameter("set DATABASE_URL")
    revision(service, url, message)


@app.command()
def token(
    workspace: Annotated[str, typer.Option(help="Workspace slug [a-z0-9-]{1,64}")] = "demo",
    roles: Annotated[str, typer.Option(help="Comma-separated roles")] = "manager",
    sub: Annotated[str, typer.Option(help="The user id")] = "dev",
    ttl: Annotated[int, typer.Option(help="Seconds of validity")] = 12 * 3600,
) -> None:
    """Print a development bearer token for the running instance."""
    from shared.auth import mint_token

    try:
        typer.echo(
            mint_token(
                _settings(),
                workspace=workspace,
                roles=[r.strip() for r in roles.split(",") if r.strip()],
                sub=sub,
                ttl_s=ttl,
            )
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@dlq_app.command("list")
def dlq_list(queue: str, limit: int = 100) -> None:
    """List dead-lettered messages of QUEUE (e.g. planning, publisher.dispatch)."""
    from shared.bus import create_bus

    async def main() -> None:
        bus = create_bus(_settings())
        await bus.start()
        try:
            for dl in await bus.dlq_list(queue, limit):
                typer.echo(
                    json.dumps(
                        {
                            "message_id": dl.message_id,
                            "type": dl.routing_key,
                            "attempts": dl.attempts,
                            "error": dl.error,
                        },
                        ensure_ascii=False,
                    )
                )
        finally:
            await bus.close()

    asyncio.run(main())


@dlq_app.command("replay")
def dlq_replay(queue: str, limit: int = 1000) -> None:
    """Send QUEUE's dead letters back to QUEUE (after the fault is fixed)."""
    from shared.bus import create_bus

    async def main() -> None:
        bus = create_bus(_settings())
        await bus.start()
        try:
            n = await bus.dlq_replay(queue, limit)
            typer.echo(f"replayed {n} message(s) to {queue}")
        finally:
            await bus.close()

    asyncio.run(main())


@app.command()
def asyncapi(
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="File (default stdout)")
    ] = None,
) -> None:
    """Print the AsyncAPI 3.0 document generated from the event catalog."""
    from shared.events.asyncapi import build_asyncapi

    settings = _settings()
    text = json.dumps(
        build_asyncapi(
            exchange_events=settings.exchange_events,
            exchange_commands=settings.exchange_commands,
        ),
        indent=2,
        ensure_ascii=False,
    )
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        typer.echo(text)


@app.command("rotate-credentials")
def rotate_credentials() -> None:
    """Re-encrypt every stored secret with the first key of MEDIAOPS_CREDENTIALS_KEYS."""
    from services.publisher.credentials import rotate_credentials as rotate

    settings = _settings()
    url = settings.service_database_url("publisher")
    if not url:
        raise typer.BadParameter("set DATABASE_URL (or PUBLISHER_DATABASE_URL)")
    n = asyncio.run(rotate(url, settings.credentials_keys))
    typer.echo(f"re-encrypted {n} secret(s) with the newest key")


@app.command("rabbitmq-definitions")
def rabbitmq_definitions(
    update: Annotated[
        str | None,
        typer.Option("--update", help="Rewrite the topology of this definitions file in place"),
    ] = None,
) -> None:
    """RabbitMQ definitions (queues, exchanges, bindings, policies) from the code's topology."""
    from shared.bus.definitions import topology_definitions

    generated = topology_definitions(_settings())
    if update:
        with open(update, encoding="utf-8") as fh:
            document = json.load(fh)
        document.update(generated)
        with open(update, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(document, indent=2) + "\n")
        typer.echo(f"updated {update}")
    else:
        typer.echo(json.dumps(generated, indent=2))


@app.command()
def sandbox(port: int = 8900, host: str = "127.0.0.1") -> None:
    """The simulated social network (the outside world for demos and tests)."""
    import uvicorn

    from deploy.sandbox.app import create_sandbox_app

    uvicorn.run(create_sandbox_app(), host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
