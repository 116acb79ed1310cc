"""The deployment manifests agree with the code: commands, options, ports, env names, queues.

Parses deploy/compose.yaml, every YAML under deploy/k8s and deploy/rabbitmq/definitions.json
(nothing is run: no Docker engine, no cluster) and checks them against the typer app in
shared.cli, shared.config.Settings, the prefixes `mediaops up` mounts, the topology the AMQP bus
declares and the workers the services really have. A manifest naming a worker, a command or
an option the code does not have fails here, not at deploy time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import typer
import yaml
from starlette.routing import Mount

from shared.bus.amqp import AmqpBus
from shared.cli import app as cli_app
from shared.config import SERVICES, Settings
from shared.events.catalog import COMMANDS
from shared.runtime import Runtime, load_spec, topology

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DEFINITIONS = DEPLOY / "rabbitmq" / "definitions.json"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
IMAGE = "mediaops"  # the k8s image name the kustomize `images` rewrite targets

# Environment names set on containers that are not mediaops settings (documented here).
NON_SETTINGS_ENV = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
}
DUMMY_DB = "postgresql://user:pw@db.invalid:5432/mediaops"


# -- helpers ---------------------------------------------------------------------------------
def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s_docs(folder: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(load_yaml_docs(path))
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")


def resolve(value: Any) -> str:
    """Compose interpolation with an empty environment: `${X:-default}` -> default."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


@dataclass
class Invocation:
    where: str
    path: tuple[str, ...]  # command path, e.g. ("worker",) or ("dlq", "list")
    params: dict[str, Any]


def parse_cli(argv: list[str], where: str) -> Invocation:
    """Parse argv exactly as the `mediaops` entry point would, without running anything."""
    # Typer >= 0.2x vendors click (typer._click): duck-type groups instead of isinstance.
    command: Any = typer.main.get_command(cli_app)
    path: list[str] = []
    args = [str(a) for a in argv]
    while hasattr(command, "list_commands"):
        assert args, f"{where}: {argv} names no command"
        name, args = args[0], args[1:]
        sub = command.get_command(command.context_class(command), name)
        assert sub is not None, f"{where}: `mediaops {name}` is not a command ({argv})"
        command, path = sub, [*path, name]
    try:
        ctx = command.make_context(" ".join(path), list(args), resilient_parsing=False)
    except Exception as exc:  # the CLI's usage errors (unknown option, bad value, ...)
        pytest.fail(f"{where}: `mediaops {' '.join(argv)}` is rejected by the CLI: {exc}")
    return Invocation(where, tuple(path), dict(ctx.params))


def compose() -> dict[str, Any]:
    return load_yaml_docs(COMPOSE)[0]


def compose_app_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if str(svc.get("image", "")).startswith("mediaops")
    }


def mediaops_containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for d in docs:
        if d["kind"] not in {"Deployment", "Job"}:
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["image"] == IMAGE:
                out.append((f"{d['kind']}/{d['metadata']['name']}", c))
    return out


def container_argv(c: dict[str, Any]) -> list[str]:
    assert "command" not in c, "use args: the image's ENTRYPOINT is `mediaops`"
    return [str(a) for a in c["args"]]


def all_invocations() -> list[Invocation]:
    inv = [
        parse_cli(list(svc["command"]), f"compose:{name}")
        for name, svc in compose_app_services().items()
    ]
    inv += [parse_cli(container_argv(c), where) for where, c in mediaops_containers(k8s_docs(BASE))]
    return inv


def settings_aliases() -> set[str]:
    return {f.alias for f in Settings.model_fields.values() if f.alias}


def env_names() -> set[str]:
    """Every environment name the code reads: Settings, plus each service's own tunables
    (`MEDIAOPS_<SERVICE>_<FIELD>` of the config classes in services/<service>/config.py)."""
    import dataclasses
    import importlib
    import importlib.util

    from pydantic_settings import BaseSettings

    names = settings_aliases()
    for service in SERVICES:
        if importlib.util.find_spec(f"services.{service}.config") is None:
            continue
        module = importlib.import_module(f"services.{service}.config")
        for obj in vars(module).values():
            if not isinstance(obj, type) or obj.__module__ != module.__name__:
                continue
            if issubclass(obj, BaseSettings):
                fields = list(obj.model_fields)
            elif dataclasses.is_dataclass(obj):
                fields = [f.name for f in dataclasses.fields(obj)]
            else:
                continue
            names.update(f"MEDIAOPS_{service}_{f}".upper() for f in fields)
    return names


