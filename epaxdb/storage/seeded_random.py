"""random() and randomblob() driven by the transaction's seed.

Theory of operation: app-defined functions registered under a built-in's name and arity
replace the built-in for that connection, including inside triggers, views and column
defaults. Both are registered non-deterministic, so SQLite calls them once per
evaluation (per row): `UPDATE t SET r = random()` gives each row its own value, and
`ORDER BY random()` draws one value per row, all in the same order on every replica
because the query plan and the data are the same.

The generator is fully specified, independent of Python's `random` module:
key = BLAKE2b-256(personalisation "epaxdb-random", decimal text of the seed), and the
n-th call (n = 0, 1, ...) produces SHAKE-256(key || n as 8 little-endian bytes)
truncated to the bytes it needs (8 for random(), N for randomblob(N)). Any
implementation in any language reproduces it.
"""

from __future__ import annotations

import hashlib
import math
import re

import apsw

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
# The numeric prefix SQLite accepts when a text argument is used as an integer.
_NUMERIC_PREFIX = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class SeededRandom:
    """A deterministic byte stream; one `draw` per SQL function call."""

    __slots__ = ("_counter", "_key")

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(
            str(seed).encode("ascii"), digest_size=32, person=b"epaxdb-random"
        ).digest()
        self._counter = 0

    def draw(self, size: int) -> bytes:
        block = hashlib.shake_256(self._key + self._counter.to_bytes(8, "little"))
        self._counter += 1
        return block.digest(size)

    def random(self) -> int:
        return int.from_bytes(self.draw(8), "little", signed=True)


class RandomFunctions:
    """Owns the connection's random()/randomblob() overrides and their current stream."""

    def __init__(self, db: apsw.Connection) -> None:
        self._db = db
        self.stream = SeededRandom(0)
        flags = apsw.SQLITE_INNOCUOUS
        db.create_scalar_function("random", self._random, 0, deterministic=False, flags=flags)
        db.create_scalar_function(
            "randomblob", self._randomblob, 1, deterministic=False, flags=flags
        )

    def reseed(self, seed: int) -> None:
        self.stream = SeededRandom(seed)

    def _random(self) -> int:
        return self.stream.random()

    def _randomblob(self, size: object) -> bytes:
        n = _as_sqlite_integer(size)
        n = max(n, 1)  # SQLite's own rule for randomblob()
        if n > self._db.limit(apsw.SQLITE_LIMIT_LENGTH, -1):
            raise apsw.TooBigError("string or blob too big")
        return self.stream.draw(n)


def _as_sqlite_integer(value: object) -> int:
    """The integer SQLite would use for a function argument (sqlite3_value_int64)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _clamp(value)
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        match = _NUMERIC_PREFIX.match(text)
        if match is None:
            return 0
        number = match.group(0).strip()
        if match.group(2) is None and "." not in number:
            return max(_INT64_MIN, min(_INT64_MAX, int(number)))
        return _clamp(float(number))
    return 0  # NULL


def _clamp(value: float) -> int:
    if math.isnan(value):
        return 0
    if value >= 2.0**63:
        return _INT64_MAX
    if value <= -(2.0**63):
        return _INT64_MIN
    return int(value)
