"""The schema PRAGMAs reflection needs, answered from the cluster's CREATE statements
replayed into a local SQLite database (the cluster refuses PRAGMA)."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip(
    "sqlalchemy", minversion="2.0", reason="SQLAlchemy 2 is not installed (`python3 dev.py test`)"
)
from sqlalchemy.exc import UnreflectableTableError

from epaxdb.sqlalchemy.schema_mirror import SCHEMA_SQL, SchemaMirror

SCHEMA = """
CREATE TABLE authors(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE books(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
    title TEXT DEFAULT 'untitled',
    slug TEXT AS (lower(title)) STORED
);
CREATE INDEX books_by_author ON books(author_id, title);
CREATE VIEW titles AS SELECT title FROM books;
"""


def catalog(script: str) -> list[tuple[str, str, str, str]]:
    """What the dialect's `SCHEMA_SQL` reads from a database holding `script`."""
    db = sqlite3.connect(":memory:")
    db.executescript(script)
    return db.execute(SCHEMA_SQL).fetchall()


def direct(script: str, pragma: str, name: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(":memory:")
    db.executescript(script)
    return db.execute(f'PRAGMA main.{pragma}("{name}")').fetchall()


@pytest.mark.parametrize(
    ("pragma", "name"),
    [
        ("table_xinfo", "books"),
        ("table_info", "authors"),
        ("foreign_key_list", "books"),
        ("index_list", "books"),
        ("index_list", "authors"),
        ("index_info", "books_by_author"),
        ("table_info", "titles"),
    ],
)
def test_a_pragma_answers_as_on_the_original_database(pragma: str, name: str) -> None:
    with SchemaMirror(catalog(SCHEMA)) as mirror:
        assert mirror.pragma(pragma, name) == direct(SCHEMA, pragma, name)
        assert mirror.pragma(pragma, name)


def test_names_are_matched_as_sqlite_matches_them() -> None:
    with SchemaMirror(catalog(SCHEMA)) as mirror:
        assert mirror.pragma("table_info", "AUTHORS") == direct(SCHEMA, "table_info", "authors")
        assert mirror.pragma("table_info", "missing") == []


def test_functions_the_local_sqlite_lacks_do_not_stop_the_replay() -> None:
    # e.g. a function of a newer SQLite on the replicas, in a CHECK and an index
    rows = [
        ("table", "t", "t", "CREATE TABLE t(a TEXT CHECK (newer_fn(a) > 0), b AS (newer_fn(a)))"),
        ("index", "t_b", "t", "CREATE INDEX t_b ON t(other_fn(a))"),
    ]
    with SchemaMirror(rows) as mirror:
        assert [row[1] for row in mirror.pragma("table_xinfo", "t")] == ["a", "b"]
        assert [row[1] for row in mirror.pragma("index_list", "t")] == ["t_b"]


def test_a_table_the_local_sqlite_cannot_replay_is_unreflectable_with_the_reason() -> None:
    rows = [
        ("table", "docs", "docs", "CREATE VIRTUAL TABLE docs USING some_module(body)"),
        ("table", "plain", "plain", "CREATE TABLE plain(x)"),
    ]
    with SchemaMirror(rows) as mirror:
        with pytest.raises(UnreflectableTableError, match="no such module: some_module"):
            mirror.pragma("table_info", "docs")
        assert [row[1] for row in mirror.pragma("table_info", "plain")] == ["x"]


def test_shadow_tables_of_a_virtual_table_are_not_created_twice() -> None:
    script = "CREATE VIRTUAL TABLE notes USING fts5(body);"
    rows = catalog(script)
    assert len(rows) > 1  # the virtual table and its shadow tables
    with SchemaMirror(rows) as mirror:
        assert [row[1] for row in mirror.pragma("table_info", "notes")] == ["body"]


def test_only_schema_pragmas_are_run() -> None:
    with SchemaMirror(catalog(SCHEMA)) as mirror, pytest.raises(ValueError, match="more than"):
        mirror.pragma("journal_mode", "books")
