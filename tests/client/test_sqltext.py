"""What the client reads in SQL text: script boundaries, transaction control, queries."""

from __future__ import annotations

import sqlite3

import pytest

from epaxdb.client.sqltext import (
    Control,
    has_statement,
    is_query,
    split_script,
    transaction_control,
)

TRIGGER_SCRIPT = """
CREATE TABLE log(x);
CREATE TRIGGER t AFTER INSERT ON log BEGIN
    INSERT INTO log VALUES ('nested; with semicolon');
    SELECT 1;
END;
INSERT INTO log VALUES ("quoted ; identifier-ish"), ('it''s; fine');
-- only a comment at the end; really
"""


def test_script_splits_where_sqlite_ends_statements() -> None:
    statements = split_script(TRIGGER_SCRIPT)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    assert all(sqlite3.complete_statement(s) for s in statements)


def test_script_split_runs_on_stdlib_sqlite_like_executescript() -> None:
    ours = sqlite3.connect(":memory:")
    for statement in split_script(TRIGGER_SCRIPT):
        ours.execute(statement)
    theirs = sqlite3.connect(":memory:")
    theirs.executescript(TRIGGER_SCRIPT)
    query = "SELECT x FROM log ORDER BY rowid"
    assert ours.execute(query).fetchall() == theirs.execute(query).fetchall()


def test_last_statement_may_lack_its_semicolon() -> None:
    assert split_script("SELECT 1; SELECT 2") == ["SELECT 1;", "SELECT 2"]
    assert split_script(" ;; -- nothing\n/* at all */") == []


@pytest.mark.parametrize(
    ("sql", "control"),
    [
        ("BEGIN", Control.BEGIN),
        ("begin deferred transaction;", Control.BEGIN),
        ("/* lead */ BEGIN IMMEDIATE", Control.BEGIN),
        ("BEGIN EXCLUSIVE TRANSACTION t1", Control.BEGIN),
        ("COMMIT", Control.COMMIT),
        ("END TRANSACTION", Control.COMMIT),
        ("rollback;", Control.ROLLBACK),
        ("ROLLBACK TRANSACTION", Control.ROLLBACK),
        ("ROLLBACK TO sp", None),
        ("ROLLBACK TRANSACTION TO SAVEPOINT sp", None),
        ("SAVEPOINT sp", None),
        ("BEGIN; SELECT 1", None),
        ("SELECT 'BEGIN'", None),
        ("CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END", None),
    ],
)
def test_transaction_control_is_recognized_exactly(sql: str, control: Control | None) -> None:
    assert transaction_control(sql) is control


def test_only_select_and_values_count_as_queries() -> None:
    assert is_query("  -- c\n select 1")
    assert is_query("VALUES (1)")
    assert not is_query("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x")
    assert not is_query("INSERT INTO t SELECT 1")
    assert not has_statement("-- just a comment")
