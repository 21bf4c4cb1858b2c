"""DDL statements: always global, and refused when what they create could never be
replicated or would make later statements non-deterministic."""

from __future__ import annotations

import pytest

from tests.analyzer.support import reads, refusal_code, run, schema_from, writes

SCHEMA = schema_from("CREATE TABLE t(id INTEGER PRIMARY KEY, v);")


@pytest.mark.parametrize(
    "sql",
    [
        (
            "CREATE TABLE IF NOT EXISTS n(a FLOATING POINT, b UNSIGNED BIG INT DEFAULT -1,"
            " c TEXT CONSTRAINT c_ok CHECK (c <> '') COLLATE NOCASE, d AS (a + 1) STORED,"
            " PRIMARY KEY (a DESC)) WITHOUT ROWID, STRICT"
        ),
        "CREATE TABLE main.n(a DEFAULT CURRENT_TIMESTAMP, b DEFAULT (random()))",
        "CREATE TABLE n AS SELECT * FROM t WHERE id = 1",
        "CREATE UNIQUE INDEX IF NOT EXISTS i ON t(v COLLATE NOCASE) WHERE v IS NOT NULL",
        "CREATE VIEW vv(a) AS SELECT v FROM t",
        (
            "CREATE TRIGGER tr BEFORE DELETE ON t WHEN old.v > 0 BEGIN"
            " SELECT RAISE(ABORT, 'protected'); INSERT INTO t(v) VALUES (datetime('now')); END"
        ),
        "CREATE VIRTUAL TABLE docs USING fts5(body)",
        "DROP TABLE IF EXISTS t",
        "DROP INDEX main.i",
        "DROP VIEW vv",
        "DROP TRIGGER tr",
        "ALTER TABLE t RENAME TO t2",
        "ALTER TABLE t RENAME COLUMN v TO w",
        "ALTER TABLE t ADD COLUMN z TEXT DEFAULT 'x'",
        "ALTER TABLE main.t DROP COLUMN v",
    ],
)
def test_ddl_is_accepted_and_interferes_with_everything(sql: str) -> None:
    analysis = run(SCHEMA, sql)
    assert analysis.is_global
    assert reads(analysis) == set() and writes(analysis) == set()


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("CREATE TEMP TABLE x(a)", "temp_object"),
        ("CREATE TEMPORARY VIEW x AS SELECT 1", "temp_object"),
        ("CREATE TEMP TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END", "temp_object"),
        ("CREATE TABLE temp.x(a)", "temp_object"),
        ("CREATE TABLE other.x(a)", "other_schema"),
        ("CREATE INDEX other.i ON t(v)", "other_schema"),
        ("DROP TABLE temp.t", "temp_object"),
        ("ALTER TABLE other.t ADD COLUMN z", "other_schema"),
        ("CREATE TABLE x(a DEFAULT (datetime('now', 'localtime')))", "nondeterministic_localtime"),
        ("CREATE TABLE x(a DEFAULT (sqlite_version()))", "build_dependent"),
        ("CREATE TABLE x(a DEFAULT (my_func()))", "unknown_function"),
        ("ALTER TABLE t ADD COLUMN z DEFAULT (date('now', 'utc'))", "nondeterministic_localtime"),
        ("CREATE TABLE x AS SELECT total_changes() AS n", "connection_state"),
        ("CREATE VIEW x AS SELECT changes()", "connection_state"),
        ("CREATE VIEW x AS SELECT * FROM temp.t", "temp_object"),
        (
            (
                "CREATE TRIGGER x AFTER INSERT ON t BEGIN"
                " UPDATE t SET v = datetime('now', 'localtime'); END"
            ),
            "nondeterministic_localtime",
        ),
        (
            "CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT last_insert_rowid(); END",
            "connection_state",
        ),
        (
            "CREATE TRIGGER x AFTER INSERT ON t WHEN sqlite_version() > '3' BEGIN SELECT 1; END",
            "build_dependent",
        ),
        ("CREATE VIRTUAL TABLE x USING dbstat", "unsupported_statement"),
        ("CREATE VIRTUAL TABLE x USING my_module(a)", "unsupported_statement"),
        ("CREATE TABLE x(a) junk", "unsupported_statement"),
        ("DROP SEQUENCE s", "unsupported_statement"),
    ],
)
def test_ddl_that_cannot_be_replicated_is_refused(sql: str, code: str) -> None:
    assert refusal_code(SCHEMA, sql) == code


def test_create_trigger_notes_what_its_body_uses() -> None:
    analysis = run(
        SCHEMA,
        "CREATE TRIGGER x AFTER INSERT ON t BEGIN UPDATE t SET v = random() WHERE id = new.id; END",
    )
    assert any("random()" in note for note in analysis.notes)
