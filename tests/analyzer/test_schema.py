"""Reading SQLite's catalog: keys, rowid aliases, affinities, unique constraints,
defaults, foreign keys, triggers and views — and staying conservative when a
definition cannot be read."""

from __future__ import annotations

import pytest

from analyzer import Schema
from analyzer.schema import ROWID
from analyzer.values import Affinity
from tests.analyzer.support import refusal_code, run, schema_from, writes


def _table(script: str, name: str = "t"):
    return schema_from(script).tables[name]


@pytest.mark.parametrize(
    ("declared", "affinity"),
    [
        ("INTEGER", Affinity.INTEGER),
        ("INT", Affinity.INTEGER),
        ("BIGINT", Affinity.INTEGER),
        ("UNSIGNED BIG INT", Affinity.INTEGER),
        ("FLOATING POINT", Affinity.INTEGER),
        ("POINT", Affinity.INTEGER),
        ("VARCHAR(10)", Affinity.TEXT),
        ("CLOB", Affinity.TEXT),
        ("NCHAR(55)", Affinity.TEXT),
        ("BLOB", Affinity.BLOB),
        ("", Affinity.BLOB),
        ("REAL", Affinity.REAL),
        ("DOUBLE PRECISION", Affinity.REAL),
        ("FLOAT", Affinity.REAL),
        ("NUMERIC", Affinity.NUMERIC),
        ("DECIMAL(10,5)", Affinity.NUMERIC),
        ("BOOLEAN", Affinity.NUMERIC),
        ("DATETIME", Affinity.NUMERIC),
        ("STRING", Affinity.NUMERIC),
        ("'weird type'", Affinity.NUMERIC),
    ],
)
def test_column_affinity_follows_sqlite_rules_for_any_declared_type(declared, affinity) -> None:
    table = _table(f"CREATE TABLE t(c {declared} PRIMARY KEY, v) WITHOUT ROWID")
    assert table.by_name["c"].affinity is affinity
    assert table.key[0].affinity is affinity


def test_strict_any_column_has_no_affinity() -> None:
    assert _table("CREATE TABLE t(c ANY) STRICT").by_name["c"].affinity is Affinity.BLOB
    assert _table("CREATE TABLE t(c ANY)").by_name["c"].affinity is Affinity.NUMERIC


@pytest.mark.parametrize(
    ("script", "alias"),
    [
        ("CREATE TABLE t(id INTEGER PRIMARY KEY)", "id"),
        ("CREATE TABLE t(id integer primary key asc)", "id"),
        ("CREATE TABLE t(id INTEGER, PRIMARY KEY (id DESC))", "id"),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY DESC)", None),  # SQLite's documented quirk
        ("CREATE TABLE t(id INT PRIMARY KEY)", None),
        ("CREATE TABLE t(id BIGINT PRIMARY KEY)", None),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY) WITHOUT ROWID", None),
        ("CREATE TABLE t(a INTEGER, b INTEGER, PRIMARY KEY (a, b))", None),
    ],
)
def test_only_a_single_integer_primary_key_is_a_rowid_alias(script: str, alias) -> None:
    assert _table(script).rowid_alias == alias


def test_rowid_alias_table_is_keyed_by_the_rowid() -> None:
    table = _table("CREATE TABLE t(id INTEGER PRIMARY KEY, v)")
    assert [(k.name, k.is_rowid) for k in table.key] == [("id", True)]
    assert table.point_insertable


def test_non_alias_primary_key_is_the_key_but_inserts_are_whole_table() -> None:
    table = _table("CREATE TABLE t(id INT PRIMARY KEY, v)")
    assert [(k.name, k.is_rowid) for k in table.key] == [("id", False)]
    assert not table.point_insertable
    assert writes(
        run(schema_from("CREATE TABLE t(id INT PRIMARY KEY, v)"), "INSERT INTO t VALUES (1, 2)")
    ) == {("t", None)}


