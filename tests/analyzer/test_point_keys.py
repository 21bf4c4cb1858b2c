"""Point keys from WHERE clauses: which predicates pin rows, with every parameter style,
identifier spelling and affinity rule."""

from __future__ import annotations

import pytest

from tests.analyzer.support import reads, run, schema_from, writes

SCHEMA = schema_from(
    """
    CREATE TABLE t(id INTEGER PRIMARY KEY, v, name TEXT);
    CREATE TABLE w(a TEXT, b INT, c, PRIMARY KEY (a, b)) WITHOUT ROWID;
    CREATE TABLE plain(x, y);
    CREATE TABLE texts(code TEXT PRIMARY KEY, v);
    CREATE TABLE reals(r REAL PRIMARY KEY, v) WITHOUT ROWID;
    CREATE TABLE untyped(k PRIMARY KEY, v) WITHOUT ROWID;
    CREATE TABLE numerics(n NUMERIC PRIMARY KEY, v) WITHOUT ROWID;
    CREATE TABLE u(id INTEGER PRIMARY KEY, t_id INTEGER);
    """
)


def test_update_by_primary_key_is_a_point_write() -> None:
    analysis = run(SCHEMA, "UPDATE t SET v = ? WHERE id = ?", [1, 7])
    assert writes(analysis) == {("t", (7,))}
    assert reads(analysis) == {("t", (7,))}
    assert not analysis.is_global


def test_select_by_primary_key_is_a_point_read_and_writes_nothing() -> None:
    analysis = run(SCHEMA, "SELECT v FROM t WHERE id = 3")
    assert reads(analysis) == {("t", (3,))}
    assert writes(analysis) == set()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT * FROM t WHERE id = ?", [5]),
        ("SELECT * FROM t WHERE id = ?1", [5]),
        ("SELECT * FROM t WHERE id = ?2 AND v = ?1", ["x", 5]),
        ("SELECT * FROM t WHERE id = :id", {"id": 5}),
        ("SELECT * FROM t WHERE id = @id", {"id": 5}),
        ("SELECT * FROM t WHERE id = $id", {"id": 5}),
        ("SELECT * FROM t WHERE id = :id", [5]),
        ("SELECT * FROM t WHERE 5 = id", []),
        ("SELECT * FROM t WHERE id == 5", []),
        ("SELECT * FROM t WHERE id IS 5", []),
        ("SELECT * FROM t WHERE (id = 5)", []),
        ("SELECT * FROM t WHERE id = (5)", []),
        ("SELECT * FROM t WHERE v > 1 AND id = 5 AND name LIKE 'a%'", []),
    ],
)
def test_every_parameter_style_and_equality_form_gives_the_same_point(sql, params) -> None:
    assert reads(run(SCHEMA, sql, params)) == {("t", (5,))}


def test_in_list_gives_one_key_per_value() -> None:
    analysis = run(SCHEMA, "DELETE FROM t WHERE id IN (1, ?, :x)", [2, 3])
    assert writes(analysis) == {("t", (1,)), ("t", (2,)), ("t", (3,))}


def test_question_mark_numbered_parameters_follow_sqlite_numbering() -> None:
    # `?` after `?3` is parameter 4; `:a` then takes 5 and is bound by position.
    analysis = run(SCHEMA, "SELECT * FROM t WHERE id IN (?3, ?, :a)", [10, 20, 30, 40, 50])
    assert reads(analysis) == {("t", (30,)), ("t", (40,)), ("t", (50,))}


def test_composite_key_needs_every_key_column_and_takes_the_product_of_in_lists() -> None:
    analysis = run(SCHEMA, "SELECT * FROM w WHERE a IN ('x', 'y') AND b = 1")
    assert reads(analysis) == {("w", ("x", 1)), ("w", ("y", 1))}
    assert reads(run(SCHEMA, "SELECT * FROM w WHERE a = 'x'")) == {("w", None)}


@pytest.mark.parametrize(
    "where",
    [
        "id > 5",
        "id = 5 OR id = 6",
        "id BETWEEN 1 AND 2",
        "id <> 5",
        "id NOT IN (1, 2)",
        "id IN (SELECT 5)",
        "id = v",
        "+id = 5",
        "id = 5 COLLATE NOCASE",
        "id = -?",
        "abs(id) = 5",
        "v = 5",
    ],
)
def test_any_predicate_that_is_not_a_key_lookup_reads_the_whole_table(where: str) -> None:
    params = [1] if "?" in where else []
    assert ("t", None) in reads(run(SCHEMA, f"SELECT * FROM t WHERE {where}", params))


def test_no_where_reads_the_whole_table_and_aggregates_too() -> None:
    assert reads(run(SCHEMA, "SELECT count(*) FROM t")) == {("t", None)}
    assert reads(run(SCHEMA, "SELECT sum(v) FROM t WHERE id = 1 GROUP BY name")) == {("t", (1,))}


