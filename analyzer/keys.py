"""Conflict keys and their process-independent encoding.

A `Key` names either one row (`key` = the typed primary-key tuple) or a whole
table (`key` = None). Two keys of the same table conflict when either is whole
or their tuples are equal. The protocol compares keys as strings, so every
typed value has exactly one encoding: compact ASCII JSON with a type tag per
value, so that 7, 7.0, '7' and x'07' never collide and equal values (in
SQLite's sense, as produced by the key rules) always match. Python's `hash()`
is salted per process and is never used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

KeyValue = None | int | float | str | bytes


@dataclass(frozen=True, slots=True)
class Key:
    table: str  # lower case
    key: tuple[KeyValue, ...] | None  # None: the whole table

    @property
    def is_whole_table(self) -> bool:
        return self.key is None


def encode_key(key: tuple[KeyValue, ...]) -> str:
    """The canonical string of a typed key tuple: the compact ASCII JSON of
    [[tag, value], ...] (built by hand: this runs for every key of every command)."""
    parts = []
    for value in key:
        kind = type(value)
        if kind is int:
            parts.append(f'["i",{value}]')
        elif kind is str:
            parts.append(f'["t",{json.dumps(value)}]')
        elif value is None:
            parts.append('["n"]')
        elif kind is float:
            # +0.0 turns -0.0 into 0.0, which SQLite equates with it
            parts.append(f'["r","{(value + 0.0).hex()}"]')  # type: ignore[operator]
        elif kind is bytes:
            parts.append(f'["b","{value.hex()}"]')  # type: ignore[union-attr]
        else:
            raise TypeError(f"not an SQLite value: {value!r}")
    return f"[{','.join(parts)}]"


def conflict_item(key: Key) -> tuple[str, str | None]:
    """The (table, encoded key or None) pair handed to the protocol."""
    return (key.table, None if key.key is None else encode_key(key.key))


def key_value_to_json(value: KeyValue) -> object:
    """A key or parameter value as plain JSON: blobs become {"blob": hex}, and
    non-finite reals {"real": "Infinity"} (JSON has no such numbers)."""
    if type(value) is bytes:
        return {"blob": value.hex()}  # type: ignore[union-attr]
    if type(value) is float and not math.isfinite(value):
        return {"real": repr(value).replace("inf", "Infinity")}
    return value


def json_to_key_value(value: object) -> KeyValue:
    """The inverse of `key_value_to_json`, for values read from JSON input."""
    if isinstance(value, dict):
        if set(value) == {"blob"} and isinstance(value["blob"], str):
            return bytes.fromhex(value["blob"])
        if set(value) == {"real"} and isinstance(value["real"], str):
            return float(value["real"])
        raise TypeError(f'not a value: {value!r} (use {{"blob": "<hex>"}} for a blob)')
    if isinstance(value, (list, tuple)):
        raise TypeError(f"not a value: {value!r}")
    return value  # type: ignore[return-value]


def sort_key(key: Key) -> tuple[str, int, str]:
    """A deterministic order for printing: by table, whole-table first, then value."""
    if key.key is None:
        return (key.table, 0, "")
    return (key.table, 1, encode_key(key.key))
