"""`./run bench`: every benchmark in one run, one table, figures in bench/results.json.

Each figure is printed beside a raw ceiling measured in the same run on the same machine;
only the ratios compare across runs (the machines are shared and noisy).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time

from bench.common import RESULTS, print_table

# (module, arguments): each module prints its own table and saves its rows.
BENCHES: list[tuple[str, list[str]]] = [
    ("bench.relay", []),
    ("bench.http_api", []),
    ("bench.compliance_scan", []),
    ("bench.publisher_throughput", []),
    ("bench.metrics_ingest", []),
    ("bench.metrics_report", []),
]


def main() -> int:
    only = set(sys.argv[1:])
    if RESULTS.exists():
        RESULTS.unlink()
    failed = []
    for module, args in BENCHES:
        if only and module.split(".")[-1] not in only:
            continue
        try:
            importlib.util.find_spec(module)  # type: ignore[attr-defined]
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(module) is None:  # type: ignore[attr-defined]
            print(f"(skipping {module}: not present)")
            continue
        print(f"\n== {module} ==", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", module, *args])
        print(f"({module} took {time.monotonic() - started:.0f} s)")
        if code != 0:
            failed.append(module)
    if RESULTS.exists():
        data = json.loads(RESULTS.read_text())
        rows = [r for section in data.values() for r in section.get("rows", [])]
        print("\n== all figures ==")
        print_table(rows)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
