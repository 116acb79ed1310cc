"""HTTP load: wrk when installed (apt install wrk), else a small asyncio keep-alive client.

Both the figure and its ceiling are always measured with the same tool in the same run.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx: int
    tool: str


def run_load(
    url: str,
    *,
    seconds: float = 8,
    connections: int = 32,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> LoadResult:
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, method, headers or {}, body)
    return asyncio.run(_python_load(url, seconds, connections, method, headers or {}, body))


def _wrk(url, seconds, connections, method, headers, body) -> LoadResult:  # type: ignore[no-untyped-def]
    lua = f"""
wrk.method = {json.dumps(method)}
wrk.body = [==[{body or ""}]==]
{"".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" + chr(10) for k, v in headers.items())}
done = function(summary, latency, requests)
  io.write(string.format("JSON {{\\"p50\\": %f, \\"p99\\": %f, \\"non2xx\\": %d}}\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    threads = 2 if connections >= 2 else 1
    proc = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "-s", script, url],
        capture_output=True,
        text=True,
    )
    out = proc.stdout
    if "JSON " not in out:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-800:]} {proc.stderr[-800:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    extra = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
    return LoadResult(rps, extra["p50"], extra["p99"], int(extra["non2xx"]), "wrk")


async def _python_load(url, seconds, connections, method, headers, body) -> LoadResult:  # type: ignore[no-untyped-def]
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    assert m, url
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    payload = (body or "").encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if payload:
        head.append(f"Content-Length: {len(payload)}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    bad = 0

    async def worker() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if not status_line.split()[1].startswith(b"2"):
                bad += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        bad,
        "python",
    )