def test_rowid_aliases_address_the_integer_primary_key() -> None:
    for alias in ("rowid", "_rowid_", "oid", "ROWID"):
        assert reads(run(SCHEMA, f"SELECT * FROM t WHERE {alias} = 4")) == {("t", (4,))}


def test_rowid_addresses_rows_of_a_table_without_primary_key() -> None:
    assert writes(run(SCHEMA, "UPDATE plain SET y = 1 WHERE rowid = 9")) == {("plain", (9,))}
    assert writes(run(SCHEMA, "UPDATE plain SET y = 1 WHERE x = 9")) == {("plain", None)}


def test_rowid_is_not_a_key_of_a_table_whose_key_is_another_column() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM texts WHERE rowid = 1")) == {("texts", None)}
    assert reads(run(SCHEMA, "SELECT * FROM texts WHERE code = 'a'")) == {("texts", ("a",))}


def test_identifiers_are_case_insensitive_quoted_and_main_qualified() -> None:
    for sql in (
        'SELECT * FROM "T" WHERE "Id" = 2',
        "select * from T where ID = 2",
        "SELECT * FROM [t] WHERE `id` = 2",
        "SELECT * FROM main.t WHERE t.id = 2",
        "SELECT * FROM MAIN.T AS x WHERE x.ID = 2",
    ):
        assert reads(run(SCHEMA, sql)) == {("t", (2,))}, sql


def test_column_of_another_alias_is_not_a_key_of_the_table() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM t AS x WHERE y.id = 2")) == {("t", None)}


def test_text_that_looks_like_an_integer_becomes_an_integer_key() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = '7'")) == {("t", (7,))}
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = ?", [" 7 "])) == {("t", (7,))}
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = 7.0")) == {("t", (7,))}
    assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = '1e1'")) == {("t", (10,))}


def test_value_that_can_never_be_a_rowid_reads_the_whole_table() -> None:
    for value in ("abc", 7.5, None, b"\x07"):
        assert reads(run(SCHEMA, "SELECT * FROM t WHERE id = ?", [value])) == {("t", None)}


def test_text_affinity_key_turns_numbers_into_text() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM texts WHERE code = 7")) == {("texts", ("7",))}
    # SQLite's REAL-to-TEXT formatting is not reproduced: stay whole-table.
    assert reads(run(SCHEMA, "SELECT * FROM texts WHERE code = 7.5")) == {("texts", None)}


def test_real_affinity_key_turns_integers_into_reals() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM reals WHERE r = 7")) == {("reals", (7.0,))}
    assert reads(run(SCHEMA, "SELECT * FROM reals WHERE r = '2.5'")) == {("reals", (2.5,))}


def test_numeric_affinity_key_reads_numbers_out_of_text() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM numerics WHERE n = '12'")) == {("numerics", (12,))}
    assert reads(run(SCHEMA, "SELECT * FROM numerics WHERE n = 3.0")) == {("numerics", (3,))}
    assert reads(run(SCHEMA, "SELECT * FROM numerics WHERE n = 'abc'")) == {("numerics", ("abc",))}


def test_untyped_key_keeps_types_but_equates_integral_reals_with_integers() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM untyped WHERE k = '7'")) == {("untyped", ("7",))}
    assert reads(run(SCHEMA, "SELECT * FROM untyped WHERE k = 7.0")) == {("untyped", (7,))}
    assert reads(run(SCHEMA, "SELECT * FROM untyped WHERE k = x'07'")) == {("untyped", (b"\x07",))}


def test_literal_forms_sqlite_accepts_are_read_exactly() -> None:
    for literal, key in (
        ("0x10", 16),
        ("1_000", 1000),
        ("-3", -3),
        ("TRUE", 1),
        ("0xFFFFFFFFFFFFFFFF", -1),
        ("-9223372036854775808", -(1 << 63)),
    ):
        assert reads(run(SCHEMA, f"SELECT * FROM t WHERE id = {literal}")) == {("t", (key,))}


def test_each_single_table_subquery_gets_its_own_point_key() -> None:
    analysis = run(
        SCHEMA, "SELECT (SELECT v FROM t WHERE id = 1), (SELECT a FROM w WHERE a = 'x' AND b = 2)"
    )
    assert reads(analysis) == {("t", (1,)), ("w", ("x", 2))}


def test_joins_read_every_table_whole() -> None:
    analysis = run(SCHEMA, "SELECT * FROM t JOIN u ON u.t_id = t.id WHERE t.id = 1")
    assert reads(analysis) == {("t", None), ("u", None)}


def test_large_in_lists_fall_back_to_the_whole_table() -> None:
    values = ", ".join(str(i) for i in range(300))
    assert reads(run(SCHEMA, f"SELECT * FROM t WHERE id IN ({values})")) == {("t", None)}
