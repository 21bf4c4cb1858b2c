"""The state hash: equal for equal logical content and history, blind to file layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epaxdb.storage import StateDatabase
from tests.storage.helpers import ok, txn

OpenDb = Callable[[], StateDatabase]

SCHEMA = (
    "CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, v)",
    "CREATE TABLE b(id INTEGER PRIMARY KEY AUTOINCREMENT, v)",
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID",
    "CREATE TABLE plain(v)",
    "CREATE INDEX plain_v ON plain(v)",
    "CREATE VIEW both_ AS SELECT v FROM a UNION ALL SELECT v FROM b",
)


def test_non_interfering_transactions_in_either_order_give_the_same_hash(
    open_db: OpenDb,
) -> None:
    # Each is the first insert into its AUTOINCREMENT table, so sqlite_sequence gets its
    # rows in opposite orders (different rowids) on the two replicas.
    into_a = txn("INSERT INTO a(v) VALUES ('x'), ('y')", "INSERT INTO kv VALUES ('a', 1)")
    into_b = txn("INSERT INTO b(v) VALUES (randomblob(4))", "INSERT INTO kv VALUES ('b', 2.5)")
    first, second = open_db(), open_db()
    for db, order in ((first, (into_a, into_b)), (second, (into_b, into_a))):
        ok(db, *SCHEMA)
        for spec in order:
            assert db.execute_transaction(spec).ok
    assert first.state_hash() == second.state_hash()


def test_the_hash_ignores_physical_layout(tmp_path: Path) -> None:
    paths = [tmp_path / "one.db", tmp_path / "two.db"]
    for path in paths:
        with StateDatabase.open(path) as db:
            ok(db, *SCHEMA)
            ok(
                db,
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                " INSERT INTO kv SELECT printf('key%05d', i), randomblob(100) FROM n",
            )
            ok(db, "DELETE FROM kv WHERE substr(k, 8, 1) IN ('1', '3', '5')")
    raw = apsw.Connection(str(paths[1]))
    raw.execute("VACUUM")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    assert paths[0].read_bytes() != paths[1].read_bytes()
    hashes = []
    for path in paths:
        with StateDatabase.open(path) as db:
            hashes.append(db.state_hash())
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("1", "1.0"),
        ("1", "'1'"),
        ("'1'", "x'31'"),
        ("NULL", "''"),
        ("0.3", "0.1 + 0.2"),
        ("'ab'", "'a' || char(0) || 'b'"),
    ],
)
def test_values_of_different_type_or_bytes_hash_differently(
    open_db: OpenDb, one: str, other: str
) -> None:
    hashes = []
    for literal in (one, other):
        db = open_db()
        ok(db, "CREATE TABLE t(v)", f"INSERT INTO t VALUES ({literal})")
        hashes.append(db.state_hash())
    assert hashes[0] != hashes[1]


def test_implicit_rowids_are_part_of_the_state(open_db: OpenDb) -> None:
    first, second = open_db(), open_db()
    ok(first, "CREATE TABLE plain(v)", "INSERT INTO plain(rowid, v) VALUES (1, 'x')")
    ok(second, "CREATE TABLE plain(v)", "INSERT INTO plain(rowid, v) VALUES (2, 'x')")
    assert first.state_hash() != second.state_hash()


def test_the_schema_is_part_of_the_state(open_db: OpenDb) -> None:
    first, second = open_db(), open_db()
    ok(first, "CREATE TABLE t(v)")
    ok(second, "CREATE TABLE t(v)", "CREATE INDEX t_v ON t(v)")
    ok(first, "CREATE TABLE u(v)")  # same executed count on both
    assert first.state_hash() != second.state_hash()


def test_the_executed_count_is_part_of_the_state(open_db: OpenDb) -> None:
    first, second = open_db(), open_db()
    ok(first, "CREATE TABLE t(v)")
    ok(second, "CREATE TABLE t(v)")
    ok(second, "SELECT count(*) FROM t")
    assert first.state_hash() != second.state_hash()


def test_the_hash_is_stable_across_reopening(tmp_path: Path) -> None:
    with StateDatabase.open(tmp_path / "x.db") as db:
        ok(db, *SCHEMA, "INSERT INTO plain VALUES (1), (2.5), ('three'), (x'04'), (NULL)")
        before = db.state_hash()
    with StateDatabase.open(tmp_path / "x.db") as db:
        assert db.state_hash() == before


@settings(max_examples=25)
@given(order=st.permutations(range(4)), seeds=st.lists(st.integers(), min_size=4, max_size=4))
def test_any_order_of_non_interfering_transactions_gives_the_same_hash(
    order: list[int], seeds: list[int]
) -> None:
    # Transaction i touches only table t{i}: AUTOINCREMENT (sqlite_sequence), implicit
    # rowids, random values and the clock, so any execution order is a legal one.
    specs = [
        txn(
            f"INSERT INTO t{i}(v, at) SELECT randomblob(8), CURRENT_TIMESTAMP FROM t{i}_src",
            f"UPDATE t{i} SET v = random() WHERE id % 2 = 0",
            seed=seeds[i],
            timestamp_ms=1_000 * i,
        )
        for i in range(4)
    ]
    schema = [
        statement
        for i in range(4)
        for statement in (
            f"CREATE TABLE t{i}(id INTEGER PRIMARY KEY AUTOINCREMENT, v, at)",
            f"CREATE TABLE t{i}_src(x)",
            f"INSERT INTO t{i}_src VALUES (1), (2), (3)",
        )
    ]
    hashes = []
    for sequence in (range(4), order):
        with StateDatabase.open(":memory:") as db:
            ok(db, *schema)
            for i in sequence:
                assert db.execute_transaction(specs[i]).ok
            hashes.append(db.state_hash())
    assert hashes[0] == hashes[1]
