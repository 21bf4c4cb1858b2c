"""The run's trace: one fixed-column line per event, kept in a bounded ring.

Events are stored as tuples and formatted only when someone reads them (a failure,
or a test comparing two runs), because formatting every message of a run would cost
more than simulating it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from epaxdb.command import Command
from epaxdb.ids import Ballot, InstanceId
from epaxdb.records import FloorRecord, InstanceRecord


class Trace:
    def __init__(self, limit: int | None = 100) -> None:
        self._events: deque[tuple[float, str, str, Any]] = deque(maxlen=limit)

    def add(self, time_ms: float, where: str, what: str, detail: Any = "") -> None:
        self._events.append((time_ms, where, what, detail))

    def lines(self) -> list[str]:
        return [
            f"{time_ms:12.3f}  {where:<8} {what:<10} {describe(detail)}"
            for time_ms, where, what, detail in self._events
        ]


def describe(value: Any) -> str:
    """A short, stable rendering of a message, record, command or plain value."""
    if isinstance(value, str):
        return value
    if isinstance(value, Command):
        return value.request_id
    if isinstance(value, list):  # records made durable together: one compact line
        return " ".join(_record_summary(v) for v in value)
    if isinstance(value, tuple):
        return " ".join(describe(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        parts = []
        for name in value.__dataclass_fields__:
            field = getattr(value, name)
            if name in ("batch", "initial_batch") and field is not None:
                parts.append(f"{name}=[{','.join(c.request_id for c in field)}]")
            elif name in ("deps", "initial_deps") and field is not None:
                ids = ",".join(str(i) for i in sorted(field.ids))
                parts.append(f"{name}={{{ids}}}/{list(field.floor)}")
            else:
                parts.append(f"{name}={_plain(field)}")
        return f"{type(value).__name__}({' '.join(parts)})"
    return str(value)


def _record_summary(record: Any) -> str:
    if isinstance(record, InstanceRecord):
        return f"{record.instance_id}:{record.phase.name}@{record.ballot}/{record.accepted_ballot}"
    if isinstance(record, FloorRecord):
        return f"floor{list(record.floor)}"
    return describe(record)


def _plain(value: Any) -> str:
    if isinstance(value, (InstanceId, Ballot)):
        return str(value)
    if hasattr(value, "name") and hasattr(value, "value"):  # an enum
        return str(value.name)
    if isinstance(value, tuple):
        return "(" + ",".join(_plain(v) for v in value) + ")"
    return str(value)
