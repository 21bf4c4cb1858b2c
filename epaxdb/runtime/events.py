"""Structured logs: one JSON object per line and per event.

Every runtime module logs through `log_event(logger, level, event, **fields)`: the
event name is a stable snake_case identifier (`peer_connected`, `storage_failure`)
and the fields are plain JSON values, so a log can be grepped by a human and parsed
by a machine without a format per message. `configure_logging` installs the JSON
formatter on the root logger once, for `epaxdb serve`; tests keep pytest's handlers.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

_FIELDS = "epaxdb_fields"


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS: fields})


class JsonLineFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "logger": ..., "event": ..., <fields>}`."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(self._static)
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure_logging(level: str, static: dict[str, Any], stream: TextIO = sys.stderr) -> None:
    """Send every log record to `stream` as a JSON line carrying `static` fields."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter(static))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
