"""schemathesis against each service's own OpenAPI, over real HTTP to a real process:
zero server errors and zero responses that break their own schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.auth import mint_token
from shared.config import SERVICES, Settings
from tests.support.processes import Cluster

pytestmark = pytest.mark.infra

ALL_ROLES = [
    "manager",
    "planner",
    "editor",
    "reviewer",
    "analyst",
    "designer",
    "video",
    "community",
]


@pytest.fixture(scope="module")
def cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "MEDIAOPS_ENV": "test",
        "MEDIAOPS_WRITE_RATE_PER_MINUTE": "1000000",
        "MEDIAOPS_LOG_LEVEL": "WARNING",
        "MEDIAOPS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
    }
    env.pop("AMQP_URL", None)
    c = Cluster(env=env, log_dir=tmp_path_factory.mktemp("logs"))
    procs = {name: c.service(name) for name in SERVICES}
    for proc in procs.values():
        c.wait_ready(proc)
    yield procs
    c.stop_all()


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_errors_and_responses_match_their_schema(cluster, service, tmp_path: Path):  # type: ignore[no-untyped-def]
    token = mint_token(Settings(), workspace="fuzz", roles=ALL_ROLES, sub="fuzzer")
    proc = cluster[service]
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{proc.url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "-H",
        f"Authorization: Bearer {token}",
        "--max-examples",
        os.environ.get("FUZZ_MAX_EXAMPLES", "15"),
        "--seed",
        "20261126",
        "--workers",
        "2",
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, (
        f"schemathesis found problems in {service}:\n{output}\n{proc.tail()}"
    )
