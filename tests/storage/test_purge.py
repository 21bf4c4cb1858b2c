"""Forgetting stored results: purges, read-only transactions, and databases created
before results carried their execution time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import apsw
import pytest

from epaxdb.storage import (
    REFUSED_STATEMENT,
    SCHEMA_CHANGED,
    PurgeResult,
    PurgeSpec,
    StateDatabase,
    Validation,
    observation,
)
from epaxdb.storage.results import WriteResult
from tests.storage.helpers import T0_MS, ok, rows, txn

HOUR_MS = 3_600_000


def purge(cutoff_ms: int, *, timestamp_ms: int | None = None, marker: str = "purge") -> PurgeSpec:
    stamp = cutoff_ms + HOUR_MS if timestamp_ms is None else timestamp_ms
    return PurgeSpec(f"purge-{marker}", stamp, cutoff_ms, marker)


def stored(db: StateDatabase, *request_ids: str) -> set[str]:
    return {r for r in request_ids if db.stored_result(r) is not None}


def test_a_purge_forgets_exactly_the_results_first_executed_before_its_cutoff(
    db: StateDatabase,
) -> None:
    ok(db, "CREATE TABLE t(x)", request_id="ddl", timestamp_ms=T0_MS)
    for n, at in enumerate((T0_MS + 10, T0_MS + 20, T0_MS + 30)):
        ok(db, ("INSERT INTO t VALUES (?)", [n]), request_id=f"w{n}", timestamp_ms=at)
    # A retry later does not make a result younger: it counts from its first execution.
    assert db.execute_transaction(
        txn("INSERT INTO t VALUES (0)", request_id="w0", timestamp_ms=T0_MS + 99)
    ).duplicate

    result = db.purge_results(purge(T0_MS + 20, marker="p1"))

    assert result == PurgeResult("purge-p1", 2)
    assert result.marker == "p1"
    assert stored(db, "ddl", "w0", "w1", "w2") == {"w1", "w2"}
    assert "p1" in db.executed_markers()
    assert db.stored_result("purge-p1") is None  # a purge needs no stored answer


def test_a_limited_purge_forgets_the_oldest_results_first(db: StateDatabase) -> None:
    ok(db, "CREATE TABLE t(x)", request_id="ddl", timestamp_ms=T0_MS)
    # b and a first executed at the same instant: the request id breaks the tie.
    for request_id, at in (("c", 30), ("b", 10), ("a", 10), ("d", 20), ("late", 90)):
        ok(db, ("INSERT INTO t VALUES (?)", [request_id]), request_id=request_id,
           timestamp_ms=T0_MS + at)  # fmt: skip
    everyone = ("ddl", "a", "b", "c", "d", "late")

    def limited(marker: str) -> PurgeResult:
        return db.purge_results(replace(purge(T0_MS + 50, marker=marker), limit=2))

    assert limited("p1").removed == 2
    assert stored(db, *everyone) == {"b", "c", "d", "late"}  # ddl (T0) and a went first
    assert limited("p2").removed == 2
    assert stored(db, *everyone) == {"c", "late"}
    assert limited("p3").removed == 1
    assert limited("p4").removed == 0
    assert stored(db, *everyone) == {"late"}  # after the cutoff: kept


def test_a_purge_counts_as_one_execution_and_changes_no_content(
    open_db: Callable[[], StateDatabase],
) -> None:
    purged, plain = open_db(), open_db()
    for db in (purged, plain):
        ok(db, "CREATE TABLE t(x)", "INSERT INTO t VALUES (1)", request_id="w")
    purged.purge_results(purge(T0_MS + 1))
    ok(plain, "SELECT 1")  # any other single execution
    assert purged.stored_result("w") is None and plain.stored_result("w") is not None
    assert purged.executed_count() == plain.executed_count() == 2
    assert purged.state_hash() == plain.state_hash()


def test_a_retry_after_its_result_was_purged_applies_again(db: StateDatabase) -> None:
    ok(db, "CREATE TABLE t(x)")
    spec = txn("INSERT INTO t VALUES (1)", request_id="late", timestamp_ms=T0_MS)
    db.execute_transaction(spec)
    db.purge_results(purge(T0_MS + 1))
    again = db.execute_transaction(txn("INSERT INTO t VALUES (1)", request_id="late"))
    assert not again.duplicate
    assert rows(db, "SELECT count(*) FROM t") == [(2,)]


def test_a_read_only_transaction_stores_no_result_and_a_retry_runs_it_again(
    db: StateDatabase,
) -> None:
    ok(db, "CREATE TABLE t(x)", "INSERT INTO t VALUES (1)")
    first = db.execute_transaction(txn("SELECT count(*) FROM t", request_id="q", read_only=True))
    ok(db, "INSERT INTO t VALUES (2)")
    retry = db.execute_transaction(txn("SELECT count(*) FROM t", request_id="q", read_only=True))
    assert first.statements[0].rows == ((1,),)  # type: ignore[union-attr]
    assert retry.statements[0].rows == ((2,),) and not retry.duplicate  # type: ignore[union-attr]
    assert db.stored_result("q") is None
    assert db.executed_count() == 4


def test_a_read_only_transaction_may_not_write(db: StateDatabase) -> None:
    ok(db, "CREATE TABLE t(x)")
    result = db.execute_transaction(txn("INSERT INTO t VALUES (1)", read_only=True))
    assert result.error is not None and result.error.code == REFUSED_STATEMENT
    assert rows(db, "SELECT count(*) FROM t") == [(0,)]


def test_a_read_only_interactive_commit_keeps_its_verdict_for_retries(db: StateDatabase) -> None:
    ok(db, "CREATE TABLE t(x)", "INSERT INTO t VALUES (1)")
    seen = observation.extend(observation.INITIAL, WriteResult(0, 0))  # not what it reads
    spec = txn("SELECT x FROM t", request_id="ro-commit", read_only=True)
    commit = replace(spec, validation=Validation(seen))
    verdict = db.execute_transaction(commit)
    assert verdict.error is not None
    assert db.execute_transaction(commit).duplicate
    assert db.stored_result("ro-commit") == verdict


def test_a_read_only_transaction_run_again_after_a_crash_is_not_counted_twice(
    db: StateDatabase,
) -> None:
    # Its marker exists but no result: what a crash in the middle of an instance's
    # commands leaves, after which the instance executes again.
    spec = txn("SELECT 1", request_id="q", marker="i.0.2", read_only=True)
    db.execute_transaction(spec)
    again = db.execute_transaction(spec)
    assert again.ok and not again.duplicate
    assert db.executed_count() == 1


# -- databases created before results carried their execution time -----------------------------

# The engine's tables as format 1 created them (no executed_ms, no index).
_FORMAT_1_TABLES = (
    (
        "CREATE TABLE _epaxdb_applied(request_id TEXT PRIMARY KEY NOT NULL, marker NOT NULL, "
        "result BLOB NOT NULL) WITHOUT ROWID"
    ),
    "CREATE TABLE _epaxdb_markers(marker PRIMARY KEY NOT NULL) WITHOUT ROWID",
    (
        "CREATE TABLE _epaxdb_position(singleton INTEGER PRIMARY KEY CHECK (singleton = 0), "
        "executed_count INTEGER NOT NULL)"
    ),
    "INSERT INTO _epaxdb_position VALUES (0, 0)",
)


@pytest.fixture
def format_1(tmp_path: Path) -> Path:
    path = tmp_path / "format1.db"
    raw = apsw.Connection(str(path))
    raw.execute("PRAGMA journal_mode = WAL")
    for sql in _FORMAT_1_TABLES:
        raw.execute(sql)
    raw.close()
    return path


def _schema_version(path: Path) -> int:
    raw = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return int(raw.execute("PRAGMA schema_version").fetchone()[0])
    finally:
        raw.close()


def test_opening_an_older_database_leaves_its_schema_version_alone(format_1: Path) -> None:
    # Each replica reopens at its own position in the order: a version bumped there
    # would fail transactions with schema_changed on some replicas only.
    before = _schema_version(format_1)
    StateDatabase.open(format_1).close()
    assert _schema_version(format_1) == before


def test_the_first_purge_gives_older_results_a_time_and_migrates_the_table(
    format_1: Path,
) -> None:
    with StateDatabase.open(format_1) as db:
        ok(db, "CREATE TABLE t(x)", request_id="old", timestamp_ms=T0_MS)
        analysed_under = db.schema_version()
        first = db.purge_results(purge(T0_MS + 10 * HOUR_MS, timestamp_ms=T0_MS + 11 * HOUR_MS,
                                       marker="p1"))  # fmt: skip
        # Kept: its time is unknown, so it counts as executed at the migrating purge.
        assert first.removed == 0 and stored(db, "old") == {"old"}
        # The migration is DDL, at the same point of the order on every replica.
        late = db.execute_transaction(
            txn("INSERT INTO t VALUES (1)", request_id="late", schema_version=analysed_under,
                timestamp_ms=T0_MS + 12 * HOUR_MS)
        )  # fmt: skip
        assert late.error is not None and late.error.code == SCHEMA_CHANGED
        ok(db, "INSERT INTO t VALUES (2)", request_id="new", timestamp_ms=T0_MS + 12 * HOUR_MS)
        second = db.purge_results(purge(T0_MS + 11 * HOUR_MS + 1, marker="p2"))
        assert second.removed == 1 and stored(db, "old", "late", "new") == {"late", "new"}
    with StateDatabase.open(format_1) as db:  # reopened: the table stays migrated
        assert db.purge_results(purge(T0_MS + 13 * HOUR_MS, marker="p3")).removed == 2


def test_a_migration_undone_with_its_batch_is_done_again(format_1: Path) -> None:
    # A RAISE(ROLLBACK) later in the batch undoes the purge's migration too; the engine
    # executes the purge again, which must migrate again.
    with StateDatabase.open(format_1) as db:
        ok(db, "CREATE TABLE u(x UNIQUE ON CONFLICT ROLLBACK)", "INSERT INTO u VALUES (1)")
        results = db.execute_batch([
            purge(T0_MS - 1, marker="p"),
            txn("INSERT INTO u VALUES (1)", request_id="rolled-back", timestamp_ms=T0_MS + 9),
            txn("INSERT INTO u VALUES (2)", request_id="after", timestamp_ms=T0_MS + 5),
        ])  # fmt: skip
        assert [type(r).__name__ for r in results] == [
            "PurgeResult", "TransactionResult", "TransactionResult"
        ]  # fmt: skip
        assert results[1].error is not None  # type: ignore[union-attr]
        assert db.purge_results(purge(T0_MS + 6, marker="p2")).removed == 1  # "after"
        assert stored(db, "rolled-back", "after") == {"rolled-back"}


def test_a_purge_is_worth_proposing_only_when_a_result_is_older_than_its_cutoff(
    db: StateDatabase, format_1: Path
) -> None:
    assert not db.has_results_before(T0_MS + HOUR_MS)  # nothing stored
    ok(db, "CREATE TABLE t(x)", request_id="ddl", timestamp_ms=T0_MS)
    assert not db.has_results_before(T0_MS)
    assert db.has_results_before(T0_MS + 1)
    with StateDatabase.open(format_1) as older:
        # Its results carry no time until the first purge migrates the table: always.
        assert older.has_results_before(0)
