"""Write keys of INSERT, UPDATE and DELETE: when a write stays a point and when
SQLite's own work (rowid assignment, uniqueness checks, REPLACE) makes it whole-table."""

from __future__ import annotations

from tests.analyzer.support import reads, run, schema_from, writes

SCHEMA = schema_from(
    """
    CREATE TABLE t(id INTEGER PRIMARY KEY, v, name TEXT);
    CREATE TABLE uq(id INTEGER PRIMARY KEY, email TEXT UNIQUE, v);
    CREATE TABLE uqi(id INTEGER PRIMARY KEY, a, b, v);
    CREATE UNIQUE INDEX uqi_ab ON uqi(a, lower(b));
    CREATE TABLE partial(id INTEGER PRIMARY KEY, a, flag);
    CREATE UNIQUE INDEX partial_a ON partial(a) WHERE flag = 1;
    CREATE TABLE gen(id INTEGER PRIMARY KEY, a, g AS (a * 2) UNIQUE);
    CREATE TABLE auto(id INTEGER PRIMARY KEY AUTOINCREMENT, v);
    CREATE TABLE w(a TEXT, b INT, c, PRIMARY KEY (a, b)) WITHOUT ROWID;
    CREATE TABLE texts(code TEXT PRIMARY KEY, v);
    CREATE TABLE plain(x, y);
    CREATE TABLE replacing(id INTEGER PRIMARY KEY, email TEXT UNIQUE ON CONFLICT REPLACE);
    CREATE TABLE redundant(id INTEGER PRIMARY KEY UNIQUE, v);
    """
)


def test_insert_with_explicit_key_values_is_a_point_write_per_row() -> None:
    analysis = run(SCHEMA, "INSERT INTO t(id, v) VALUES (?, 'a'), (2, 'b')", [1])
    assert writes(analysis) == {("t", (1,)), ("t", (2,))}
    assert reads(analysis) == set()


def test_insert_without_column_list_takes_the_key_from_its_position() -> None:
    assert writes(run(SCHEMA, "INSERT INTO t VALUES (5, 'a', 'b')")) == {("t", (5,))}


def test_insert_without_key_value_writes_the_whole_table() -> None:
    # The rowid comes from table state (max(rowid) + 1).
    assert writes(run(SCHEMA, "INSERT INTO t(v) VALUES (1)")) == {("t", None)}
    assert writes(run(SCHEMA, "INSERT INTO t DEFAULT VALUES")) == {("t", None)}
    assert writes(run(SCHEMA, "INSERT INTO t(id, v) VALUES (NULL, 1)")) == {("t", None)}
    assert writes(run(SCHEMA, "INSERT INTO t(id, v) VALUES (?, 1)", [None])) == {("t", None)}


def test_insert_with_a_computed_key_writes_the_whole_table() -> None:
    assert writes(run(SCHEMA, "INSERT INTO t(id, v) VALUES (1 + 1, 1)")) == {("t", None)}
    assert writes(run(SCHEMA, "INSERT INTO t(id, v) SELECT 1, 2")) == {("t", None)}


def test_insert_select_reads_its_sources_and_writes_the_whole_target() -> None:
    analysis = run(SCHEMA, "INSERT INTO w(a, b) SELECT name, id FROM t WHERE id = 3")
    assert writes(analysis) == {("w", None)}
    assert reads(analysis) == {("t", (3,))}


def test_insert_with_explicit_rowid_into_a_table_without_primary_key_is_a_point() -> None:
    assert writes(run(SCHEMA, "INSERT INTO plain(rowid, x) VALUES (4, 1)")) == {("plain", (4,))}
    assert writes(run(SCHEMA, "INSERT INTO plain(x) VALUES (1)")) == {("plain", None)}


def test_insert_into_rowid_table_keyed_by_another_column_writes_the_whole_table() -> None:
    # The row still gets a rowid from table state, so inserts must be ordered.
    assert writes(run(SCHEMA, "INSERT INTO texts(code, v) VALUES ('a', 1)")) == {("texts", None)}
    assert writes(run(SCHEMA, "UPDATE texts SET v = 1 WHERE code = 'a'")) == {("texts", ("a",))}


