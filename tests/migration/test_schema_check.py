"""What the cluster makes of a database's own schema and data (`check_database`)."""

from __future__ import annotations

from pathlib import Path

import apsw

from epaxdb.migration.schema_check import (
    CASE_SENSITIVE_LIKE,
    CORRUPT,
    RESERVED_NAME,
    SQLITE_ERROR,
    UNKNOWN_COLLATION,
    SchemaReport,
    check_database,
)
from epaxdb.storage.snapshot import open_read_only
from tests.migration.support import APP_SCHEMA, make_db

CREATED_FIX = (
    "default of users.created (CURRENT_TIMESTAMP): the clock is fixed per transaction "
    "by the coordinator"
)


def report_of(path: Path) -> SchemaReport:
    connection = open_read_only(path)
    try:
        return check_database(connection)
    finally:
        connection.close()


def refusals(report: SchemaReport) -> set[tuple[str, str | None]]:
    return {(f.subject, f.code) for f in report.refusals}


def test_defaults_triggers_and_views_using_the_clock_or_random_are_made_deterministic(
    tmp_path: Path,
) -> None:
    report = report_of(make_db(tmp_path / "app.db"))
    assert not report.refused
    fixes = {(f.subject, f.message) for f in report.fixes}
    assert (
        "table users",
        CREATED_FIX,
    ) in fixes
    assert (
        "table notes",
        "default of notes.token: randomblob(): seeded per transaction by the coordinator",
    ) in fixes
    assert (
        "trigger notes_touch",
        "datetime(): 'now' is fixed per transaction by the coordinator",
    ) in fixes
    assert report.objects == 5  # three tables, a trigger, a view; SQLite's own are not counted


def test_a_trigger_calling_an_application_function_is_refused_with_the_analyzer_code(
    tmp_path: Path,
) -> None:
    script = (
        APP_SCHEMA
        + """
        CREATE TRIGGER users_slug AFTER INSERT ON users BEGIN
            UPDATE users SET email = slugify(new.email) WHERE id = new.id;
        END;"""
    )
    report = report_of(make_db(tmp_path / "app.db", script, functions=True))
    found = [f for f in report.refusals if f.subject == "trigger users_slug"]
    assert [(f.code, f.message) for f in found] == [
        (
            "unknown_function",
            "slugify() is not an SQLite built-in function",
        )
    ]
    # SQLite itself, under the cluster's settings, cannot compile the table's inserts.
    assert ("table users", SQLITE_ERROR) in refusals(report)


def test_a_view_using_localtime_and_a_trigger_using_changes_are_refused(tmp_path: Path) -> None:
    script = (
        APP_SCHEMA
        + """
        CREATE VIEW local_times AS SELECT datetime(created, 'localtime') FROM users;
        CREATE TRIGGER counted AFTER DELETE ON kv BEGIN SELECT changes(); END;"""
    )
    report = report_of(make_db(tmp_path / "app.db", script))
    assert {
        ("view local_times", "nondeterministic_localtime"),
        ("trigger counted", "connection_state"),
    } <= refusals(report)


def test_an_application_collation_is_refused(tmp_path: Path) -> None:
    script = "CREATE TABLE t(name TEXT COLLATE reverse); CREATE INDEX t_name ON t(name);"
    report = report_of(make_db(tmp_path / "app.db", script, functions=True))
    assert ("table t", UNKNOWN_COLLATION) in refusals(report)
    # The index cannot even be checked without the collation.
    assert ("database", SQLITE_ERROR) in refusals(report)


def test_engine_table_and_index_names_are_reserved(tmp_path: Path) -> None:
    script = "CREATE TABLE _epaxdb_markers(x); CREATE INDEX _epaxdb_applied_by_time ON t(x);"
    report = report_of(make_db(tmp_path / "app.db", "CREATE TABLE t(x);" + script))
    assert refusals(report) == {
        ("table _epaxdb_markers", RESERVED_NAME),
        ("index _epaxdb_applied_by_time", RESERVED_NAME),
    }


def test_the_largest_rowid_and_a_sequence_at_it_are_refused(tmp_path: Path) -> None:
    script = """
        CREATE TABLE big(id INTEGER PRIMARY KEY, v);
        INSERT INTO big VALUES (9223372036854775807, 1);
        CREATE TABLE counter(id INTEGER PRIMARY KEY AUTOINCREMENT, v);
        INSERT INTO counter VALUES (9223372036854775807, 1);
        CREATE TABLE fine(id INTEGER PRIMARY KEY, v);
        INSERT INTO fine VALUES (9223372036854775806, 1);"""
    report = report_of(make_db(tmp_path / "app.db", script))
    assert refusals(report) == {
        ("table big", "reserved_rowid"),
        ("table counter", "reserved_rowid"),  # the row, and its sequence
    }
    assert sum(f.subject == "table counter" for f in report.refusals) == 2


def test_enforced_foreign_keys_and_existing_violations_are_warnings_not_refusals(
    tmp_path: Path,
) -> None:
    script = APP_SCHEMA + "INSERT INTO notes(user_id, body) VALUES (99, 'orphan');"
    report = report_of(make_db(tmp_path / "app.db", script))
    assert not report.refused
    assert [(f.subject, f.message) for f in report.warnings] == [
        (
            "table notes",
            (
                "its foreign keys (to users) are enforced on the cluster; a default sqlite3 "
                "connection does not enforce them"
            ),
        ),
        (
            "table notes",
            (
                "1 row(s) violate the foreign key to users: they are kept, but the cluster "
                "enforces foreign keys, so statements that touch them will fail"
            ),
        ),
    ]


def test_views_and_triggers_using_like_are_warned_about_case_sensitivity(tmp_path: Path) -> None:
    script = (
        "CREATE TABLE t(name TEXT); "
        "CREATE VIEW a_names AS SELECT name FROM t WHERE name LIKE 'a%'; "
        "CREATE VIEW quoted AS SELECT 'LIKE' AS word;"
    )
    report = report_of(make_db(tmp_path / "app.db", script))
    assert [(f.subject, f.message) for f in report.warnings] == [
        ("view a_names", CASE_SENSITIVE_LIKE)
    ]


def test_a_damaged_file_is_refused_as_corrupt(tmp_path: Path) -> None:
    path = make_db(tmp_path / "app.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v);")
    db = apsw.Connection(str(path))
    with db:
        db.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x" * 200) for i in range(2000)))
    (root,) = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = 't'").fetchone()
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with open(path, "r+b") as file:  # scribble over the table's root page
        file.seek((root - 1) * page_size + 8)
        file.write(b"\xff" * 64)
    codes = {code for _, code in refusals(report_of(path))}
    assert CORRUPT in codes
