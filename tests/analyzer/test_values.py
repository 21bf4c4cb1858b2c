"""Key values are typed exactly as SQLite stores and compares them: checked against
SQLite itself for many declared types and values."""

from __future__ import annotations

import math

import apsw
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.schema import KeyColumn
from analyzer.values import UNKNOWN, Affinity, affinity_of, apply_affinity

DECLARED_TYPES = [
    "INTEGER",
    "INT",
    "FLOATING POINT",
    "TEXT",
    "VARCHAR(5)",
    "BLOB",
    "",
    "REAL",
    "DOUBLE",
    "NUMERIC",
    "DECIMAL(4,2)",
    "BOOLEAN",
]

numbers_as_text = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        [
            "7",
            " 7 ",
            "+7",
            "-0",
            "7.",
            ".5",
            "1e3",
            "1E-2",
            "0x10",
            "1_000",
            "12abc",
            "",
            " ",
            "007",
            "7.0",
            "-7.25e1",
            "9223372036854775807",
            "9223372036854775808",
            "1e400",
            "nan",
            "inf",
        ]
    ),
)
values = st.one_of(
    st.none(),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.sampled_from([0, 1, -1, 7, 1 << 53, (1 << 53) + 1, (1 << 63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 7.0, 7.5, 1e20, 2.0**63, 0.1]),
    numbers_as_text,
    st.text(max_size=6),
    st.binary(max_size=4),
)


def _sqlite_typed(value: object) -> tuple[str, object]:
    kind = type(value)
    name = {type(None): "null", int: "integer", float: "real", str: "text", bytes: "blob"}[kind]
    return name, value


@settings(max_examples=300)
@given(declared=st.sampled_from(DECLARED_TYPES), value=values)
def test_apply_affinity_predicts_what_sqlite_stores(declared: str, value: object) -> None:
    predicted = apply_affinity(value, affinity_of(declared))
    if predicted is UNKNOWN:
        return
    connection = apsw.Connection(":memory:")
    connection.execute(f"CREATE TABLE t(c {declared})")
    connection.execute("INSERT INTO t VALUES (?)", (value,))
    ((kind, stored),) = connection.execute("SELECT typeof(c), c FROM t").fetchall()
    assert (kind, stored) == _sqlite_typed(predicted) or (
        kind == "real" and type(predicted) is float and math.isclose(stored, predicted, rel_tol=0)
    ), (declared, value, predicted, kind, stored)


@settings(max_examples=300)
@given(declared=st.sampled_from(DECLARED_TYPES), stored=values, probe=values)
def test_equal_keys_exactly_when_sqlite_finds_the_row(declared, stored, probe) -> None:
    """For a key column, WHERE k = probe finds the row inserted with `stored` iff the
    converted keys are equal (whenever the analyzer claims to know both). The one
    allowed imprecision is on the safe side: an integer beyond 2**53 that a REAL
    column rounds may share a key with a neighbour that SQLite tells apart."""
    column = KeyColumn("k", affinity_of(declared), False)
    stored_key, probe_key = column.convert(stored), column.convert(probe)
    if stored_key is UNKNOWN or probe_key is UNKNOWN or stored is None or probe is None:
        return
    connection = apsw.Connection(":memory:")
    connection.execute(f"CREATE TABLE t(k {declared} PRIMARY KEY) WITHOUT ROWID")
    connection.execute("INSERT INTO t VALUES (?)", (stored,))
    found = connection.execute("SELECT count(*) FROM t WHERE k = ?", (probe,)).fetchall()[0][0]
    if found:
        assert _same_key(stored_key, probe_key), (declared, stored, probe)
    elif _same_key(stored_key, probe_key):
        assert _rounded_by_real(stored) or _rounded_by_real(probe), (declared, stored, probe)


def _rounded_by_real(value: object) -> bool:
    return type(value) is int and abs(value) > 1 << 53


def _same_key(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def test_rowid_keys_accept_only_integers() -> None:
    rowid = KeyColumn("id", Affinity.INTEGER, True)
    assert rowid.convert("12") == 12 and rowid.convert(12.0) == 12
    assert rowid.convert("x") is UNKNOWN and rowid.convert(1.5) is UNKNOWN
    assert rowid.convert(None) is UNKNOWN and rowid.convert(b"\x01") is UNKNOWN