def test_insert_into_without_rowid_table_is_a_typed_point() -> None:
    assert writes(run(SCHEMA, "INSERT INTO w(a, b, c) VALUES (7, '8', 9)")) == {("w", ("7", 8))}
    assert writes(run(SCHEMA, "INSERT INTO w(b, c) VALUES (8, 9)")) == {("w", None)}


def test_autoincrement_insert_writes_the_table_and_sqlite_sequence_whole() -> None:
    for sql in ("INSERT INTO auto(v) VALUES (1)", "INSERT INTO auto(id, v) VALUES (5, 1)"):
        assert writes(run(SCHEMA, sql)) == {("auto", None), ("sqlite_sequence", None)}
    assert writes(run(SCHEMA, "UPDATE auto SET v = 2 WHERE id = 5")) == {("auto", (5,))}


def test_writes_setting_a_unique_column_other_than_the_key_write_the_whole_table() -> None:
    assert writes(run(SCHEMA, "INSERT INTO uq(id, email) VALUES (1, 'a@b')")) == {("uq", None)}
    assert writes(run(SCHEMA, "UPDATE uq SET email = 'x' WHERE id = 1")) == {("uq", None)}
    assert writes(run(SCHEMA, "UPDATE uq SET v = 'x' WHERE id = 1")) == {("uq", (1,))}
    assert writes(run(SCHEMA, "DELETE FROM uq WHERE id = 1")) == {("uq", (1,))}


def test_unique_index_on_an_expression_covers_the_columns_it_reads() -> None:
    assert writes(run(SCHEMA, "UPDATE uqi SET b = 'x' WHERE id = 1")) == {("uqi", None)}
    assert writes(run(SCHEMA, "UPDATE uqi SET v = 'x' WHERE id = 1")) == {("uqi", (1,))}


def test_partial_unique_index_covers_the_columns_of_its_where_clause() -> None:
    assert writes(run(SCHEMA, "UPDATE partial SET flag = 1 WHERE id = 1")) == {("partial", None)}


def test_unique_generated_column_is_touched_through_its_inputs() -> None:
    assert writes(run(SCHEMA, "UPDATE gen SET a = 3 WHERE id = 1")) == {("gen", None)}


def test_unique_constraint_on_the_key_itself_changes_nothing() -> None:
    assert writes(run(SCHEMA, "INSERT INTO redundant(id, v) VALUES (1, 2)")) == {
        ("redundant", (1,))
    }


def test_update_of_a_key_column_writes_the_whole_table() -> None:
    assert writes(run(SCHEMA, "UPDATE t SET id = 9 WHERE id = 1")) == {("t", None)}
    assert writes(run(SCHEMA, "UPDATE t SET rowid = 9 WHERE id = 1")) == {("t", None)}
    assert writes(run(SCHEMA, "UPDATE w SET b = 2 WHERE a = 'x' AND b = 1")) == {("w", None)}
    assert writes(run(SCHEMA, "UPDATE texts SET rowid = 2 WHERE code = 'a'")) == {("texts", None)}
    assert writes(run(SCHEMA, "UPDATE t SET (v, id) = (1, 2) WHERE id = 1")) == {("t", None)}


def test_update_with_from_writes_the_whole_target() -> None:
    analysis = run(SCHEMA, "UPDATE t SET v = w.c FROM w WHERE t.id = 1 AND w.b = t.id")
    assert writes(analysis) == {("t", None)}
    assert ("w", None) in reads(analysis)


def test_replace_over_other_unique_constraints_writes_the_whole_table() -> None:
    assert writes(run(SCHEMA, "REPLACE INTO uq(id, email) VALUES (1, 'a')")) == {("uq", None)}
    assert writes(run(SCHEMA, "INSERT OR REPLACE INTO uq(id, email) VALUES (1, 'a')")) == {
        ("uq", None)
    }