def test_without_rowid_table_is_keyed_by_its_primary_key_in_declared_order() -> None:
    table = _table("CREATE TABLE t(a TEXT, b INT, c, PRIMARY KEY (b, a)) WITHOUT ROWID")
    assert [k.name for k in table.key] == ["b", "a"]
    assert table.point_insertable


def test_table_without_primary_key_is_keyed_by_rowid() -> None:
    assert [k.name for k in _table("CREATE TABLE t(a, b)").key] == [ROWID]


def test_a_real_column_named_rowid_hides_the_rowid_under_that_name_only() -> None:
    schema = schema_from("CREATE TABLE t(rowid, v)")
    assert writes(run(schema, "UPDATE t SET v = 1 WHERE rowid = 1")) == {("t", None)}
    assert writes(run(schema, "UPDATE t SET v = 1 WHERE oid = 1")) == {("t", (1,))}
    assert writes(run(schema, "UPDATE t SET rowid = 1 WHERE oid = 1")) == {("t", (1,))}


def test_non_binary_collation_on_a_key_column_disables_point_keys() -> None:
    assert _table("CREATE TABLE t(k TEXT COLLATE NOCASE PRIMARY KEY) WITHOUT ROWID").key is None
    assert _table("CREATE TABLE t(k TEXT, PRIMARY KEY (k COLLATE RTRIM)) WITHOUT ROWID").key is None
    schema = schema_from("CREATE TABLE t(k TEXT COLLATE NOCASE PRIMARY KEY, v) WITHOUT ROWID")
    assert writes(run(schema, "UPDATE t SET v = 1 WHERE k = 'a'")) == {("t", None)}


def test_autoincrement_is_recorded() -> None:
    assert _table("CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT)").autoincrement
    assert not _table("CREATE TABLE t(id INTEGER PRIMARY KEY)").autoincrement


def test_unique_constraints_from_columns_table_constraints_and_indexes() -> None:
    schema = schema_from(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a UNIQUE, b, c, d, UNIQUE (b, c));"
        "CREATE UNIQUE INDEX t_d ON t(d);"
        "CREATE INDEX t_plain ON t(c, d);"
    )
    assert set(schema.tables["t"].unique_sets) == {
        frozenset({"a"}),
        frozenset({"b", "c"}),
        frozenset({"d"}),
    }


def test_primary_key_of_a_rowid_table_keyed_by_other_columns_is_not_another_constraint() -> None:
    assert _table("CREATE TABLE t(code TEXT PRIMARY KEY, v)").unique_sets == ()


def test_constraints_without_separating_commas_are_read() -> None:
    table = _table(
        "CREATE TABLE t(a, b, c, PRIMARY KEY (a) UNIQUE (b) CHECK (c > 0)) WITHOUT ROWID"
    )
    assert [k.name for k in table.key] == ["a"]
    assert table.unique_sets == (frozenset({"b"}),)


def test_foreign_keys_and_their_actions_are_read_from_both_syntaxes() -> None:
    schema = schema_from(
        "CREATE TABLE p(id INTEGER PRIMARY KEY, a, b, UNIQUE (a, b));"
        "CREATE TABLE c(id INTEGER PRIMARY KEY,"
        " p_id REFERENCES p ON DELETE CASCADE ON UPDATE SET NULL MATCH SIMPLE,"
        " x, y, CONSTRAINT fk FOREIGN KEY (x, y) REFERENCES p(a, b) ON DELETE SET DEFAULT"
        " DEFERRABLE INITIALLY DEFERRED);"
    )
    fks = schema.tables["c"].foreign_keys
    assert [(f.columns, f.parent, f.parent_columns, f.on_delete, f.on_update) for f in fks] == [
        (("p_id",), "p", None, "cascade", "set null"),
        (("x", "y"), "p", ("a", "b"), "set default", "no action"),
    ]
    assert [f.child for f in schema.children["p"]] == ["c", "c"]


