"""The embedded default: a PostgreSQL from a pip wheel (pgserver) under `.mediaops/`."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("mediaops.embedded")


def embedded_database_url(data_dir: str) -> str:
    import pgserver  # imported lazily: only `up` without DATABASE_URL needs it

    path = Path(data_dir).resolve() / "pg"
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(path), cleanup_mode=None)  # keep running between runs
    # pgserver answers on a unix socket in its data directory.
    url = f"postgresql://postgres@/postgres?host={path}"
    log.info("embedded PostgreSQL ready", extra={"data_dir": str(path)})
    _ = server
    return url
