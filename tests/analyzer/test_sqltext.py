"""The SQLite-faithful text layer: tokens, statement boundaries, parameter numbering
(checked against SQLite's own) and the analysis-text rewrites."""

from __future__ import annotations

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import AnalyzerError
from analyzer.sqltext import prepare
from analyzer.tokens import tokenize

placeholders = st.one_of(
    st.just("?"),
    st.integers(1, 12).map(lambda n: f"?{n}"),
    st.sampled_from(["a", "b", "long_name", "x1"]).flatmap(
        lambda name: st.sampled_from([f":{name}", f"@{name}", f"${name}"])
    ),
    st.just("$tcl::var"),
)


@settings(max_examples=150)
@given(st.lists(placeholders, min_size=1, max_size=8))
def test_parameter_numbering_matches_sqlite(marks: list[str]) -> None:
    sql = "SELECT " + ", ".join(marks)
    spec = prepare(sql).params
    cursor = apsw.Connection(":memory:").cursor()
    try:
        cursor.execute(sql, (None,) * spec.count)
    except apsw.Error as error:
        raise AssertionError(f"{sql}: {error}") from None
    assert spec.count == cursor.bindings_count
    assert tuple(None if n is None else n[1:] for n in spec.names) == cursor.bindings_names


def test_tokenizer_keeps_strings_identifiers_blobs_and_comments_whole() -> None:
    kinds = [
        (t.kind, t.text)
        for t in tokenize("x'0A' 'it''s' \"a\"\"b\" [c d] `e` -- c\n/* d */")
        if t.kind != "space"
    ]
    assert kinds == [
        ("blob", "x'0A'"),
        ("string", "'it''s'"),
        ("quoted", '"a""b"'),
        ("quoted", "[c d]"),
        ("quoted", "`e`"),
        ("comment", "-- c"),
        ("comment", "/* d */"),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x'0'",
        "SELECT x'zz'",
        "SELECT 1e",
        "SELECT 1__0",
        "SELECT :",
        "SELECT #a",
        "SELECT 'open",
    ],
)
def test_malformed_tokens_are_syntax_errors(sql: str) -> None:
    with pytest.raises(AnalyzerError) as caught:
        prepare(sql)
    assert caught.value.code == "syntax_error"


def test_trigger_body_semicolons_do_not_end_the_statement() -> None:
    sql = (
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET v = CASE WHEN 1 THEN 2 END; "
        "DELETE FROM c; END;"
    )
    assert prepare(sql).verb == "CREATE"
    with pytest.raises(AnalyzerError) as caught:
        prepare(sql + " SELECT 1")
    assert caught.value.code == "multiple_statements"


def test_analysis_text_rewrites_only_what_sqlglot_misreads() -> None:
    prepared = prepare("REPLACE INTO t(a) VALUES (?, $b, 1_000, 0x10) -- c")
    assert prepared.analysis == "INSERT OR REPLACE INTO t(a) VALUES (:__p1, :__p2, 1000, 16)"
    assert prepare("UPDATE OR FAIL t SET a = 1").analysis == "UPDATE t SET a = 1"
    assert prepare("UPDATE OR FAIL t SET a = 1").update_or == "FAIL"
    assert prepare("SELECT CAST(a AS VARYING CHARACTER(9))").analysis == "SELECT CAST(a AS BLOB )"
    assert prepare("SELECT 0xFFFFFFFFFFFFFFFF").analysis == "SELECT (-1)"


def test_raise_is_blanked_only_inside_trigger_bodies() -> None:
    body = "SELECT RAISE(ROLLBACK, 'stop') WHERE 1"
    assert prepare(body, in_trigger=True).analysis == "SELECT NULL WHERE 1"
    assert prepare(body).analysis == body


def test_with_clause_verb_is_the_statement_after_it() -> None:
    assert prepare("WITH a(x) AS (SELECT 1) DELETE FROM t WHERE id IN a").verb == "DELETE"
    assert prepare("WITH RECURSIVE a AS (SELECT 1) SELECT * FROM a").verb == "SELECT"


def test_unary_plus_is_told_apart_from_addition() -> None:
    assert prepare("SELECT * FROM t WHERE +id = 1").unary_plus
    assert prepare("SELECT * FROM t WHERE id = (+1)").unary_plus
    assert not prepare("UPDATE t SET v = v + 1, w = 2 + ?, x = (1) + 1").unary_plus
    assert not prepare("SELECT CASE WHEN a THEN 1 END + 1, NULL + 1, 'a' + 1").unary_plus
