"""Interactive transactions in the engine: previews, and commits validated by digest."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from epaxdb.storage import (
    SERIALIZATION_FAILURE,
    PreviewInterrupted,
    PreviewSpec,
    RowsResult,
    StateDatabase,
    StatementRun,
    TransactionError,
    Validation,
    WriteResult,
    observation,
)
from epaxdb.storage.results import Params
from tests.storage.helpers import SEED, T0_MS, ok, rows, run, txn

OpenDb = Callable[[], StateDatabase]
Stmts = tuple[tuple[str, Params], ...]


def stmts(*sql: str | tuple[str, Params]) -> Stmts:
    return tuple((s, ()) if isinstance(s, str) else s for s in sql)


def preview(db: StateDatabase, statements: Stmts, failures: frozenset[int] = frozenset()):
    return db.preview(PreviewSpec(statements, T0_MS, SEED, failures))


def commit(
    db: StateDatabase,
    statements: Stmts,
    seen: StatementRun,
    *,
    failures: frozenset[int] = frozenset(),
    age_ms: int = 0,
    request_id: str | None = None,
    schema_version: int | None = None,
):
    validation = Validation(seen.chain[-1], failures, age_ms=age_ms, max_age_ms=60_000)
    spec = txn(*statements, request_id=request_id, schema_version=schema_version)
    return db.execute_transaction(replace(spec, validation=validation))


def accounts(db: StateDatabase) -> None:
    ok(
        db,
        "CREATE TABLE acct(id INTEGER PRIMARY KEY, name TEXT UNIQUE, balance INTEGER)",
        "CREATE TABLE log(id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT)",
        "INSERT INTO acct VALUES (1, 'ann', 10), (2, 'bob', 5)",
    )


# -- previews leave nothing behind ----------------------------------------------------


def test_preview_leaves_the_state_hash_and_executed_count_unchanged(db: StateDatabase) -> None:
    accounts(db)
    before = db.state_hash()
    seen = preview(
        db,
        stmts(
            "UPDATE acct SET balance = balance - 3 WHERE id = 1",
            "INSERT INTO log(what) VALUES ('withdraw')",
            "CREATE TABLE extra(x)",
            "INSERT INTO extra VALUES (random())",
            "DELETE FROM acct WHERE id = 2",
        ),
    )
    assert seen.failure is None and len(seen.outcomes) == 5
    assert db.state_hash() == before
    assert rows(db, "SELECT * FROM acct ORDER BY id") == [(1, "ann", 10), (2, "bob", 5)]
    assert rows(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'") == [(0,)]
    # The database goes on executing normally; the preview's sequence value is gone too.
    result = ok(db, "INSERT INTO log(what) VALUES ('real')")
    assert result.statements == (WriteResult(1, 1),)


def test_a_preview_that_rolls_back_the_whole_transaction_leaves_nothing(
    db: StateDatabase,
) -> None:
    accounts(db)
    ok(
        db,
        "CREATE TRIGGER no_bob BEFORE DELETE ON acct WHEN old.name = 'bob' "
        "BEGIN SELECT RAISE(ROLLBACK, 'bob stays'); END",
    )
    before = db.state_hash()
    seen = preview(db, stmts("UPDATE acct SET balance = 0", "DELETE FROM acct WHERE id = 2"))
    assert seen.rolled_back and seen.failure is not None
    assert seen.failure.statement_index == 1 and "bob stays" in seen.failure.message
    assert db.state_hash() == before
    ok(db, "UPDATE acct SET balance = 1 WHERE id = 1")


def test_preview_sees_its_own_earlier_writes(db: StateDatabase) -> None:
    accounts(db)
    seen = preview(
        db,
        stmts(
            "UPDATE acct SET balance = balance + 100 WHERE id = 2",
            "INSERT INTO acct(name, balance) VALUES ('cy', 1)",
            "SELECT id, balance FROM acct ORDER BY id",
        ),
    )
    assert seen.outcomes == (
        WriteResult(1, 0),
        WriteResult(1, 3),
        RowsResult(("id", "balance"), ((1, 10), (2, 105), (3, 1))),
    )


def test_preview_past_its_deadline_is_interrupted_and_changes_nothing(db: StateDatabase) -> None:
    accounts(db)
    before = db.state_hash()
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    spec = PreviewSpec(stmts("UPDATE acct SET balance = 0", endless), T0_MS, SEED)
    started = time.monotonic()
    with pytest.raises(PreviewInterrupted):
        db.preview(spec, deadline=started + 0.2)
    assert time.monotonic() - started < 5
    assert db.state_hash() == before
    ok(db, "UPDATE acct SET balance = 1 WHERE id = 1")


# -- commits validated by the digest ----------------------------------------------------


def test_commit_with_the_previewed_digest_applies_with_the_same_clock_and_randomness(
    open_db: OpenDb,
) -> None:
    db = open_db()
    accounts(db)
    statements = stmts(
        "SELECT balance FROM acct WHERE id = 1",
        ("UPDATE acct SET balance = ? WHERE id = 1", (7,)),
        "INSERT INTO log(what) VALUES (datetime('now') || ' ' || random()) RETURNING what",
    )
    seen = preview(db, statements)
    result = commit(db, statements, seen)
    assert result.ok, result.error
    assert result.statements == seen.outcomes
    assert rows(db, "SELECT balance FROM acct WHERE id = 1") == [(7,)]


def test_commit_whose_reads_changed_fails_and_applies_nothing(open_db: OpenDb) -> None:
    db = open_db()
    accounts(db)
    statements = stmts(
        "SELECT balance FROM acct WHERE id = 1",
        "UPDATE acct SET balance = 10 - 4 WHERE id = 1",
        "INSERT INTO log(what) VALUES ('withdraw 4')",
    )
    seen = preview(db, statements)
    ok(db, "UPDATE acct SET balance = 3 WHERE id = 1")  # a concurrent writer, ordered first
    before = rows(db, "SELECT * FROM acct ORDER BY id") + rows(db, "SELECT * FROM log")
    result = commit(db, statements, seen, request_id="rmw")
    assert result.error is not None
    assert result.error.code == SERIALIZATION_FAILURE and result.error.retryable
    assert rows(db, "SELECT * FROM acct ORDER BY id") + rows(db, "SELECT * FROM log") == before
    retried = commit(db, statements, preview(db, statements), request_id="rmw")
    assert retried.duplicate and retried.error == result.error


def test_a_write_that_now_affects_other_rows_fails_validation(open_db: OpenDb) -> None:
    db = open_db()
    accounts(db)
    statements = stmts("UPDATE acct SET balance = 0 WHERE balance > 4")
    seen = preview(db, statements)
    assert seen.outcomes == (WriteResult(2, 0),)
    ok(db, "UPDATE acct SET balance = 1 WHERE id = 2")
    result = commit(db, statements, seen)
    assert result.error is not None and result.error.code == SERIALIZATION_FAILURE
    assert rows(db, "SELECT balance FROM acct ORDER BY id") == [(10,), (1,)]


def test_a_statement_that_failed_for_the_client_must_fail_alike(open_db: OpenDb) -> None:
    db = open_db()
    accounts(db)
    statements = stmts(
        "INSERT INTO acct(name, balance) VALUES ('ann', 0)",  # fails: ann exists
        "UPDATE acct SET balance = balance + 1 WHERE name = 'ann'",
    )
    failed = preview(db, statements[:1])
    assert failed.failure is not None and failed.failure.code == "SQLITE_CONSTRAINT_UNIQUE"
    seen = preview(db, statements, frozenset({0}))
    assert seen.failure is None and isinstance(seen.outcomes[0], TransactionError)
    result = commit(db, statements, seen, failures=frozenset({0}))
    assert result.ok and result.statements == (WriteResult(1, 0),)  # the failure is not a result

    ok(db, "DELETE FROM acct WHERE name = 'ann'")
    again = preview(db, statements[:1])  # no longer fails: the client's view is stale
    assert again.failure is None
    result = commit(db, statements, seen, failures=frozenset({0}))
    assert result.error is not None and result.error.code == SERIALIZATION_FAILURE
    assert rows(db, "SELECT name FROM acct ORDER BY id") == [("bob",)]


def test_an_expired_transaction_fails_without_running(db: StateDatabase) -> None:
    accounts(db)
    statements = stmts("UPDATE acct SET balance = 0 WHERE id = 1")
    result = commit(db, statements, preview(db, statements), age_ms=60_001)
    assert result.error is not None and result.error.code == SERIALIZATION_FAILURE
    assert "60001 ms" in result.error.message
    assert rows(db, "SELECT balance FROM acct WHERE id = 1") == [(10,)]


def test_a_schema_change_fails_an_interactive_commit_as_a_serialization_failure(
    db: StateDatabase,
) -> None:
    accounts(db)
    version = db.schema_version()
    statements = stmts("UPDATE acct SET balance = 0 WHERE id = 1")
    seen = preview(db, statements)
    ok(db, "CREATE INDEX acct_balance ON acct(balance)")
    result = commit(db, statements, seen, schema_version=version)
    assert result.error is not None and result.error.code == SERIALIZATION_FAILURE
    assert result.error.retryable


# -- the digest ---------------------------------------------------------------------------


def test_replicas_with_different_row_orders_compute_the_same_digest(open_db: OpenDb) -> None:
    forward, backward = open_db(), open_db()
    for db in (forward, backward):
        ok(db, "CREATE TABLE t(x TEXT, y)", "INSERT INTO t VALUES ('b', 2), ('a', 1), ('c', 3)")
    # Same logical content, but unordered SELECTs come back reversed on one of them.
    backward._db.execute("PRAGMA reverse_unordered_selects = 1")
    statements = stmts("SELECT x, y FROM t")
    one, other = preview(forward, statements), preview(backward, statements)
    assert one.outcomes != other.outcomes  # the rows really come in another order
    assert one.chain == other.chain
    assert commit(backward, statements, one).ok


def test_the_digest_tells_apart_values_columns_and_outcomes() -> None:
    def chain(*outcomes: object) -> bytes:
        link = observation.INITIAL
        for outcome in outcomes:
            link = observation.extend(link, outcome)  # type: ignore[arg-type]
        return link

    rows_ = RowsResult(("a",), ((1,), (2,)))
    assert chain(rows_) == chain(RowsResult(("a",), ((2,), (1,))))
    assert chain(rows_) != chain(RowsResult(("a",), ((1,), (2,), (2,))))
    assert chain(rows_) != chain(RowsResult(("b",), ((1,), (2,))))
    assert chain(RowsResult(("a",), ((1,),))) != chain(RowsResult(("a",), ((1.0,),)))
    assert chain(WriteResult(1, 0)) != chain(WriteResult(0, 1))
    one, zero = WriteResult(1, 0), WriteResult(0, 0)
    assert chain(one, zero) != chain(zero, one)
    assert chain(TransactionError("X", "m")) != chain(TransactionError("Y", "m"))
    assert chain() == observation.INITIAL != chain(RowsResult((), ()))


def test_non_interactive_transactions_are_unchanged_by_the_runner(db: StateDatabase) -> None:
    accounts(db)
    result = run(db, "UPDATE acct SET balance = 1", "INSERT INTO acct VALUES (1, 'x', 0)")
    assert result.error is not None and result.error.statement_index == 1
    assert rows(db, "SELECT balance FROM acct ORDER BY id") == [(10,), (5,)]
