"""The engine's own tables and SQL, kept in the state database itself.

- `_epaxdb_applied(request_id, marker, result, executed_ms)`: one row per applied
  request, holding its encoded result, so that a retried request gets the stored
  answer, and the timestamp of its first execution (the transaction's own, agreed
  timestamp), by which a replicated purge forgets old results (index
  `_epaxdb_applied_by_time`).
- `_epaxdb_markers(marker)`: the runtime's executed markers (which protocol instance /
  batch position has been executed). Keyed by marker so recording and listing are cheap
  and the runtime can garbage-collect old ones.
- `_epaxdb_position(executed_count)`: how many markers were ever recorded. Replicas that
  executed the same set of transactions have the same count, whatever the order of
  non-interfering ones; it is part of the state hash.

All three are written in the same SQLite transaction as the client statements' effects,
which is what makes execution exactly-once across crashes. They are created by fixed
DDL, identical on every replica, so the schema version they leave behind is too.

Databases created before `executed_ms` existed keep their three-column table until the
first purge executes: the purge adds the column and the index (`MIGRATE_RESULTS`).
Adding them when the file is opened instead would bump `PRAGMA schema_version` at a
different point of the execution order on each replica (each one restarts at its own
position), and transactions analysed under the old version would then fail
`schema_changed` on some replicas only. A purge is a global command: every replica
migrates at the same point of the order.
"""

from __future__ import annotations

import apsw

RESULTS_TABLE = "_epaxdb_applied"
RESULTS_INDEX = "_epaxdb_applied_by_time"
# The results table of a new database; a database that already has one keeps it as it is.
CREATE_RESULTS = (
    f"CREATE TABLE {RESULTS_TABLE}("
    "request_id TEXT PRIMARY KEY NOT NULL, marker NOT NULL, result BLOB NOT NULL, "
    "executed_ms INTEGER"
    ") WITHOUT ROWID"
)
CREATE_RESULTS_INDEX = f"CREATE INDEX {RESULTS_INDEX} ON {RESULTS_TABLE}(executed_ms)"
CREATE_TABLES = (
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
INSERT_RESULT = (
    "INSERT INTO _epaxdb_applied(request_id, marker, result, executed_ms) VALUES (?, ?, ?, ?)"
)
# Before the migration (a database created without executed_ms).
INSERT_RESULT_UNTIMED = "INSERT INTO _epaxdb_applied(request_id, marker, result) VALUES (?, ?, ?)"
RESULTS_ARE_TIMED = (
    "SELECT count(*) FROM pragma_table_info('_epaxdb_applied') WHERE name = 'executed_ms'"
)
OBJECT_NAMED = "SELECT count(*) FROM sqlite_schema WHERE name = ?"
ADD_EXECUTED_MS = "ALTER TABLE _epaxdb_applied ADD COLUMN executed_ms INTEGER"
# Results stored before the migration get the migrating purge's timestamp: they are kept
# for a whole retention period from then on.
STAMP_UNTIMED = "UPDATE _epaxdb_applied SET executed_ms = ? WHERE executed_ms IS NULL"
PURGE_RESULTS = "DELETE FROM _epaxdb_applied WHERE executed_ms < ?"
ANY_RESULT_BEFORE = "SELECT 1 FROM _epaxdb_applied WHERE executed_ms < ? LIMIT 1"
# The oldest first, ties by request id: the same rows on every replica (the index
# `_epaxdb_applied_by_time` holds them in that order, the primary key appended).
PURGE_OLDEST_RESULTS = (
    "DELETE FROM _epaxdb_applied WHERE request_id IN (SELECT request_id FROM _epaxdb_applied "
    "WHERE executed_ms < ? ORDER BY executed_ms, request_id LIMIT ?)"
)
INSERT_MARKER = "INSERT OR IGNORE INTO _epaxdb_markers VALUES (?)"
BUMP_POSITION = "UPDATE _epaxdb_position SET executed_count = executed_count + 1"
SELECT_POSITION = "SELECT executed_count FROM _epaxdb_position"
SELECT_MARKERS = "SELECT marker FROM _epaxdb_markers"
DELETE_MARKER = "DELETE FROM _epaxdb_markers WHERE marker = ?"
SEQUENCE_AT_MAX = "SELECT 1 FROM sqlite_sequence WHERE seq >= 9223372036854775807 LIMIT 1"

INTERNAL_STATEMENTS = frozenset(
    {
        *CREATE_TABLES,
        CREATE_RESULTS,
        CREATE_RESULTS_INDEX,
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
        INSERT_RESULT_UNTIMED,
        RESULTS_ARE_TIMED,
        OBJECT_NAMED,
        ADD_EXECUTED_MS,
        STAMP_UNTIMED,
        PURGE_RESULTS,
        ANY_RESULT_BEFORE,
        PURGE_OLDEST_RESULTS,
        INSERT_MARKER,
        BUMP_POSITION,
        SELECT_POSITION,
        SELECT_MARKERS,
        DELETE_MARKER,
        SEQUENCE_AT_MAX,
    }
)


def create_tables(db: apsw.Connection) -> None:
    db.execute(BEGIN_WRITE)
    if not db.execute(OBJECT_NAMED, (RESULTS_TABLE,)).fetchone()[0]:
        db.execute(CREATE_RESULTS)
        db.execute(CREATE_RESULTS_INDEX)
    for sql in CREATE_TABLES:
        db.execute(sql)
    db.execute(COMMIT)


def migrate_results(db: apsw.Connection, stamp_ms: int) -> None:
    """Give a results table created without `executed_ms` the column and its index
    (inside the caller's transaction, at a purge: see the module docstring)."""
    db.execute(ADD_EXECUTED_MS)
    db.execute(STAMP_UNTIMED, (stamp_ms,))
    # A user object may have taken the index's name (nothing reserved it before); the
    # purge then scans the table instead, which is slower and just as correct.
    if not db.execute(OBJECT_NAMED, (RESULTS_INDEX,)).fetchone()[0]:
        db.execute(CREATE_RESULTS_INDEX)
