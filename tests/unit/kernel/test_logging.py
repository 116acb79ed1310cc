from __future__ import annotations

import json
import logging
import uuid

from shared.http.context import request_id_var
from shared.logging import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    return logging.getLogger("mediaops.http").makeRecord(
        "mediaops.http",
        logging.INFO,
        __file__,
        1,
        "%s %s %s",
        ("GET", "/v1/文", 200),
        None,
        extra=extra,
    )


def test_json_lines_carry_message_request_id_and_extras():
    token = request_id_var.set("rid-1")
    try:
        line = JsonFormatter().format(
            _record(service="content", status=200, ms=1.25, item=uuid.UUID(int=7))
        )
    finally:
        request_id_var.reset(token)
    out = json.loads(line)
    assert "\n" not in line and "文" in line  # one line, UTF-8 kept
    assert out["level"] == "info" and out["logger"] == "mediaops.http"
    assert out["msg"] == "GET /v1/文 200" and out["request_id"] == "rid-1"
    assert (out["service"], out["status"], out["ms"]) == ("content", 200, 1.25)
    assert out["item"] == str(uuid.UUID(int=7))  # not JSON-native: its str()
    assert out["ts"].endswith("+00:00")
    assert "threadName" not in out and "lineno" not in out


def test_values_orjson_refuses_still_log():
    out = json.loads(JsonFormatter().format(_record(huge=2**70)))
    assert out["huge"] == 2**70
