"""The seeded generator behind random() and randomblob() is the documented one."""

from __future__ import annotations

import hashlib

from epaxdb.storage import StateDatabase
from tests.storage.helpers import ok, rows_of

THREE_ROWS = "WITH n(i) AS (VALUES (1), (2), (3))"


def _documented_stream(seed: int) -> list[bytes]:
    key = hashlib.blake2b(str(seed).encode(), digest_size=32, person=b"epaxdb-random").digest()
    return [hashlib.shake_256(key + n.to_bytes(8, "little")).digest(16) for n in range(3)]


def test_random_draws_are_the_documented_shake256_stream(db: StateDatabase) -> None:
    result = ok(db, f"{THREE_ROWS} SELECT random() FROM n", seed=42)
    expected = [int.from_bytes(b[:8], "little", signed=True) for b in _documented_stream(42)]
    assert [value for (value,) in rows_of(result)] == expected


def test_randomblob_draws_are_the_documented_shake256_stream(db: StateDatabase) -> None:
    result = ok(db, f"{THREE_ROWS} SELECT randomblob(16) FROM n", seed=-42)
    assert [value for (value,) in rows_of(result)] == _documented_stream(-42)


def test_seeds_of_opposite_sign_give_different_streams(db: StateDatabase) -> None:
    positive = ok(db, "SELECT random()", seed=5).statements
    negative = ok(db, "SELECT random()", seed=-5).statements
    assert positive != negative
