"""The engine's own tables and SQL, kept in the state database itself.

- `_epaxdb_applied(request_id, marker, result)`: one row per applied request, holding
  its encoded result, so that a retried request gets the stored answer.
- `_epaxdb_markers(marker)`: the runtime's executed markers (which protocol instance /
  batch position has been executed). Keyed by marker so recording and listing are cheap
  and the runtime can garbage-collect old ones.
- `_epaxdb_position(executed_count)`: how many markers were ever recorded. Replicas that
  executed the same set of transactions have the same count, whatever the order of
  non-interfering ones; it is part of the state hash.

All three are written in the same SQLite transaction as the client statements' effects,
which is what makes execution exactly-once across crashes. They are created by fixed
DDL, identical on every replica, so the schema version they leave behind is too.
"""

from __future__ import annotations

import apsw

CREATE_TABLES = (
    (
        "CREATE TABLE IF NOT EXISTS _epaxdb_applied("
        "request_id TEXT PRIMARY KEY NOT NULL, marker NOT NULL, result BLOB NOT NULL"
        ") WITHOUT ROWID"
    ),
    "CREATE TABLE IF NOT EXISTS _epaxdb_markers(marker PRIMARY KEY NOT NULL) WITHOUT ROWID",
    (
        "CREATE TABLE IF NOT EXISTS _epaxdb_position("
        "singleton INTEGER PRIMARY KEY CHECK (singleton = 0), executed_count INTEGER NOT NULL)"
    ),
    "INSERT OR IGNORE INTO _epaxdb_position VALUES (0, 0)",
)

BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGIN_READ = "BEGIN DEFERRED"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
SAVEPOINT = "SAVEPOINT epaxdb_statements"
ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO epaxdb_statements"
RELEASE_SAVEPOINT = "RELEASE epaxdb_statements"
# A DML statement that changes nothing sets changes() to 0, which no API call can do:
# without it, changes() would start each transaction with whatever the previous one left.
RESET_CHANGES = "DELETE FROM _epaxdb_position WHERE 0"
SCHEMA_VERSION = "PRAGMA schema_version"
SELECT_RESULT = "SELECT result, marker FROM _epaxdb_applied WHERE request_id = ?"
SELECT_MARKER = "SELECT 1 FROM _epaxdb_markers WHERE marker = ?"
INSERT_RESULT = "INSERT INTO _epaxdb_applied VALUES (?, ?, ?)"
INSERT_MARKER = "INSERT OR IGNORE INTO _epaxdb_markers VALUES (?)"
BUMP_POSITION = "UPDATE _epaxdb_position SET executed_count = executed_count + 1"
SELECT_POSITION = "SELECT executed_count FROM _epaxdb_position"
SELECT_MARKERS = "SELECT marker FROM _epaxdb_markers"
DELETE_MARKER = "DELETE FROM _epaxdb_markers WHERE marker = ?"
DELETE_RESULT = "DELETE FROM _epaxdb_applied WHERE request_id = ?"
SEQUENCE_AT_MAX = "SELECT 1 FROM sqlite_sequence WHERE seq >= 9223372036854775807 LIMIT 1"

INTERNAL_STATEMENTS = frozenset(
    {
        *CREATE_TABLES,
        BEGIN_WRITE,
        BEGIN_READ,
        COMMIT,
        ROLLBACK,
        SAVEPOINT,
        ROLLBACK_TO_SAVEPOINT,
        RELEASE_SAVEPOINT,
        RESET_CHANGES,
        SCHEMA_VERSION,
        SELECT_RESULT,
        SELECT_MARKER,
        INSERT_RESULT,
        INSERT_MARKER,
        BUMP_POSITION,
        SELECT_POSITION,
        SELECT_MARKERS,
        DELETE_MARKER,
        DELETE_RESULT,
        SEQUENCE_AT_MAX,
    }
)


def create_tables(db: apsw.Connection) -> None:
    for sql in (BEGIN_WRITE, *CREATE_TABLES, COMMIT):
        db.execute(sql)
