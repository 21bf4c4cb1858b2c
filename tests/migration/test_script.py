"""Splitting an application's SQL file into statements, the way SQLite reads it."""

from __future__ import annotations

from epaxdb.migration.script import split_script


def test_statements_end_at_semicolons_outside_strings_and_comments() -> None:
    text = "SELECT ';' AS x; -- a comment; still a comment\nSELECT /* ; */ 2;"
    assert [(s.sql, s.line) for s in split_script(text)] == [
        ("SELECT ';' AS x", 1),
        ("SELECT /* ; */ 2", 2),
    ]


def test_a_trigger_body_is_one_statement_with_its_inner_semicolons() -> None:
    text = (
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
        "  UPDATE b SET n = n + 1; DELETE FROM c;\n"
        "END;\n"
        "SELECT 1;"
    )
    statements = split_script(text)
    assert [s.line for s in statements] == [1, 4]
    assert statements[0].sql.endswith("DELETE FROM c;\nEND")


def test_the_last_statement_needs_no_semicolon_and_blank_pieces_are_dropped() -> None:
    statements = split_script("\n\n;  ; -- only a comment\nSELECT 1\n")
    assert [(s.sql, s.line) for s in statements] == [("SELECT 1", 4)]


def test_the_verb_is_the_first_word_in_upper_case() -> None:
    assert [s.verb for s in split_script("begin; with x as (select 1) select * from x")] == [
        "BEGIN",
        "WITH",
    ]
