"""The per-statement migration report: outcome, conflict class, hints (`check_statements`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from epaxdb.migration.schema_check import CASE_SENSITIVE_LIKE
from epaxdb.migration.script import split_script
from epaxdb.migration.statement_check import (
    BOUNDARY,
    FIXED,
    GLOBAL,
    NONE,
    POINT,
    REFUSED,
    UNCHANGED,
    WHOLE_TABLE,
    StatementVerdict,
    check_statements,
)
from epaxdb.storage.snapshot import open_read_only
from tests.migration.support import make_db


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.db")


def verdicts(path: Path, script: str) -> list[StatementVerdict]:
    connection = open_read_only(path)
    try:
        return check_statements(connection, split_script(script))
    finally:
        connection.close()


def one(path: Path, sql: str) -> StatementVerdict:
    (verdict,) = verdicts(path, sql)
    return verdict


def test_a_primary_key_lookup_runs_unchanged_with_point_keys(app_db: Path) -> None:
    verdict = one(app_db, "SELECT email FROM users WHERE id = ?")
    assert (verdict.outcome, verdict.conflict) == (UNCHANGED, POINT)
    assert verdict.reads == ("users(id)",) and verdict.writes == ()
    assert verdict.hints == ()


def test_a_lookup_by_another_column_is_whole_table_with_a_where_hint(app_db: Path) -> None:
    verdict = one(app_db, "SELECT id FROM users WHERE email = ?")
    assert (verdict.outcome, verdict.conflict, verdict.reads) == (
        UNCHANGED,
        WHOLE_TABLE,
        ("users",),
    )
    assert verdict.hints == (
        (
            "users: a WHERE on the primary key (id = ? or IN (...), other conditions ANDed; "
            "one table, no join) gives point keys"
        ),
    )


def test_the_clock_in_a_statement_is_a_named_determinism_fix(app_db: Path) -> None:
    verdict = one(app_db, "UPDATE kv SET v = datetime('now') WHERE k = :k")
    assert (verdict.outcome, verdict.conflict, verdict.writes) == (FIXED, POINT, ("kv(k)",))
    assert verdict.fixes == ("datetime(): 'now' is fixed per transaction by the coordinator",)


def test_an_insert_leaving_a_clock_default_is_fixed_and_its_unique_column_costs_the_table(
    app_db: Path,
) -> None:
    verdict = one(app_db, "INSERT INTO users(id, email) VALUES (?, ?)")
    assert verdict.outcome == FIXED
    assert verdict.fixes == (
        (
            "default of users.created (CURRENT_TIMESTAMP): the clock is fixed per "
            "transaction by the coordinator"
        ),
    )
    assert verdict.conflict == WHOLE_TABLE
    assert verdict.hints[0].startswith("users: UNIQUE constraints besides the primary key (email)")


def test_an_insert_without_its_key_is_whole_table_and_the_hint_asks_for_the_key(
    app_db: Path,
) -> None:
    verdict = one(app_db, "INSERT INTO kv(v) VALUES (?)")  # SQLite: NOT NULL fails later
    assert verdict.conflict == WHOLE_TABLE
    assert verdict.hints[0].startswith("kv: give the key (k) as a literal or parameter")
    assert one(app_db, "INSERT INTO kv VALUES (?, ?)").conflict == POINT


def test_a_statement_firing_a_trigger_is_global_with_the_trigger_named(app_db: Path) -> None:
    verdict = one(app_db, "INSERT INTO notes(user_id, body) VALUES (?, ?)")
    assert verdict.conflict == GLOBAL
    assert verdict.hints[0].startswith("trigger notes_touch fires on insert of notes:")
    # The trigger's body and the token default are what the engine pins.
    assert verdict.outcome == FIXED
    assert len(verdict.fixes) == 2


def test_ddl_is_global_and_later_statements_see_the_new_table(app_db: Path) -> None:
    first, second = verdicts(
        app_db,
        "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT);SELECT name FROM tags WHERE id = 1;",
    )
    assert (first.conflict, first.hints[0].split(":")[0]) == (GLOBAL, "schema change")
    assert (second.outcome, second.conflict) == (UNCHANGED, POINT)


def test_a_refusal_carries_the_analyzer_code_and_reason(app_db: Path) -> None:
    refused = verdicts(
        app_db,
        "PRAGMA journal_mode = WAL; SELECT datetime('now', 'localtime'); SELECT nosuch FROM gone;",
    )
    assert [(v.outcome, v.code) for v in refused] == [
        (REFUSED, "pragma"),
        (REFUSED, "nondeterministic_localtime"),
        (REFUSED, "unknown_table"),
    ]
    assert refused[0].reason == "PRAGMA reads or changes connection or file settings"
    assert all(v.conflict is None for v in refused)


def test_begin_and_commit_group_statements_into_one_transaction(app_db: Path) -> None:
    script = """
        SELECT last_insert_rowid();
        BEGIN;
        INSERT INTO kv VALUES ('a', 1);
        SELECT last_insert_rowid();
        COMMIT;
        SELECT last_insert_rowid();
    """
    result = verdicts(app_db, script)
    assert [(v.outcome, v.code) for v in result] == [
        (REFUSED, "connection_state"),  # alone, it reads connection state
        (BOUNDARY, None),
        (UNCHANGED, None),
        (UNCHANGED, None),  # after a write of the same transaction
        (BOUNDARY, None),
        (REFUSED, "connection_state"),
    ]
    assert result[3].conflict == NONE


def test_a_refused_statement_does_not_count_as_the_transaction_s_earlier_write(
    app_db: Path,
) -> None:
    result = verdicts(
        app_db,
        "BEGIN; DELETE FROM kv LIMIT 1; SELECT changes(); COMMIT;",
    )
    assert [(v.outcome, v.code) for v in result][1:3] == [
        (REFUSED, "nondeterministic_limit"),
        (REFUSED, "connection_state"),
    ]


def test_lines_and_numbers_point_into_the_file(app_db: Path) -> None:
    result = verdicts(app_db, "SELECT 1;\n\n-- next\nSELECT 2;")
    assert [(v.number, v.line) for v in result] == [(1, 1), (2, 4)]


def test_like_is_named_as_a_difference_from_sqlite3(app_db: Path) -> None:
    like, plain = verdicts(app_db, "SELECT id FROM users WHERE email LIKE ?; SELECT 'LIKE'")
    assert like.differences == (CASE_SENSITIVE_LIKE,)
    assert plain.differences == ()
