"""PEP 249 type constructors and type objects, and the adapters that turn Python
values into the values SQLite stores.

SQLite stores NULL, INTEGER, REAL, TEXT and BLOB; a parameter of any other type
goes through an adapter registered for its exact type (`register_adapter`, as in
sqlite3). `datetime.date` and `datetime.datetime` are adapted to ISO 8601 text
(`2024-05-01`, `2024-05-01 12:30:00`), what sqlite3's default adapters produce,
without their Python 3.12 deprecation warning. Values come back as SQLite has them
(text stays text): there are no declared-type converters over the network.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from epaxdb.client.errors import ProgrammingError

SqlValue = None | int | float | str | bytes
WireParams = list[SqlValue] | dict[str, SqlValue]

Binary = bytes
Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime


def DateFromTicks(ticks: float) -> datetime.date:
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> datetime.time:
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> datetime.datetime:
    return Timestamp(*time.localtime(ticks)[:6])


class DBAPITypeObject:
    """Compares equal to every Python type of the values of its kind. Cursor
    descriptions carry None as their type code, as sqlite3's do: a SQLite column has
    no fixed type, each value has its own."""

    def __init__(self, *types: type) -> None:
        self.types = frozenset(types)

    def __eq__(self, other: object) -> bool:
        return other in self.types

    def __hash__(self) -> int:
        return hash(self.types)

    def __repr__(self) -> str:
        return f"DBAPITypeObject({', '.join(sorted(t.__name__ for t in self.types))})"


STRING = DBAPITypeObject(str)
BINARY = DBAPITypeObject(bytes)
NUMBER = DBAPITypeObject(int, float)
DATETIME = DBAPITypeObject(datetime.date, datetime.time, datetime.datetime)
ROWID = DBAPITypeObject(int)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

adapters: dict[type, Callable[[Any], Any]] = {
    datetime.date: lambda value: value.isoformat(),
    datetime.datetime: lambda value: value.isoformat(" "),
}


def register_adapter(type_: type, adapter: Callable[[Any], Any]) -> None:
    """Adapt parameters of exactly `type_` with `adapter` (for every connection)."""
    adapters[type_] = adapter


def adapt(value: Any, position: int | str) -> SqlValue:
    adapter = adapters.get(type(value))
    if adapter is not None:
        value = adapter(value)
    if value is None or type(value) in (str, float, bytes):
        return value
    if isinstance(value, int):  # bool and IntEnum too, as sqlite3 binds them
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return int(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    raise ProgrammingError(
        f"Error binding parameter {position}: type {type(value).__name__!r} is not supported",
        code="parameter_type",
    )


def adapt_params(params: Sequence[Any] | Mapping[str, Any] | None) -> WireParams:
    """Positional parameters (for `?`, `?NNN`) or named ones (for `:x`, `@x`, `$x`)."""
    if params is None:
        return []
    if isinstance(params, Mapping):
        return {str(name): adapt(value, name) for name, value in params.items()}
    if isinstance(params, (str, bytes, bytearray)) or not isinstance(params, Sequence):
        raise ProgrammingError(
            f"parameters must be a sequence or a mapping, not {type(params).__name__}",
            code="parameter_type",
        )
    return [adapt(value, index + 1) for index, value in enumerate(params)]