def settings_from_env(env: dict[str, str]) -> Settings:
    """Settings as a process with exactly this environment reads them (JSON lists included)."""
    with pytest.MonkeyPatch.context() as mp:
        for alias in settings_aliases():
            mp.delenv(alias, raising=False)
        for key, value in env.items():
            mp.setenv(key, str(value))
        return Settings()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    """Every service's context (nothing is started: no database or broker is contacted)."""
    settings = settings_from_env({"DATABASE_URL": DUMMY_DB})
    return Runtime(settings, SERVICES, roles={"api"})


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    return json.loads(DEFINITIONS.read_text(encoding="utf-8"))


def worker_queues(runtime: Runtime, service: str, worker: str) -> dict[str, Any]:
    ctx = runtime.contexts[service]
    return {s.queue: s for s in ctx.spec.workers[worker].subscriptions(ctx)}


# -- everything parses -----------------------------------------------------------------------
def test_every_manifest_parses() -> None:
    assert compose()["services"]
    assert json.loads(DEFINITIONS.read_text(encoding="utf-8"))["queues"]
    for path in sorted(K8S.rglob("*.yaml")):
        docs = load_yaml_docs(path)
        assert docs, path
        for d in docs:
            assert {"apiVersion", "kind"} <= set(d), f"{path}: {d}"


def test_dockerfile_one_image_non_root_entrypoint() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M)
    assert 'ENTRYPOINT ["mediaops"]' in text
    assert "pip install ." in text


# -- commands and options --------------------------------------------------------------------
def test_every_command_is_a_real_cli_command_with_accepted_options() -> None:
    invocations = all_invocations()
    assert len(invocations) >= 20  # compose + k8s: services, relay, workers, sandbox, migrate
    used = {i.path for i in invocations}
    assert {("serve",), ("relay",), ("worker",), ("migrate",), ("sandbox",)} <= used


def test_every_service_runs_as_its_own_process() -> None:
    invocations = all_invocations()
    for source in ("compose:", "Deployment/"):
        served = [
            i.params["service"]
            for i in invocations
            if i.path == ("serve",) and i.where.startswith(source)
        ]
        assert sorted(served) == sorted(SERVICES), (source, served)


def test_workers_named_by_the_manifests_exist_in_the_services() -> None:
    """`mediaops worker S.R` must name a Worker in services/S/service.py SERVICE.workers."""
    problems = []
    for inv in all_invocations():
        if inv.path != ("worker",):
            continue
        service, _, role = inv.params["name"].partition(".")
        role = role or "worker"
        if service not in SERVICES:
            problems.append(f"{inv.where}: unknown service {service!r}")
            continue
        known = sorted(load_spec(service).workers)
        if role not in known:
            problems.append(f"{inv.where}: {service}.{role} is not a worker of {service} {known}")
    assert not problems, "\n".join(problems)


def test_every_worker_in_the_code_is_deployed() -> None:
    deployed: dict[str, set[str]] = {"compose": set(), "k8s": set()}
    for inv in all_invocations():
        if inv.path == ("worker",):
            name = (
                inv.params["name"] if "." in inv.params["name"] else f"{inv.params['name']}.worker"
            )
            deployed["compose" if inv.where.startswith("compose") else "k8s"].add(name)
    in_code = {f"{s}.{w}" for s in SERVICES for w in load_spec(s).workers}
    for where, names in deployed.items():
        assert in_code <= names, f"{where} does not run {sorted(in_code - names)}"


