"""`./run demo` (`python -m demo`): the whole loop on the embedded default, narrated.

Starts `mediaops up` as a subprocess (embedded PostgreSQL under .mediaops/, the in-process
bus, every worker and the sandbox platform) on a free port (or MEDIAOPS_PORT) with time
compressed, waits for the four /readyz, drives the loop through the public API and prints
the addresses to look at afterwards. Each run uses a new workspace (demo-<timestamp>).

  --keep        keep serving after the story (Ctrl-C to stop) so the addresses stay live
  --url URL     drive an instance that is already running (it must run with the same
                MEDIAOPS_TIME_SCALE, else checkpoints take real hours)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from demo.client import TimedOut, Urls, wait_for
from demo.loop import ROLES, Config, Loop, Narrator

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("planning", "content", "publisher", "metrics")
TIME_SCALE = 7200.0  # two hours of a post's life per second: "24 h" after 12 s

# What `up` needs to compress a week into a minute (read by each service's config).
DEMO_ENV = {
    "MEDIAOPS_TIME_SCALE": str(TIME_SCALE),
    "MEDIAOPS_PUBLISHER_POLLER_POLL_S": "0.5",
    "MEDIAOPS_PUBLISHER_SCHEDULER_POLL_S": "0.25",
    "MEDIAOPS_METRICS_ANALYST_INTERVAL_S": "2",
    "MEDIAOPS_METRICS_GOAL_EMIT_MIN_INTERVAL_S": "1",
    "MEDIAOPS_LOG_LEVEL": "WARNING",
}


class Printer(Narrator):
    """Prints the story; progress lines overwrite themselves on a terminal."""

    def __init__(self) -> None:
        super().__init__()
        self.tty = sys.stdout.isatty()
        self.t0 = time.monotonic()
        self._progress = False

    def _clear(self) -> None:
        if self._progress:
            sys.stdout.write("\r\033[K")
            self._progress = False

    def step(self, title: str) -> None:
        super().step(title)
        self._clear()
        print(f"\n[{time.monotonic() - self.t0:5.1f}s] {title}", flush=True)

    def say(self, text: str) -> None:
        super().say(text)
        self._clear()
        print(f"         {text}", flush=True)

    def progress(self, text: str) -> None:
        if self.tty:
            sys.stdout.write(f"\r\033[K         ... {text}")
            sys.stdout.flush()
            self._progress = True


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_up(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **DEMO_ENV, "MEDIAOPS_PORT": str(port)}
    env.setdefault("MEDIAOPS_DATA_DIR", str(ROOT / ".mediaops"))
    # Via `python -m` from the checkout, so `deploy` (the sandbox) is importable even when
    # the installed console script's package mapping predates it.
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes] | None, out: Printer, log: Path) -> None:
    def ready() -> bool:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"mediaops up exited ({proc.returncode}); see {log}")
        try:
            return all(
                httpx.get(f"{base}/{s}/readyz", timeout=2).status_code == 200 for s in SERVICES
            )
        except httpx.HTTPError:
            return False

    wait_for(ready, "the four services' /readyz", timeout=180, interval=0.3, progress=out.progress)


def main() -> int:
    parser = argparse.ArgumentParser(prog="./run demo", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep serving after the story")
    parser.add_argument("--url", help="use a running instance instead of starting one")
    args = parser.parse_args()

    out = Printer()
    workspace = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    proc = None
    data_dir = Path(os.environ.get("MEDIAOPS_DATA_DIR", ROOT / ".mediaops"))
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "demo-up.log"
    if args.url:
        base = args.url.rstrip("/")
    else:
        port = int(os.environ.get("MEDIAOPS_PORT") or free_port())
        base = f"http://127.0.0.1:{port}"
        out.step(f"Starting `mediaops up` on {base} (log: {log})")
        out.say("embedded PostgreSQL, in-process bus, all workers and the sandbox in one process")
        proc = start_up(port, log)
    try:
        wait_ready(base, proc, out, log)
        out.say("the four services answer /readyz")

        from shared.auth import mint_token
        from shared.config import get_settings

        settings = get_settings()
        tokens = {
            role: mint_token(settings, workspace=workspace, roles=roles, sub=sub, ttl_s=12 * 3600)
            for role, (sub, roles) in ROLES.items()
        }
        urls = Urls.gateway(base)
        loop = Loop(urls, tokens, Config(workspace=workspace, time_scale=TIME_SCALE), out)
        state = loop.run()

        report_file = data_dir / f"report-{workspace}.html"
        report_file.write_text(state.report_html, encoding="utf-8")
        start = state.report["period"]["first_day"]
        out.step("Where to look next")
        out.say(
            f"weekly report (HTML): {urls.metrics}/v1/reports?period=week&start={start}&format=html"
        )
        out.say(f"   saved as {report_file}")
        out.say(f"   with the token: export TOKEN={tokens['analyst']}")
        out.say(f"calendar feed (.ics, secret link, no token): {state.feed}")
        out.say("API docs: " + "  ".join(f"{base}/{s}/docs" for s in SERVICES))
        out.say(f"events (AsyncAPI): {base}/asyncapi.json   sandbox posts: {urls.sandbox}/v1/posts")
        out.say(f"the whole loop took {time.monotonic() - out.t0:.0f} s")
        if proc is not None and not args.keep:
            out.say(
                "the server stops now; `./run demo --keep` keeps these addresses live "
                "(the HTML report is saved above)"
            )
        if proc is not None and args.keep:
            out.say("serving until Ctrl-C ...")
            try:
                proc.wait()
            except KeyboardInterrupt:
                pass
        return 0
    except TimedOut as exc:
        print(f"\n\nthe demo timed out: {exc}\nthe server log is {log}", file=sys.stderr)
        return 1
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