def test_replace_on_the_key_alone_is_a_point_write() -> None:
    assert writes(run(SCHEMA, "REPLACE INTO t(id, v) VALUES (1, 2)")) == {("t", (1,))}
    assert writes(run(SCHEMA, "INSERT OR REPLACE INTO t(id, v) VALUES (1, 2)")) == {("t", (1,))}
    assert writes(run(SCHEMA, "WITH x AS (SELECT 1) REPLACE INTO t(id, v) VALUES (1, 2)")) == {
        ("t", (1,))
    }


def test_update_or_replace_is_understood() -> None:
    assert writes(run(SCHEMA, "UPDATE OR REPLACE t SET v = 1 WHERE id = 2")) == {("t", (2,))}
    assert writes(run(SCHEMA, "UPDATE OR IGNORE uq SET email = 'a' WHERE id = 2")) == {("uq", None)}


def test_constraint_level_on_conflict_replace_makes_a_plain_insert_whole_table() -> None:
    assert writes(run(SCHEMA, "INSERT INTO replacing(id, email) VALUES (1, 'a')")) == {
        ("replacing", None)
    }


def test_upsert_on_the_key_is_a_point_write() -> None:
    sql = (
        "INSERT INTO t(id, v) VALUES (?, ?) "
        "ON CONFLICT(id) DO UPDATE SET v = excluded.v WHERE v IS NOT excluded.v"
    )
    assert writes(run(SCHEMA, sql, [3, 4])) == {("t", (3,))}
    assert writes(run(SCHEMA, "INSERT INTO t(id, v) VALUES (3, 4) ON CONFLICT DO NOTHING")) == {
        ("t", (3,))
    }
    assert writes(run(SCHEMA, "INSERT OR IGNORE INTO t(id, v) VALUES (3, 4)")) == {("t", (3,))}


def test_upsert_that_updates_the_key_or_targets_another_constraint_is_whole_table() -> None:
    assert writes(
        run(SCHEMA, "INSERT INTO t(id, v) VALUES (3, 4) ON CONFLICT(id) DO UPDATE SET id = 9")
    ) == {("t", None)}
    assert writes(
        run(
            SCHEMA,
            "INSERT INTO uq(id, email) VALUES (3, 'a') ON CONFLICT(email) DO UPDATE SET v = 1",
        )
    ) == {("uq", None)}


def test_delete_by_key_is_a_point_and_without_where_the_whole_table() -> None:
    assert writes(run(SCHEMA, "DELETE FROM t WHERE id = 3")) == {("t", (3,))}
    assert writes(run(SCHEMA, "DELETE FROM t")) == {("t", None)}
    assert writes(run(SCHEMA, "DELETE FROM t WHERE v = 3")) == {("t", None)}


def test_update_and_delete_with_limit_and_order_by_keep_their_where_keys() -> None:
    # The bundled SQLite lacks UPDATE/DELETE ... LIMIT; the analysis stays sound anyway.
    analysis = run(SCHEMA, "DELETE FROM t WHERE id = 3 ORDER BY v LIMIT 1")
    assert writes(analysis) == {("t", (3,))}


def test_returning_reads_nothing_more_than_the_written_rows() -> None:
    analysis = run(SCHEMA, "UPDATE t SET v = 1 WHERE id = 3 RETURNING v, name")
    assert writes(analysis) == {("t", (3,))} and reads(analysis) == {("t", (3,))}


def test_subqueries_in_a_write_read_their_tables() -> None:
    analysis = run(SCHEMA, "UPDATE t SET v = (SELECT max(c) FROM w) WHERE id = 3")
    assert writes(analysis) == {("t", (3,))}
    assert reads(analysis) == {("t", (3,)), ("w", None)}


def test_whole_table_keys_subsume_point_keys_of_the_same_table() -> None:
    analysis = run(SCHEMA, "UPDATE t SET v = (SELECT v FROM t WHERE id = 1) WHERE name = 'x'")
    assert writes(analysis) == {("t", None)}
    assert reads(analysis) == {("t", None)}
