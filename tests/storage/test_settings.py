"""Cluster SQL settings: the connection settings that change results are fixed."""

from __future__ import annotations

from epaxdb.storage import ClusterSqlSettings, StateDatabase
from tests.storage.helpers import ok, rows, run

PARENT_CHILD = (
    "CREATE TABLE parent(id INTEGER PRIMARY KEY)",
    "CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))",
)


def test_foreign_keys_are_enforced_by_default(db: StateDatabase) -> None:
    ok(db, *PARENT_CHILD)
    result = run(db, "INSERT INTO child VALUES (1, 42)")
    assert result.error is not None
    assert result.error.code == "SQLITE_CONSTRAINT_FOREIGNKEY"


def test_like_is_case_sensitive(db: StateDatabase) -> None:
    assert rows(db, "SELECT 'abc' LIKE 'ABC', 'abc' LIKE 'a%'") == [(0, 1)]


def test_triggers_recurse(db: StateDatabase) -> None:
    ok(
        db,
        "CREATE TABLE c(n INTEGER)",
        "CREATE TRIGGER again AFTER INSERT ON c WHEN new.n < 5"
        " BEGIN INSERT INTO c VALUES (new.n + 1); END",
        "INSERT INTO c VALUES (1)",
    )
    assert rows(db, "SELECT count(*) FROM c") == [(5,)]


def test_double_quoted_words_are_identifiers_never_strings(db: StateDatabase) -> None:
    result = run(db, 'SELECT "no_such_column"')
    assert result.error is not None
    assert "no such column" in result.error.message


def test_other_settings_are_honoured() -> None:
    relaxed = ClusterSqlSettings(
        foreign_keys=False,
        recursive_triggers=False,
        case_sensitive_like=False,
        double_quoted_strings=True,
    )
    with StateDatabase.open(":memory:", relaxed) as db:
        ok(db, *PARENT_CHILD, "INSERT INTO child VALUES (1, 42)")
        assert rows(db, "SELECT 'abc' LIKE 'ABC', \"plain string\"") == [(1, "plain string")]
        ok(
            db,
            "CREATE TABLE c(n INTEGER)",
            "CREATE TRIGGER again AFTER INSERT ON c WHEN new.n < 5"
            " BEGIN INSERT INTO c VALUES (new.n + 1); END",
            "INSERT INTO c VALUES (1)",
        )
        assert rows(db, "SELECT count(*) FROM c") == [(2,)]


def test_settings_travel_as_sorted_string_pairs_for_the_handshake() -> None:
    pairs = ClusterSqlSettings(recursive_triggers=False).as_pairs()
    assert list(pairs) == sorted(pairs)
    assert dict(pairs)["recursive_triggers"] == "off"
    assert dict(pairs)["foreign_keys"] == "on"
    assert ClusterSqlSettings().as_pairs() != pairs
