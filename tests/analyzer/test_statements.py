"""Statement-level refusals, parameter binding, and the places where sqlglot alone would
misread SQLite (product-anchors §6)."""

from __future__ import annotations

import pytest

from analyzer import ALL_CODES, AnalyzerError, analyze
from tests.analyzer.support import reads, refusal_code, run, schema_from, writes

SCHEMA = schema_from(
    """
    CREATE TABLE t(id INTEGER PRIMARY KEY, v, name TEXT);
    CREATE TABLE "Mixed Case"(id INTEGER PRIMARY KEY, v);
    """
)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("BEGIN", "transaction_control"),
        ("BEGIN IMMEDIATE TRANSACTION", "transaction_control"),
        ("COMMIT", "transaction_control"),
        ("END", "transaction_control"),
        ("ROLLBACK", "transaction_control"),
        ("ROLLBACK TO sp", "transaction_control"),
        ("SAVEPOINT sp", "transaction_control"),
        ("RELEASE sp", "transaction_control"),
        ("RELEASE SAVEPOINT sp", "transaction_control"),
        ("PRAGMA foreign_keys = OFF", "pragma"),
        ("PRAGMA table_info(t)", "pragma"),
        ("ATTACH DATABASE 'other.db' AS other", "attach"),
        ("DETACH other", "attach"),
        ("VACUUM", "vacuum"),
        ("VACUUM INTO 'copy.db'", "vacuum"),
        ("ANALYZE", "analyze"),
        ("ANALYZE t", "analyze"),
        ("REINDEX", "reindex"),
        ("REINDEX t", "reindex"),
        ("EXPLAIN SELECT 1", "unsupported_statement"),
        ("EXPLAIN QUERY PLAN SELECT * FROM t", "unsupported_statement"),
        ("SELECT * FROM temp.t", "temp_object"),
        ("SELECT * FROM sqlite_temp_master", "temp_object"),
        ("SELECT * FROM other.t", "other_schema"),
        ("INSERT INTO other.t(id) VALUES (1)", "other_schema"),
        ("UPDATE sqlite_master SET sql = ''", "unsupported_statement"),
        ("SELECT * FROM missing", "unknown_table"),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("UPDATE t SET v = 1; DROP TABLE t", "multiple_statements"),
        ("", "empty_statement"),
        (" ; -- nothing\n", "empty_statement"),
        ("SELEC 1", "syntax_error"),
        ("SELECT 'unterminated", "syntax_error"),
        ("SELECT 1abc", "syntax_error"),
        ("SELECT 0x1FFFFFFFFFFFFFFFF", "syntax_error"),
        ("SELECT * FROM t WHERE", "syntax_error"),
        ("foo", "syntax_error"),
    ],
)
def test_statements_that_cannot_be_replicated_or_parsed_are_refused(sql: str, code: str) -> None:
    assert code in ALL_CODES
    assert refusal_code(SCHEMA, sql) == code


def test_refusal_names_the_statement_index_text_and_reason() -> None:
    with pytest.raises(AnalyzerError) as caught:
        analyze([("SELECT 1", []), ("PRAGMA journal_mode", [])], SCHEMA)
    error = caught.value
    assert (error.code, error.statement, error.sql) == ("pragma", 1, "PRAGMA journal_mode")
    assert error.message.startswith("statement 1 ('PRAGMA journal_mode'): PRAGMA")


def test_syntax_error_reports_line_and_column_of_the_original_text() -> None:
    with pytest.raises(AnalyzerError) as caught:
        run(SCHEMA, "SELECT v\nFROM t\nWHERE id = ? AND AND v = $x", [1, 2])
    assert caught.value.code == "syntax_error"
    assert caught.value.line == 3


def test_multiple_statements_error_points_at_the_second_statement() -> None:
    with pytest.raises(AnalyzerError) as caught:
        run(SCHEMA, "SELECT 1;\n  SELECT 2")
    assert (caught.value.line, caught.value.col) == (2, 3)


def test_trailing_semicolons_and_comments_are_fine() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = 1; -- done\n;")) == {("t", (1,))}
    assert reads(run(SCHEMA, "/* x */ SELECT * FROM t /* y */ WHERE id = 1")) == {("t", (1,))}


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT * FROM t WHERE id = ?", []),
        ("SELECT * FROM t WHERE id = ?", [1, 2]),
        ("SELECT * FROM t WHERE id = ?3", [1, 2]),
        ("SELECT * FROM t WHERE id = :a", {}),
        ("SELECT * FROM t WHERE id = :a", {"a": 1, "b": 2}),
        ("SELECT * FROM t WHERE id = ?", {"a": 1}),
        ("SELECT 1", [1]),
    ],
)
def test_wrong_parameter_counts_and_names_are_refused(sql: str, params: object) -> None:
    assert refusal_code(SCHEMA, sql, params) == "parameter_count"


