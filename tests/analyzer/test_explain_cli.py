"""`epaxdb explain`, run in-process through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from epaxdb.cli import main

SCHEMA_SQL = """
CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER DEFAULT 0);
CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT,
                   account INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
                   at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE blobs(k BLOB PRIMARY KEY, v) WITHOUT ROWID;
"""


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.sql"
    path.write_text(SCHEMA_SQL)
    return path


def _explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["explain", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_point_update_prints_the_typed_key(capsys, schema_file: Path) -> None:
    code, result = _explain(
        capsys,
        "--schema",
        str(schema_file),
        "--params",
        '[10, "7"]',
        "UPDATE accounts SET balance = ? WHERE id = ?",
    )
    assert code == 0
    assert result == {
        "global": False,
        "reads": [{"table": "accounts", "key": [7]}],
        "writes": [{"table": "accounts", "key": [7]}],
        "statements": [
            {"sql": "UPDATE accounts SET balance = ? WHERE id = ?", "params": [10, "7"]}
        ],
    }


def test_several_statements_are_one_transaction_sorted_deterministically(
    capsys, schema_file
) -> None:
    code, result = _explain(
        capsys,
        "--schema",
        str(schema_file),
        "--params",
        '[[2], {"a": 1}]',
        "DELETE FROM accounts WHERE id = ?",
        "INSERT INTO audit(account) VALUES (:a)",
    )
    assert code == 0
    assert result["writes"] == [
        {"table": "accounts", "key": [2]},
        {"table": "audit", "key": None},
        {"table": "sqlite_sequence", "key": None},
    ]
    assert result["reads"] == [
        {"table": "accounts", "key": [1]},
        {"table": "accounts", "key": [2]},
        {"table": "audit", "key": None},
    ]
    assert [s["params"] for s in result["statements"]] == [[2], [1]]


def test_blob_values_round_trip_as_hex_objects(capsys, schema_file) -> None:
    code, result = _explain(
        capsys,
        "--schema",
        str(schema_file),
        "--params",
        '[{"blob": "00ff"}]',
        "SELECT v FROM blobs WHERE k = ?",
    )
    assert code == 0
    assert result["reads"] == [{"table": "blobs", "key": [{"blob": "00ff"}]}]
    assert result["statements"][0]["params"] == [{"blob": "00ff"}]


def test_refused_statement_exits_2_with_code_and_message(capsys, schema_file) -> None:
    code, result = _explain(
        capsys,
        "--schema",
        str(schema_file),
        "SELECT 1",
        "UPDATE accounts SET owner = datetime('now', 'localtime')",
    )
    assert code == 2
    assert result["error"]["code"] == "nondeterministic_localtime"
    assert result["error"]["message"].startswith("statement 1 (")


def test_ddl_is_global_without_a_schema_file(capsys) -> None:
    code, result = _explain(capsys, "CREATE TABLE t(a)")
    assert code == 0 and result["global"] is True


def test_unknown_table_without_a_schema_is_refused(capsys) -> None:
    code, result = _explain(capsys, "SELECT * FROM t")
    assert code == 2 and result["error"]["code"] == "unknown_table"


@pytest.mark.parametrize(
    "args",
    [
        ["--params", "[1", "SELECT ?"],
        ["--params", "[[1]]", "SELECT ?", "SELECT 1"],
        ["--params", '"x"', "SELECT ?"],
        ["--params", '[{"tag": 1}]', "SELECT ?"],
        ["--schema", "/nonexistent/schema.sql", "SELECT 1"],
    ],
)
def test_bad_input_exits_1_with_a_message_on_stderr(capsys, args: list[str]) -> None:
    assert main(["explain", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("epaxdb explain:")


def test_schema_file_that_sqlite_rejects_is_bad_input(capsys, tmp_path: Path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("CREATE TABLE (")
    assert main(["explain", "--schema", str(path), "SELECT 1"]) == 1
    assert "does not run on SQLite" in capsys.readouterr().err