def test_compose_runs_the_whole_system() -> None:
    c = compose()
    services = c["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["rabbitmq"]["image"] == "rabbitmq:3.10-management"
    mounts = " ".join(services["rabbitmq"]["volumes"])
    assert "definitions.json:/etc/rabbitmq/definitions.json" in mounts
    assert "rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf" in mounts
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8")
    assert re.search(r"^load_definitions\s*=\s*/etc/rabbitmq/definitions\.json$", conf, re.M)

    apps = compose_app_services()
    argv = {name: [str(a) for a in svc["command"]] for name, svc in apps.items()}
    assert argv["migrate"] == ["migrate"]
    assert apps["migrate"]["restart"] == "no"
    assert argv["relay"][0] == "relay"
    assert argv["sandbox"][:1] == ["sandbox"] and "0.0.0.0" in argv["sandbox"]
    workers = [n for n, a in argv.items() if a[:2] == ["worker", "publisher.worker"]]
    replicas = sum(apps[n].get("deploy", {}).get("replicas", 1) for n in workers)
    assert replicas == 2, "two publisher workers"
    for name, svc in apps.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions"
        for dep, cond in deps.items():
            assert cond["condition"] in {
                "service_healthy",
                "service_completed_successfully",
            }, (name, dep)
        if name not in {"migrate", "sandbox"}:
            assert deps.get("migrate", {}).get("condition") == "service_completed_successfully"
            assert "/readyz" in " ".join(svc["healthcheck"]["test"]), name
        assert svc["environment"] == apps["migrate"]["environment"], f"{name}: one env anchor"


# -- environment names -----------------------------------------------------------------------
def test_compose_env_names_are_settings() -> None:
    aliases = env_names()
    for name, svc in compose()["services"].items():
        env = svc.get("environment") or {}
        allowed = aliases if name in compose_app_services() else NON_SETTINGS_ENV.get(name, set())
        unknown = set(env) - allowed
        assert not unknown, f"compose:{name} sets {sorted(unknown)}: not read by Settings"


def test_compose_env_is_valid_settings() -> None:
    env = {k: resolve(v) for k, v in compose_app_services()["migrate"]["environment"].items()}
    s = settings_from_env(env)
    assert s.database_url and s.amqp_url
    assert urlparse(s.sandbox_url or "").port == 8900
    # And with MEDIAOPS_ENV=production the compose defaults are not the development secrets.
    settings_from_env({**env, "MEDIAOPS_ENV": "production"})


def test_k8s_env_names_are_settings_and_valid() -> None:
    aliases = env_names()
    docs = k8s_docs(BASE)
    config = by_kind(docs, "ConfigMap")["mediaops-config"]["data"]
    secret = by_kind(docs, "Secret")["mediaops-secrets"]["stringData"]
    assert not (set(config) - aliases), sorted(set(config) - aliases)
    assert not (set(secret) - aliases), sorted(set(secret) - aliases)
    assert not (set(config) & set(secret)), "a name is either config or secret"
    s = settings_from_env({**config, **secret})
    assert s.env == "production"
    for where, c in mediaops_containers(docs):
        refs = {next(iter(r.values()))["name"] for r in c.get("envFrom", [])}
        assert refs == {"mediaops-config", "mediaops-secrets"}, where
        for e in c.get("env", []):
            assert e["name"] in aliases, f"{where}: {e['name']}"

    kustom = load_yaml_docs(PRODUCTION / "kustomization.yaml")[0]
    literals = {
        lit.split("=", 1)[0] for g in kustom.get("configMapGenerator", []) for lit in g["literals"]
    }
    assert not (literals - aliases), sorted(literals - aliases)
    example = (PRODUCTION / "secrets.env.example").read_text(encoding="utf-8")
    names = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert set(secret) <= names <= aliases, sorted(names ^ set(secret))


# -- ports and probes ------------------------------------------------------------------------
def _port_of(inv: Invocation) -> int:
    port = inv.params.get("port")
    assert port, f"{inv.where}: give --port so probes can reach the process"
    return int(port)


def test_compose_ports_match_the_port_options() -> None:
    for name, svc in compose_app_services().items():
        inv = parse_cli(list(svc["command"]), f"compose:{name}")
        if inv.path == ("migrate",):
            continue
        port = _port_of(inv)
        health = " ".join(svc["healthcheck"]["test"])
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", health)
        assert urls and all(int(p) == port for p, _ in urls), (name, health)
        for mapping in svc.get("ports", []):
            assert int(str(mapping).rsplit(":", 1)[-1]) == port, (name, mapping)


def test_k8s_probes_ports_and_args_agree() -> None:
    docs = k8s_docs(BASE)
    seen = 0
    for where, c in mediaops_containers(docs):
        inv = parse_cli(container_argv(c), where)
        if inv.path == ("migrate",):
            assert where.startswith("Job/")
            continue
        port = _port_of(inv)
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert list(named.values()) == [port], (where, named, port)
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert live["path"] == "/healthz", where
        expected_ready = "/healthz" if inv.path == ("sandbox",) else "/readyz"
        assert ready["path"] == expected_ready, where
        for probe in (live, ready):
            assert named.get(probe["port"], probe["port"]) == port, (where, probe)
        if inv.path in {("relay",), ("worker",)}:
            assert port == 9000, where
        if inv.path == ("serve",):
            assert port == 8000, where
        seen += 1
    assert seen >= 10


def test_services_select_deployments_and_reach_their_ports() -> None:
    docs = k8s_docs(BASE)
    deployments = by_kind(docs, "Deployment")
    for name, svc in by_kind(docs, "Service").items():
        selector = svc["spec"]["selector"]
        targets = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, f"Service/{name} selects {len(targets)} Deployments"
        ports = {
            p["name"]: p["containerPort"]
            for c in targets[0]["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        for p in svc["spec"]["ports"]:
            target = p["targetPort"]
            assert target in ports or target in ports.values(), (name, target)


# -- ingress ---------------------------------------------------------------------------------
def up_prefixes(runtime: Runtime) -> set[str]:
    from shared.gateway import create_gateway

    gateway = create_gateway(runtime)
    return {r.path for r in gateway.routes if isinstance(r, Mount)}


def test_ingress_prefixes_equal_the_up_mounts(runtime: Runtime) -> None:
    docs = k8s_docs(BASE)
    ingress = by_kind(docs, "Ingress")["mediaops"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
    assert annotations["nginx.ingress.kubernetes.io/use-regex"] == "true"
    services = by_kind(docs, "Service")
    deployments = by_kind(docs, "Deployment")
    prefixes = set()
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            m = re.fullmatch(r"(/[a-z]+)\(/\|\$\)\(\.\*\)", p["path"])
            assert m, f"{p['path']}: expected /prefix(/|$)(.*) so the rewrite strips the prefix"
            prefix = m.group(1)
            prefixes.add(prefix)
            backend = p["backend"]["service"]
            svc = services[backend["name"]]
            assert backend["port"]["number"] in {x["port"] for x in svc["spec"]["ports"]}
            deployment = deployments[svc["spec"]["selector"]["app.kubernetes.io/name"]]
            argv = container_argv(deployment["spec"]["template"]["spec"]["containers"][0])
            inv = parse_cli(argv, f"Ingress {prefix}")
            runs = inv.params.get("service") if inv.path == ("serve",) else inv.path[0]
            assert f"/{runs}" == prefix, f"{prefix} routes to a process running {argv}"
    mounts = up_prefixes(runtime)
    assert mounts == {f"/{s}" for s in SERVICES} | {"/sandbox"}
    assert prefixes == mounts


# -- RabbitMQ topology -----------------------------------------------------------------------
def _queues(definitions: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["name"]: q for q in definitions["queues"]}


def _work_queue_names(runtime: Runtime) -> set[str]:
    """Service queues (named after the service) and every worker subscription queue."""
    names = {load_spec(s).queue for s in SERVICES}
    for ctx in runtime.contexts.values():
        names.update(s.queue for s in topology(ctx))
    return names


def test_definitions_declare_what_the_bus_declares(
    runtime: Runtime, definitions: dict[str, Any]
) -> None:
    """Same names and arguments, or a client's declare fails with PRECONDITION_FAILED."""
    env = {k: resolve(v) for k, v in compose_app_services()["migrate"]["environment"].items()}
    settings = settings_from_env(env)
    bus = AmqpBus(settings)
    queues = _queues(definitions)
    unrouted = f"{settings.amqp_prefix}mediaops.unrouted"

    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges[settings.exchange_events]["type"] == "topic"
    assert exchanges[settings.exchange_events]["arguments"] == {"alternate-exchange": unrouted}
    assert exchanges[settings.exchange_commands]["type"] == "topic"
    assert exchanges[unrouted]["type"] == "fanout"
    assert set(exchanges) == {settings.exchange_events, settings.exchange_commands, unrouted}
    assert queues[unrouted]["arguments"] == {"x-max-length": 10000, "x-overflow": "drop-head"}

    expected = {settings.queue(q) for q in _work_queue_names(runtime)}
    declared_work = {
        n for n in queues if n != unrouted and not re.search(r"\.(dlq|retry\.\d+)$", n)
    }
    assert declared_work == expected, (
        f"definitions.json work queues {sorted(declared_work)} != the code's {sorted(expected)}"
    )
    for name in expected:
        assert queues[name]["durable"] is True
        assert queues[name]["arguments"] == bus._queue_args(name), name
        assert queues[f"{name}.dlq"]["arguments"] == {}, name
        for i, delay in enumerate(settings.retry_delays_ms, start=1):
            assert queues[f"{name}.retry.{i}"]["arguments"] == {
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
            }
    retries = {n for n in queues if re.search(r"\.retry\.\d+$", n)}
    assert len(retries) == len(expected) * len(settings.retry_delays_ms)
    assert {n for n in queues if n.endswith(".dlq")} == {f"{n}.dlq" for n in expected}


def test_definitions_bindings_and_policies(runtime: Runtime, definitions: dict[str, Any]) -> None:
    queues = _queues(definitions)
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    for b in definitions["bindings"]:
        assert b["destination"] in queues, b
    # The command queue must be bound before the first command is published (`mandatory`).
    dispatch_keys = {t for t in COMMANDS if t.startswith("mediaops.publisher.")}
    for key in dispatch_keys:
        assert ("mediaops.commands", "publisher.dispatch", key) in bindings
    # Every binding is one the code makes (a stale one would route events nobody handles).
    allowed = {("mediaops.unrouted", "mediaops.unrouted", "mediaops.unrouted")}
    for ctx in runtime.contexts.values():
        for sub in topology(ctx):
            exchange = "mediaops.events" if sub.exchange == "events" else "mediaops.commands"
            allowed.update((exchange, sub.queue, k) for k in sub.routing_keys)
    allowed.update(("mediaops.commands", "publisher.dispatch", k) for k in dispatch_keys)
    assert bindings <= allowed, sorted(bindings - allowed)

    policies = {p["name"]: p for p in definitions["policies"]}
    dlq = re.compile(policies["mediaops-dead-letters"]["pattern"])
    work = re.compile(policies["mediaops-work-queues"]["pattern"])
    for name in queues:
        assert bool(dlq.search(name)) == name.endswith(".dlq"), name
        is_work = name in _work_queue_names(runtime)
        assert bool(work.search(name)) == is_work, name
    env = {k: resolve(v) for k, v in compose_app_services()["migrate"]["environment"].items()}
    limit = AmqpBus(settings_from_env(env))._queue_args("planning")["x-delivery-limit"]
    assert policies["mediaops-work-queues"]["definition"]["delivery-limit"] == limit
    users = {u["name"] for u in definitions["users"]}
    assert {p["user"] for p in definitions["permissions"]} <= users
    amqp = urlparse(compose_app_services()["migrate"]["environment"]["AMQP_URL"])
    assert amqp.username in users, "compose connects as a user the definitions create"


def test_keda_scales_the_dispatch_workers_on_the_dispatch_queue(runtime: Runtime) -> None:
    docs = k8s_docs(BASE)
    scaled = by_kind(docs, "ScaledObject")["publisher-worker"]
    target = scaled["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    deployment = by_kind(docs, "Deployment")[target["name"]]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    inv = parse_cli(container_argv(container), "KEDA target")
    assert inv.path == ("worker",)
    service, _, role = inv.params["name"].partition(".")
    assert role in load_spec(service).workers, f"{inv.params['name']} does not exist"
    command_queues = {
        q for q, sub in worker_queues(runtime, service, role).items() if sub.exchange == "commands"
    }
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["queueName"] == "publisher.dispatch"
    assert trigger["metadata"]["queueName"] in command_queues
    assert scaled["spec"]["minReplicaCount"] >= 2 and deployment["spec"]["replicas"] == 2
    auth = by_kind(docs, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    secret = by_kind(docs, "Secret")[ref["name"]]
    assert ref["key"] in secret["stringData"] and ref["key"] == "AMQP_URL"


# -- kustomize -------------------------------------------------------------------------------
def test_kustomizations_reference_existing_files_and_targets() -> None:
    base = load_yaml_docs(BASE / "kustomization.yaml")[0]
    listed = set(base["resources"])
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert [i["name"] for i in base["images"]] == [IMAGE]

    docs = k8s_docs(BASE)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    prod = load_yaml_docs(PRODUCTION / "kustomization.yaml")[0]
    assert prod["resources"] == ["../../base"]
    for patch in prod["patches"]:
        for d in load_yaml_docs(PRODUCTION / patch["path"]):
            assert (d["kind"], d["metadata"]["name"]) in names, (patch, d["metadata"])
            for c in d["spec"].get("template", {}).get("spec", {}).get("containers", []):
                assert c["name"] == d["metadata"]["name"], "patch the container by its name"
    for gen in prod.get("secretGenerator", []) + prod.get("configMapGenerator", []):
        kind = "Secret" if gen in prod.get("secretGenerator", []) else "ConfigMap"
        assert (kind, gen["name"]) in names, gen
