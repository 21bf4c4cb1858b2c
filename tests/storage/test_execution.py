"""Executing replicated transactions: results, deterministic failures, idempotence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from epaxdb.errors import InvariantViolation
from epaxdb.storage import (
    BINDING_ERROR,
    REFUSED_STATEMENT,
    RESERVED_ROWID,
    SCHEMA_CHANGED,
    RowsResult,
    StateDatabase,
    TransactionResult,
    WriteResult,
)
from tests.storage.helpers import ok, rows, rows_of, run, txn

OpenDb = Callable[[], StateDatabase]
MAX_ROWID = 2**63 - 1


def make_accounts(db: StateDatabase) -> None:
    ok(
        db,
        "CREATE TABLE acct(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
        " balance INTEGER NOT NULL CHECK (balance >= 0))",
        "INSERT INTO acct VALUES (1, 'ann', 10), (2, 'bob', 5)",
    )


# -- results ----------------------------------------------------------------------------


def test_select_returns_columns_and_rows_even_when_empty(db: StateDatabase) -> None:
    make_accounts(db)
    result = ok(db, "SELECT id, name FROM acct ORDER BY id", "SELECT * FROM acct WHERE 0")
    assert result.statements == (
        RowsResult(("id", "name"), ((1, "ann"), (2, "bob"))),
        RowsResult(("id", "name", "balance"), ()),
    )


def test_writes_report_rows_affected_and_last_insert_rowid(db: StateDatabase) -> None:
    make_accounts(db)
    result = ok(
        db,
        "UPDATE acct SET balance = balance + 1",
        "INSERT INTO acct(name, balance) VALUES ('cy', 0)",
        "CREATE INDEX acct_balance ON acct(balance)",
        "INSERT INTO acct(name, balance) VALUES ('di', 1) RETURNING id",
    )
    assert result.statements == (
        WriteResult(rows_affected=2, last_insert_rowid=0),
        WriteResult(rows_affected=1, last_insert_rowid=3),
        # DDL changes no row, although SQLite's changes() still reports the INSERT.
        WriteResult(rows_affected=0, last_insert_rowid=3),
        RowsResult(("id",), ((4,),)),
    )


def test_connection_state_functions_start_every_transaction_at_zero(db: StateDatabase) -> None:
    make_accounts(db)
    result = ok(db, "SELECT changes(), last_insert_rowid()")
    assert result.statements == (RowsResult(("changes()", "last_insert_rowid()"), ((0, 0),)),)


def test_named_parameters_accept_keys_with_or_without_prefix(db: StateDatabase) -> None:
    result = ok(
        db,
        ("SELECT :a, @b, $c", {"a": 1, "@b": b"\x00", "$c": 2.5}),
        ("SELECT ?2, ?1", ["x", None]),
    )
    assert [rows_of(result, 0), rows_of(result, 1)] == [((1, b"\x00", 2.5),), ((None, "x"),)]


def test_result_survives_its_msgpack_encoding() -> None:
    result = TransactionResult(
        "r",
        (
            RowsResult(("a", "b"), ((1, 2.5), (None, b"\x00\xff"), ("text", -(2**63)))),
            WriteResult(3, 7),
        ),
    )
    assert TransactionResult.decode("r", result.encode()) == result


# -- deterministic failures ---------------------------------------------------------------


def test_constraint_violation_rolls_back_every_statement_alike_on_two_replicas(
    open_db: OpenDb,
) -> None:
    failing = txn(
        "UPDATE acct SET balance = balance - 5 WHERE id = 1",
        "INSERT INTO acct VALUES (3, 'cy', 1)",
        "INSERT INTO acct VALUES (4, 'ann', 1)",
    )
    results, hashes = [], []
    for _ in range(2):
        db = open_db()
        make_accounts(db)
        results.append(db.execute_transaction(failing))
        hashes.append(db.state_hash())
    assert results[0] == results[1]
    error = results[0].error
    assert error is not None
    assert (error.code, error.statement_index) == ("SQLITE_CONSTRAINT_UNIQUE", 2)
    assert "acct.name" in error.message
    # The failed transaction leaves the state of an empty one: same content, one more
    # executed transaction.
    empty = open_db()
    make_accounts(empty)
    ok(empty)
    assert hashes == [empty.state_hash()] * 2


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("INSERT INTO acct VALUES (9, NULL, 1)", "SQLITE_CONSTRAINT_NOTNULL"),
        ("UPDATE acct SET balance = -1 WHERE id = 2", "SQLITE_CONSTRAINT_CHECK"),
        ("INSERT INTO acct VALUES (1, 'dup', 1)", "SQLITE_CONSTRAINT_PRIMARYKEY"),
        ("INSERT INTO acct VALUES ('not a number', 'x', 1)", "SQLITE_MISMATCH"),
        ("INSERT INTO nosuch VALUES (1)", "SQLITE_ERROR"),
        ("SELECT 1 +", "SQLITE_ERROR"),
    ],
)
def test_deterministic_failures_are_results_with_the_sqlite_code(
    db: StateDatabase, statement: str, code: str
) -> None:
    make_accounts(db)
    before = rows(db, "SELECT * FROM acct ORDER BY id")
    result = run(db, "INSERT INTO acct VALUES (5, 'eve', 0)", statement)
    assert result.error is not None
    assert (result.error.code, result.error.statement_index) == (code, 1)
    assert not result.error.retryable
    assert rows(db, "SELECT * FROM acct ORDER BY id") == before


@pytest.mark.parametrize("action", ["ROLLBACK", "ABORT", "FAIL"])
def test_raise_in_a_trigger_fails_the_transaction_and_is_still_recorded(
    db: StateDatabase, action: str
) -> None:
    make_accounts(db)
    ok(
        db,
        "CREATE TABLE audit(n)",
        "CREATE TRIGGER no_eve BEFORE INSERT ON acct WHEN new.name = 'eve'"
        f" BEGIN SELECT RAISE({action}, 'eve is not welcome'); END",
    )
    spec = txn("INSERT INTO audit VALUES (1)", "INSERT INTO acct VALUES (5, 'eve', 0)")
    result = db.execute_transaction(spec)
    assert result.error is not None
    assert (result.error.code, result.error.message) == (
        "SQLITE_CONSTRAINT_TRIGGER",
        "eve is not welcome",
    )
    assert rows(db, "SELECT count(*) FROM audit") == [(0,)]
    assert spec.executed_marker in db.executed_markers()
    assert db.execute_transaction(spec).duplicate


def test_on_conflict_rollback_clause_is_a_deterministic_failure(db: StateDatabase) -> None:
    ok(db, "CREATE TABLE u(x UNIQUE ON CONFLICT ROLLBACK)", "INSERT INTO u VALUES (1)")
    result = run(db, "INSERT INTO u VALUES (2)", "INSERT INTO u VALUES (1)")
    assert result.error is not None and result.error.code == "SQLITE_CONSTRAINT_UNIQUE"
    assert rows(db, "SELECT x FROM u") == [(1,)]
    assert ok(db, "INSERT INTO u VALUES (3)").ok


def test_deferred_foreign_key_violation_fails_at_the_end_of_the_statements(
    db: StateDatabase,
) -> None:
    ok(
        db,
        "CREATE TABLE p(id INTEGER PRIMARY KEY)",
        "CREATE TABLE c(id INTEGER PRIMARY KEY, p REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)",
    )
    result = run(db, "INSERT INTO c VALUES (1, 99)", "SELECT count(*) FROM c")
    assert result.error is not None
    assert (result.error.code, result.error.statement_index) == (
        "SQLITE_CONSTRAINT_FOREIGNKEY",
        None,
    )
    assert rows(db, "SELECT count(*) FROM c") == [(0,)]
    assert ok(db, "INSERT INTO c VALUES (1, 99)", "INSERT INTO p VALUES (99)").ok


@pytest.mark.parametrize(
    ("params", "fragment"),
    [([1, 2], "bindings"), ([{"x": 1}], "type"), ([2**64], "too big"), ({"other": 1}, "a")],
)
def test_bad_parameters_are_a_deterministic_binding_error(
    db: StateDatabase, params: Any, fragment: str
) -> None:
    sql = "SELECT :a" if isinstance(params, dict) else "SELECT ?"
    result = run(db, (sql, params))
    assert result.error is not None
    assert result.error.code == BINDING_ERROR
    assert fragment in result.error.message


# -- schema versions ------------------------------------------------------------------------


def test_schema_version_mismatch_aborts_with_a_recorded_retryable_error(
    db: StateDatabase,
) -> None:
    make_accounts(db)
    analysed_under = db.schema_version()
    ok(db, "ALTER TABLE acct ADD COLUMN note TEXT")
    spec = txn("DELETE FROM acct", schema_version=analysed_under)
    result = db.execute_transaction(spec)
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == (SCHEMA_CHANGED, True)
    assert rows(db, "SELECT count(*) FROM acct") == [(2,)]
    again = db.execute_transaction(spec)
    assert again.duplicate and again.error == result.error


def test_matching_schema_version_executes(db: StateDatabase) -> None:
    make_accounts(db)
    result = run(db, "DELETE FROM acct", schema_version=db.schema_version())
    assert result.statements == (WriteResult(2, 0),)


# -- idempotence and markers ------------------------------------------------------------------


def test_a_retried_request_returns_the_stored_result_without_executing_again(
    db: StateDatabase,
) -> None:
    make_accounts(db)
    first = db.execute_transaction(
        txn("UPDATE acct SET balance = balance + 1 RETURNING balance", request_id="once")
    )
    retry = db.execute_transaction(
        txn("UPDATE acct SET balance = balance + 1 RETURNING balance", request_id="once")
    )
    assert retry.duplicate and not first.duplicate
    assert retry == first
    assert rows(db, "SELECT balance FROM acct ORDER BY id") == [(11,), (6,)]


def test_a_result_names_the_marker_of_the_execution_that_produced_it(
    db: StateDatabase,
) -> None:
    make_accounts(db)
    first = db.execute_transaction(
        txn("UPDATE acct SET balance = 0 WHERE id = 1", request_id="r", marker="0.4.0.1")
    )
    retry = db.execute_transaction(
        txn("UPDATE acct SET balance = 0 WHERE id = 1", request_id="r", marker="2.9.0.1")
    )
    assert (first.marker, retry.marker) == ("0.4.0.1", "0.4.0.1")
    assert retry.duplicate


def test_stored_result_answers_what_became_of_a_request_id(db: StateDatabase) -> None:
    make_accounts(db)
    db.execute_transaction(txn("INSERT INTO acct VALUES (1, 'dup', 0)", request_id="bad",
                               marker="1.2.0.1"))  # fmt: skip
    aborted = db.stored_result("bad")
    assert aborted is not None and aborted.marker == "1.2.0.1"
    assert aborted.error is not None and aborted.error.code == "SQLITE_CONSTRAINT_PRIMARYKEY"
    assert db.stored_result("never-sent") is None


def test_replaying_the_same_instance_changes_nothing(db: StateDatabase) -> None:
    make_accounts(db)
    spec = txn("UPDATE acct SET balance = 0")
    db.execute_transaction(spec)
    state, count = db.state_hash(), db.executed_count()
    assert db.execute_transaction(spec).duplicate
    assert (db.state_hash(), db.executed_count()) == (state, count)


def test_a_retry_under_a_new_marker_records_that_marker(db: StateDatabase) -> None:
    first = txn("SELECT 1", request_id="r", marker=b"instance-1")
    retry = txn("SELECT 1", request_id="r", marker="instance-2")
    db.execute_transaction(first)
    db.execute_transaction(retry)
    assert db.executed_markers() == {b"instance-1", "instance-2"}
    assert db.executed_count() == 2


def test_a_marker_reused_for_another_request_is_an_invariant_violation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    db = StateDatabase.open(path)
    make_accounts(db)
    db.execute_transaction(txn("SELECT 1", marker=b"m"))
    state = db.state_hash()
    with pytest.raises(InvariantViolation):
        db.execute_transaction(txn("DELETE FROM acct", marker=b"m"))
    db.close()
    with StateDatabase.open(path) as reopened:
        assert reopened.state_hash() == state


def test_forgotten_markers_are_gone_and_the_hash_is_unchanged(db: StateDatabase) -> None:
    db.execute_transaction(txn("SELECT 1", request_id="a", marker=b"1"))
    db.execute_transaction(txn("SELECT 1", request_id="b", marker=b"2"))
    state = db.state_hash()
    assert db.forget_markers([b"1", b"nope"]) == 1
    assert db.executed_markers() == {b"2"}
    assert db.state_hash() == state
    assert db.execute_transaction(txn("SELECT 1", request_id="a", marker=b"3")).duplicate


# -- the guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "BEGIN",
        "COMMIT",
        "commit",
        "ROLLBACK",
        "SAVEPOINT s",
        "RELEASE epaxdb_statements",
        "ATTACH ':memory:' AS other",
        "CREATE TEMP TABLE scratch(x)",
        "PRAGMA foreign_keys = OFF",
        "PRAGMA foreign_keys = ON",
        "PRAGMA recursive_triggers = OFF",
        "SELECT total_changes()",
        "SELECT * FROM _epaxdb_applied",
        "UPDATE _epaxdb_position SET executed_count = 0",
        "CREATE TRIGGER t AFTER INSERT ON _epaxdb_markers BEGIN SELECT 1; END",
        "SELECT * FROM dbstat",
        "CREATE VIRTUAL TABLE pages USING dbstat",
        "SELECT 1; SELECT 2",
    ],
)
def test_statements_that_cannot_be_replicated_are_refused(
    db: StateDatabase, statement: str
) -> None:
    result = run(db, statement)
    assert result.error is not None
    assert result.error.code == REFUSED_STATEMENT, result.error
    assert db.executed_count() == 1


def test_schema_introspection_and_user_version_pragmas_are_allowed(db: StateDatabase) -> None:
    make_accounts(db)
    result = ok(db, "PRAGMA table_info(acct)", "PRAGMA user_version = 7")
    assert [r[1] for r in rows_of(result)] == ["id", "name", "balance"]
    assert rows(db, "PRAGMA user_version") == [(7,)]


def test_a_reserved_rowid_is_refused_so_sqlite_never_picks_random_rowids(
    db: StateDatabase,
) -> None:
    ok(
        db,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v)",
        "CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, v)",
    )
    for statements in (
        (f"INSERT INTO t VALUES ({MAX_ROWID}, 'max')",),
        (f"INSERT INTO t VALUES ({MAX_ROWID}, 'max'), (NULL, 'random rowid')",),
        ("INSERT INTO t VALUES (1, 'x')", f"UPDATE t SET id = {MAX_ROWID}"),
        (f"INSERT INTO a VALUES ({MAX_ROWID}, 'max'), (NULL, 'full')",),
        ("INSERT INTO a VALUES (1, 'x')", f"UPDATE sqlite_sequence SET seq = {MAX_ROWID}"),
    ):
        result = run(db, *statements)
        assert result.error is not None and result.error.code == RESERVED_ROWID, statements
    assert rows(db, "SELECT count(*) FROM t") == [(0,)]
    assert rows(db, "SELECT count(*) FROM a") == [(0,)]