def test_defaults_are_classified() -> None:
    table = _table(
        "CREATE TABLE t(a DEFAULT 5, b DEFAULT -1.5, c DEFAULT 'x', d DEFAULT CURRENT_DATE,"
        " e DEFAULT (random()), f DEFAULT (sqlite_version()), g DEFAULT NULL)"
    )
    column = table.by_name
    assert column["a"].default.notes == () and column["a"].default.problem is None
    assert column["b"].default.problem is None and column["c"].default.problem is None
    assert "CURRENT_DATE" in column["d"].default.notes[0]
    assert "random()" in column["e"].default.notes[0]
    assert column["f"].default.problem.code == "build_dependent"
    assert column["g"].default.notes == ()


def test_triggers_record_their_table_and_event() -> None:
    schema = schema_from(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
        "CREATE TRIGGER t_upd BEFORE UPDATE OF v ON t FOR EACH ROW WHEN new.v > 0 BEGIN"
        " SELECT RAISE(ABORT, 'no') WHERE new.v > 10; UPDATE t SET v = 0 WHERE id = new.id; END;"
    )
    (trigger,) = schema.triggers
    assert (trigger.name, trigger.table, trigger.events, trigger.problem) == (
        "t_upd",
        "t",
        frozenset({"update"}),
        None,
    )


def test_view_base_tables_resolve_through_nested_views_and_ctes() -> None:
    schema = schema_from(
        "CREATE TABLE a(x); CREATE TABLE b(y);"
        "CREATE VIEW v1 AS WITH c AS (SELECT x FROM a) SELECT * FROM c;"
        "CREATE VIEW v2 AS SELECT * FROM v1, b WHERE y IN (SELECT x FROM a);"
    )
    assert schema.views["v1"].base_tables == {"a"}
    assert schema.views["v2"].base_tables == {"a", "b"}


def test_catalog_rows_may_be_any_sequences_and_rows_without_sql_are_skipped() -> None:
    schema = Schema.from_catalog(
        [
            ["table", "T", "T", "CREATE TABLE T(Id INTEGER PRIMARY KEY)"],
            ("index", "sqlite_autoindex_x_1", "x", None),
        ],
        version=7,
    )
    assert schema.version == 7 and list(schema.tables) == ["t"]
    assert schema.tables["t"].rowid_alias == "id"


def test_unreadable_table_definition_refuses_statements_that_touch_it() -> None:
    schema = Schema.from_catalog([("table", "odd", "odd", "CREATE TABLE odd(a b c ) junk")])
    assert schema.tables["odd"].problem is not None
    assert refusal_code(schema, "SELECT * FROM odd") == "unsupported_schema"


def test_unreadable_unique_index_is_assumed_to_cover_every_column() -> None:
    schema = Schema.from_catalog(
        [
            ("table", "t", "t", "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b)"),
            ("index", "i", "t", "CREATE UNIQUE INDEX i ON t WHATEVER"),
        ]
    )
    assert schema.tables["t"].unique_sets == (frozenset({"id", "a", "b"}),)


def test_unreadable_trigger_fires_on_everything_and_refuses() -> None:
    schema = Schema.from_catalog(
        [
            ("table", "t", "t", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"),
            ("trigger", "x", "t", "CREATE TRIGGER x AFTER NONSENSE ON t BEGIN SELECT 1; END"),
        ]
    )
    assert refusal_code(schema, "DELETE FROM t WHERE id = 1") == "unsupported_schema"
    assert not run(schema, "SELECT * FROM t").is_global


def test_sqlite_sequence_is_never_point_addressed() -> None:
    schema = schema_from("CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT)")
    assert schema.tables["sqlite_sequence"].key is None
    assert writes(run(schema, "UPDATE sqlite_sequence SET seq = 0 WHERE rowid = 1")) == {
        ("sqlite_sequence", None)
    }