@pytest.mark.parametrize("value", [object(), [1], {"a": 1}, 1 << 64])
def test_values_sqlite_cannot_bind_are_refused(value: object) -> None:
    assert refusal_code(SCHEMA, "SELECT ?", [value]) == "parameter_type"
    assert refusal_code(SCHEMA, "SELECT 1", "not a list") == "parameter_type"


def test_named_parameters_are_normalised_to_sqlite_positions() -> None:
    # `$v` and `:v` are two SQLite parameters that a dict binds from the same key.
    analysis = run(
        SCHEMA,
        "UPDATE t SET v = $v, name = @n WHERE id = :id AND v = :v",
        {"id": 7, "v": True, "n": bytearray(b"x")},
    )
    assert analysis.statements[0].params == (1, b"x", 7, 1)


def test_numbered_parameters_bind_by_name_without_the_question_mark() -> None:
    analysis = run(SCHEMA, "SELECT * FROM t WHERE id = ?2", {"2": 5})
    assert analysis.statements[0].params == (None, 5)
    assert reads(analysis) == {("t", (5,))}


def test_dollar_and_numbered_placeholders_are_parameters_not_columns() -> None:
    assert writes(run(SCHEMA, "DELETE FROM t WHERE id = $id", {"id": 4})) == {("t", (4,))}
    assert writes(run(SCHEMA, "DELETE FROM t WHERE id = ?1", [4])) == {("t", (4,))}


def test_placeholders_inside_strings_and_comments_are_not_parameters() -> None:
    analysis = run(SCHEMA, "SELECT ':x ?', \"$y\" FROM t WHERE id = ? -- :z", [1])
    assert analysis.statements[0].params == (1,)


def test_replace_into_is_read_as_insert_or_replace() -> None:
    assert writes(run(SCHEMA, "REPLACE INTO t(id, v) VALUES (1, 2)")) == {("t", (1,))}
    assert writes(run(SCHEMA, "replace into t(id, v) values (1, replace('a', 'b', 'c'))")) == {
        ("t", (1,))
    }


def test_update_or_conflict_clauses_are_understood() -> None:
    for action in ("ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE"):
        sql = f"UPDATE OR {action} t SET v = 1 WHERE id = 2"
        assert writes(run(SCHEMA, sql)) == {("t", (2,))}, action


def test_digit_separators_are_numbers_not_aliases() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = 1_000")) == {("t", (1000,))}


def test_multi_word_type_names_in_cast_parse() -> None:
    assert reads(run(SCHEMA, "SELECT CAST(v AS FLOATING POINT) FROM t WHERE id = 1")) == {
        ("t", (1,))
    }


def test_unary_plus_which_sqlglot_drops_disables_point_keys() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE +id = 1")) == {("t", None)}
    assert writes(run(SCHEMA, "UPDATE t SET v = v + 1 WHERE id = 1")) == {("t", (1,))}
    assert writes(run(SCHEMA, "UPDATE t SET v = CASE WHEN v THEN 1 END + 1 WHERE id = 1")) == {
        ("t", (1,))
    }


def test_quoted_table_names_with_spaces_and_case() -> None:
    assert writes(run(SCHEMA, 'UPDATE "mixed case" SET v = 1 WHERE ID = 3')) == {
        ("mixed case", (3,))
    }


def test_double_quoted_string_is_never_taken_as_a_key_value() -> None:
    assert reads(run(SCHEMA, 'SELECT * FROM t WHERE id = "7"')) == {("t", None)}


def test_ddl_is_global_and_allowed() -> None:
    for sql in (
        "CREATE TABLE n(a)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMN z",
        "CREATE INDEX i ON t(v)",
        "CREATE VIEW vv AS SELECT 1",
    ):
        assert run(SCHEMA, sql).is_global, sql


def test_tables_created_earlier_in_the_same_transaction_may_be_used() -> None:
    analysis = analyze(
        [
            ("CREATE TABLE fresh(id INTEGER PRIMARY KEY)", []),
            ("INSERT INTO fresh(id) VALUES (1)", []),
        ],
        SCHEMA,
    )
    assert analysis.is_global


def test_analysis_carries_the_schema_version() -> None:
    assert run(SCHEMA, "SELECT 1").schema_version == SCHEMA.version
    assert SCHEMA.version > 0
