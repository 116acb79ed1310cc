"""Real processes for e2e and fault tests: each service, the relay, workers and the sandbox
started with the `mediaops` command, exactly as deployments run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    port: int | None = None
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        assert self.log_path is not None
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def tail(self, n: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


@dataclass
class Cluster:
    """A set of processes sharing one environment (database, broker, prefix)."""

    env: dict[str, str]
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def add(self, name: str, args: list[str], port: int | None = None) -> Proc:
        proc = Proc(name, args, self.env, port, self.log_dir / f"{name}.log")
        self.procs.append(proc)
        return proc.start()

    def service(self, name: str) -> Proc:
        port = free_port()
        return self.add(name, ["serve", name, "--port", str(port), "--host", "127.0.0.1"], port)

    def wait_ready(self, proc: Proc, path: str = "/readyz", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                r = httpx.get(proc.url + path, timeout=2)
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise AssertionError(f"{proc.name} not ready: {last}\n{proc.tail()}")

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
