"""`epaxdb check --db APP.db [FILE.sql | -]` as a user runs it: output and exit status."""

from __future__ import annotations

import json
from pathlib import Path

from tests.migration.support import APP_SCHEMA, make_db, run_cli

STATEMENTS = """\
SELECT email FROM users WHERE id = ?;
SELECT id FROM users WHERE email = ?;
INSERT INTO users(id, email) VALUES (?, ?);
PRAGMA journal_mode = WAL;
"""


def test_the_text_report_has_one_row_per_statement_and_details_for_the_others(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.sql").write_text(STATEMENTS)
    result = run_cli("check", "--db", make_db(tmp_path / "app.db"), tmp_path / "app.sql")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "    table users: default of users.created (CURRENT_TIMESTAMP): the clock is fixed "
        "per transaction by the coordinator" in lines
    )
    table = [line.split() for line in lines if line[:4].strip().isdigit()]
    assert [row[:4] for row in table[:4]] == [
        ["1", "1", "unchanged", "point"],
        ["2", "2", "unchanged", "whole"],
        ["3", "3", "fixed", "whole"],
        ["4", "4", "REFUSED", "-"],
    ]
    assert "    4  refused [pragma]: PRAGMA reads or changes connection or file settings" in lines
    assert (
        "4 statement(s): 2 unchanged, 1 with a determinism fix, 1 refused; "
        "conflicts: 1 point, 2 whole table, 0 global, 0 none"
    ) in lines


def test_json_names_outcome_conflict_keys_and_hints(tmp_path: Path) -> None:
    result = run_cli("check", "--db", make_db(tmp_path / "app.db"), "--json", "-",
                     stdin="SELECT v FROM kv WHERE k = :k; UPDATE kv SET v = 1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["refused"] is False
    assert report["database"]["refused"] == []
    point, whole = report["statements"]
    assert (point["outcome"], point["conflict"], point["reads"]) == (
        "unchanged",
        "point",
        ["kv(k)"],
    )
    assert (whole["conflict"], whole["writes"]) == ("whole_table", ["kv"])
    assert whole["hints"][0].startswith("kv: a WHERE on the primary key (k = ?")


def test_a_schema_refusal_alone_fails_the_check(tmp_path: Path) -> None:
    script = APP_SCHEMA + "CREATE VIEW v AS SELECT datetime('now', 'localtime');"
    result = run_cli("check", "--db", make_db(tmp_path / "app.db", script))
    assert result.returncode == 1
    assert "    view v [nondeterministic_localtime]: " in result.stdout


def test_an_unreadable_database_or_file_exits_2(tmp_path: Path) -> None:
    missing = run_cli("check", "--db", tmp_path / "missing.db")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "missing.db: no such file" in missing.stderr
    no_file = run_cli("check", "--db", make_db(tmp_path / "app.db"), tmp_path / "none.sql")
    assert no_file.returncode == 2 and "none.sql" in no_file.stderr
