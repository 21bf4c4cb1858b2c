"""Writes the statement text does not show: foreign-key checks and actions, triggers,
views and virtual tables."""

from __future__ import annotations

from tests.analyzer.support import reads, refusal_code, run, schema_from, writes

SCHEMA = schema_from(
    """
    CREATE TABLE parent(id INTEGER PRIMARY KEY, code TEXT UNIQUE, v);
    CREATE TABLE cascade_child(id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE ON UPDATE CASCADE);
    CREATE TABLE null_child(id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES parent ON DELETE SET NULL);
    CREATE TABLE default_child(id INTEGER PRIMARY KEY, parent_code TEXT DEFAULT 'none',
        FOREIGN KEY (parent_code) REFERENCES parent(code) ON DELETE SET DEFAULT);
    CREATE TABLE strict_child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
    CREATE TABLE grandchild(id INTEGER PRIMARY KEY,
        child_id INTEGER REFERENCES cascade_child(id) ON DELETE CASCADE);
    CREATE TABLE logged(id INTEGER PRIMARY KEY, v);
    CREATE TABLE log(at, what);
    CREATE TRIGGER logged_update AFTER UPDATE ON logged BEGIN
        INSERT INTO log VALUES (datetime('now'), new.v);
    END;
    CREATE TABLE on_child_delete(id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);
    CREATE TRIGGER child_gone AFTER DELETE ON on_child_delete BEGIN SELECT 1; END;
    CREATE VIEW parent_view AS SELECT * FROM parent;
    CREATE VIEW nested_view AS SELECT * FROM parent_view JOIN logged USING (id);
    CREATE TRIGGER view_insert INSTEAD OF INSERT ON parent_view BEGIN
        INSERT INTO parent(id, v) VALUES (new.id, new.v);
    END;
    CREATE VIRTUAL TABLE docs USING fts5(body);
    """
)


def test_insert_into_child_reads_the_parent_row_it_references() -> None:
    analysis = run(SCHEMA, "INSERT INTO strict_child(id, parent_id) VALUES (1, ?)", ["7"])
    assert writes(analysis) == {("strict_child", (1,))}
    assert reads(analysis) == {("parent", (7,))}


def test_foreign_key_check_on_a_non_key_parent_column_reads_the_whole_parent() -> None:
    analysis = run(SCHEMA, "INSERT INTO default_child(id, parent_code) VALUES (1, 'x')")
    assert ("parent", None) in reads(analysis)


def test_update_of_a_child_foreign_key_reads_the_parent() -> None:
    analysis = run(SCHEMA, "UPDATE strict_child SET parent_id = 3 WHERE id = 1")
    assert ("parent", None) in reads(analysis)
    assert writes(analysis) == {("strict_child", (1,))}
    assert reads(run(SCHEMA, "UPDATE strict_child SET id = id WHERE id = 1")) == {
        ("strict_child", (1,))
    }


def test_deleting_a_parent_with_cascade_writes_the_children_and_grandchildren() -> None:
    analysis = run(SCHEMA, "DELETE FROM parent WHERE id = 1")
    assert ("parent", (1,)) in writes(analysis)
    for child in ("cascade_child", "null_child", "default_child", "grandchild"):
        assert (child, None) in writes(analysis), child
    assert ("strict_child", None) in reads(analysis)
    assert ("strict_child", None) not in writes(analysis)


def test_deleting_a_parent_with_no_action_only_reads_the_child() -> None:
    schema = schema_from(
        "CREATE TABLE p(id INTEGER PRIMARY KEY); "
        "CREATE TABLE c(id INTEGER PRIMARY KEY, p_id REFERENCES p(id));"
    )
    analysis = run(schema, "DELETE FROM p WHERE id = 1")
    assert writes(analysis) == {("p", (1,))}
    assert reads(analysis) == {("p", (1,)), ("c", None)}


def test_updating_a_referenced_parent_column_cascades_but_other_columns_do_not() -> None:
    assert ("cascade_child", None) in writes(run(SCHEMA, "UPDATE parent SET id = 2 WHERE id = 1"))
    assert writes(run(SCHEMA, "UPDATE parent SET v = 2 WHERE id = 1")) == {("parent", (1,))}


def test_replace_into_a_parent_counts_as_a_delete() -> None:
    analysis = run(SCHEMA, "REPLACE INTO parent(id, v) VALUES (1, 2)")
    assert ("cascade_child", None) in writes(analysis)


def test_trigger_on_a_written_table_makes_the_transaction_global() -> None:
    analysis = run(SCHEMA, "UPDATE logged SET v = 1 WHERE id = 1")
    assert analysis.is_global
    assert any("trigger logged_update" in note for note in analysis.notes)
    assert any("datetime()" in note for note in analysis.notes)


def test_trigger_for_another_event_does_not_fire() -> None:
    assert not run(SCHEMA, "INSERT INTO logged(id, v) VALUES (1, 1)").is_global
    assert not run(SCHEMA, "SELECT * FROM logged").is_global


def test_trigger_on_a_cascaded_child_makes_the_parent_delete_global() -> None:
    assert run(SCHEMA, "DELETE FROM parent WHERE id = 1").is_global


def test_views_read_their_base_tables_through_nested_views() -> None:
    assert reads(run(SCHEMA, "SELECT * FROM parent_view WHERE id = 1")) == {("parent", None)}
    assert reads(run(SCHEMA, "SELECT * FROM nested_view")) == {("parent", None), ("logged", None)}


def test_writing_a_view_is_global() -> None:
    analysis = run(SCHEMA, "INSERT INTO parent_view(id, v) VALUES (1, 2)")
    assert analysis.is_global


def test_virtual_tables_are_global() -> None:
    assert run(SCHEMA, "INSERT INTO docs(body) VALUES ('x')").is_global
    assert run(SCHEMA, "SELECT * FROM docs WHERE docs MATCH 'x'").is_global


def test_a_trigger_whose_body_is_not_replicable_refuses_the_statements_that_fire_it() -> None:
    schema = schema_from(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
        "CREATE TABLE log(v);"
        "CREATE TRIGGER bad AFTER INSERT ON t BEGIN "
        "INSERT INTO log VALUES (datetime('now', 'localtime')); END;"
    )
    assert (
        refusal_code(schema, "INSERT INTO t(id, v) VALUES (1, 2)") == "nondeterministic_localtime"
    )
    assert writes(run(schema, "UPDATE t SET v = 1 WHERE id = 1")) == {("t", (1,))}


def test_a_view_whose_body_is_not_replicable_refuses_its_readers() -> None:
    schema = schema_from("CREATE VIEW v AS SELECT sqlite_version() AS version;")
    assert refusal_code(schema, "SELECT * FROM v") == "build_dependent"


def test_column_default_set_by_set_default_action_is_checked() -> None:
    schema = schema_from(
        "CREATE TABLE p(id INTEGER PRIMARY KEY);"
        "CREATE TABLE c(id INTEGER PRIMARY KEY, "
        "p_id INTEGER DEFAULT (strftime('%s', 'now', 'localtime')) "
        "REFERENCES p(id) ON DELETE SET DEFAULT);"
    )
    assert refusal_code(schema, "DELETE FROM p WHERE id = 1") == "nondeterministic_localtime"
