"""Non-determinism: what the engine pins down (notes), and what is refused."""

from __future__ import annotations

import pytest

from analyzer import analyze
from tests.analyzer.support import refusal_code, run, schema_from

SCHEMA = schema_from(
    """
    CREATE TABLE t(id INTEGER PRIMARY KEY, v, at TEXT);
    CREATE TABLE stamped(id INTEGER PRIMARY KEY, v, created TEXT DEFAULT CURRENT_TIMESTAMP,
                         token BLOB DEFAULT (randomblob(8)));
    CREATE TABLE local_default(id INTEGER PRIMARY KEY, v,
                               day TEXT DEFAULT (date('now', 'localtime')));
    """
)


@pytest.mark.parametrize(
    ("expression", "mentioned"),
    [
        ("random()", "random()"),
        ("randomblob(4)", "randomblob()"),
        ("datetime('now')", "datetime()"),
        ("date()", "date()"),
        ("julianday('now', '+1 day')", "julianday()"),
        ("unixepoch()", "unixepoch()"),
        ("strftime('%s')", "strftime()"),
        ("strftime('%Y', 'now', 'start of year')", "strftime()"),
        ("timediff('now', '2000-01-01')", "timediff()"),
        ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
        ("CURRENT_DATE", "CURRENT_DATE"),
        ("CURRENT_TIME", "CURRENT_TIME"),
    ],
)
def test_engine_pinned_functions_are_accepted_with_a_note(expression: str, mentioned: str) -> None:
    analysis = run(SCHEMA, f"UPDATE t SET at = {expression} WHERE id = 1")
    assert any(mentioned in note for note in analysis.notes), analysis.notes


def test_date_function_on_a_fixed_time_value_needs_no_note() -> None:
    assert run(SCHEMA, "SELECT datetime('2024-01-01', '+1 day')").notes == ()


def test_update_with_random_keeps_sql_text_unchanged() -> None:
    sql = "UPDATE t SET v = random() WHERE id > ?"
    analysis = run(SCHEMA, sql, [0])
    assert analysis.statements[0].sql == sql


def test_column_defaults_left_to_an_insert_are_noted() -> None:
    analysis = run(SCHEMA, "INSERT INTO stamped(id, v) VALUES (1, 2)")
    assert any("stamped.created" in n and "CURRENT_TIMESTAMP" in n for n in analysis.notes)
    assert any("stamped.token" in n and "randomblob" in n for n in analysis.notes)
    explicit = run(SCHEMA, "INSERT INTO stamped(id, v, created, token) VALUES (1, 2, 'x', x'00')")
    assert explicit.notes == ()


def test_localtime_default_refuses_inserts_that_use_it() -> None:
    assert refusal_code(SCHEMA, "INSERT INTO local_default(id, v) VALUES (1, 2)") == (
        "nondeterministic_localtime"
    )
    run(SCHEMA, "INSERT INTO local_default(id, v, day) VALUES (1, 2, '2024-01-01')")
    run(SCHEMA, "UPDATE local_default SET v = 1 WHERE id = 1")


def test_replace_may_use_any_default_so_it_checks_them_all() -> None:
    sql = "INSERT OR REPLACE INTO local_default(id, v, day) VALUES (1, 2, '2024-01-01')"
    assert refusal_code(SCHEMA, sql) == "nondeterministic_localtime"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT datetime('now', 'localtime')",
        "SELECT datetime('now', 'LocalTime')",
        "SELECT date('2024-01-01 10:00', 'utc')",
        "SELECT strftime('%H', 'now', 'localtime')",
        "SELECT datetime('now', v) FROM t",
        "SELECT datetime('now', lower('LOCALTIME'))",
        "SELECT datetime('now', 'local' || 'time')",
        "SELECT datetime('now', \"localtime\")",
    ],
)
def test_time_zone_modifiers_and_unprovable_modifiers_are_refused(sql: str) -> None:
    assert refusal_code(SCHEMA, sql) == "nondeterministic_localtime"


def test_modifier_parameter_is_checked_when_bound() -> None:
    sql = "SELECT datetime('now', ?)"
    run(SCHEMA, sql, ["+1 day"])
    assert refusal_code(SCHEMA, sql, ["localtime"]) == "nondeterministic_localtime"
    assert refusal_code(SCHEMA, sql, ["UTC"]) == "nondeterministic_localtime"


def test_computed_modifier_that_cannot_spell_a_time_zone_modifier_is_accepted() -> None:
    run(SCHEMA, "SELECT datetime('now', '+' || v || ' days') FROM t")


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT total_changes()", "connection_state"),
        ("SELECT changes()", "connection_state"),
        ("SELECT last_insert_rowid()", "connection_state"),
        ("SELECT sqlite_version()", "build_dependent"),
        ("SELECT sqlite_source_id()", "build_dependent"),
        ("SELECT sqlite_compileoption_used('THREADSAFE')", "build_dependent"),
        ("SELECT sqlite_compileoption_get(0)", "build_dependent"),
        ("SELECT load_extension('x')", "load_extension"),
        ("SELECT * FROM pragma_table_info('t')", "pragma"),
        ("SELECT my_udf(1)", "unknown_function"),
        ("SELECT now()", "unknown_function"),
        ("SELECT uuid()", "unknown_function"),
        ("SELECT * FROM t WHERE v REGEXP 'x'", "unknown_function"),
        ("UPDATE t SET v = 1 LIMIT 1", "nondeterministic_limit"),
        ("DELETE FROM t WHERE v > 1 LIMIT 5", "nondeterministic_limit"),
    ],
)
def test_functions_and_constructs_that_cannot_be_pinned_are_refused(sql: str, code: str) -> None:
    assert refusal_code(SCHEMA, sql) == code


def test_changes_and_last_insert_rowid_are_allowed_after_a_write_in_the_same_transaction() -> None:
    analysis = analyze(
        [
            ("INSERT INTO t(id, v) VALUES (1, 2)", []),
            ("UPDATE t SET v = changes() + last_insert_rowid() WHERE id = 1", []),
        ],
        SCHEMA,
    )
    assert analysis.statements[1].sql.startswith("UPDATE")


def test_changes_after_only_reads_or_ddl_is_refused_naming_the_statement() -> None:
    from analyzer import AnalyzerError

    with pytest.raises(AnalyzerError) as caught:
        analyze([("SELECT 1", []), ("CREATE TABLE x(a)", []), ("SELECT changes()", [])], SCHEMA)
    assert caught.value.code == "connection_state"
    assert caught.value.statement == 2
    assert "statement 2" in caught.value.message and "changes()" in caught.value.message
