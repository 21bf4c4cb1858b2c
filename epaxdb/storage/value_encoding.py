"""An unambiguous, type-tagged byte encoding of SQLite values, for hashing.

Used by the state hash and by the digest of what an interactive transaction observed.
Each tuple is prefixed with its length, each value with a type tag (and a length for
text and blobs), so 1, 1.0, '1' and x'01' differ and no two tuples share an encoding;
floats are encoded by their IEEE-754 bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable


def feed_values(update: Callable[[bytes], object], values: Iterable[object]) -> None:
    """Feed the encoding of one tuple of values to `update` (e.g. a hash's update)."""
    items = tuple(values)
    update(b"R" + len(items).to_bytes(4, "big"))
    for value in items:
        if value is None:
            update(b"N")
        elif isinstance(value, int):
            update(b"I" + value.to_bytes(9, "big", signed=True))
        elif isinstance(value, float):
            update(b"F" + struct.pack(">d", value))
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            update(b"T" + len(data).to_bytes(8, "big") + data)
        elif isinstance(value, bytes):
            update(b"B" + len(value).to_bytes(8, "big") + value)
        else:
            raise TypeError(f"not an SQLite value: {type(value).__name__}")


def encode_values(values: Iterable[object]) -> bytes:
    """The encoding of one tuple of values."""
    parts: list[bytes] = []
    feed_values(parts.append, values)
    return b"".join(parts)
