"""Local reads, the catalog for the analyzer, and version facts."""

from __future__ import annotations

import time

import apsw
import pytest

from epaxdb.storage import (
    CatalogRow,
    LocalQueryError,
    RowsResult,
    StateDatabase,
    sqlite_version,
)
from tests.storage.helpers import ok


def test_local_query_reads_the_current_state(db: StateDatabase) -> None:
    ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    assert db.query_local("SELECT v FROM t WHERE id > ?", [1]) == RowsResult(("v",), (("b",),))


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t VALUES (3, 'c')",
        "DELETE FROM t",
        "CREATE TABLE u(x)",
        "PRAGMA user_version = 3",
        "SELECT * FROM _epaxdb_markers",
        "BEGIN",
    ],
)
def test_local_query_refuses_anything_but_reading_user_data(
    db: StateDatabase, statement: str
) -> None:
    ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
    state, count = db.state_hash(), db.executed_count()
    with pytest.raises(LocalQueryError) as refused:
        db.query_local(statement)
    assert refused.value.code == "refused_statement"
    assert (db.state_hash(), db.executed_count()) == (state, count)


def test_local_query_errors_are_typed(db: StateDatabase) -> None:
    with pytest.raises(LocalQueryError) as failed:
        db.query_local("SELECT * FROM missing")
    assert failed.value.code == "SQLITE_ERROR"


def test_local_query_uses_the_real_clock_unless_told_otherwise(db: StateDatabase) -> None:
    ((now,),) = db.query_local("SELECT unixepoch('subsec')").rows
    assert abs(now - time.time()) < 60
    ((fixed,),) = db.query_local("SELECT unixepoch()", timestamp_ms=86_400_000).rows
    assert fixed == 86_400


def test_catalog_rows_list_user_objects_in_creation_order(db: StateDatabase) -> None:
    assert db.catalog_rows() == []
    ok(
        db,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v UNIQUE)",
        "CREATE VIEW tv AS SELECT v FROM t",
    )
    assert db.catalog_rows() == [
        CatalogRow("table", "t", "t", "CREATE TABLE t(id INTEGER PRIMARY KEY, v UNIQUE)"),
        CatalogRow("index", "sqlite_autoindex_t_1", "t", None),
        CatalogRow("view", "tv", "tv", "CREATE VIEW tv AS SELECT v FROM t"),
    ]


def test_schema_version_moves_with_ddl_only(db: StateDatabase) -> None:
    start = db.schema_version()
    ok(db, "CREATE TABLE t(v)")
    after_ddl = db.schema_version()
    ok(db, "INSERT INTO t VALUES (1)")
    assert start < after_ddl == db.schema_version()


def test_fresh_databases_start_at_the_same_schema_version() -> None:
    with StateDatabase.open(":memory:") as first, StateDatabase.open(":memory:") as second:
        assert first.schema_version() == second.schema_version()


def test_sqlite_version_is_the_library_in_use(db: StateDatabase) -> None:
    raw = apsw.Connection(":memory:")
    (expected,) = raw.execute("SELECT sqlite_version()").fetchone()
    raw.close()
    assert sqlite_version() == db.sqlite_version() == expected
