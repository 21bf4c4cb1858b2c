"""Consistent file copies of SQLite databases: backups of a replica's state, seeds of new ones.

Theory of operation. Every copy goes through SQLite's online backup API from a
*separate* read-only connection, in one step inside one read transaction. The copy is
therefore one consistent snapshot, and it never blocks the replica: the state database
is in WAL mode, where a reader does not stop the writer (the WAL only cannot be
checkpointed past the reader's snapshot while the copy runs). Pages are copied as they
are, so implicit rowids, `schema_version`, `user_version` and `application_id` stay
exactly as they were — unlike VACUUM INTO, which may renumber implicit rowids.

A *backup* (`write_backup`) is a plain SQLite file (rollback-journal mode, openable by
any SQLite, Python's `sqlite3` included) holding the user's schema and data plus one of
the engine's tables, `_epaxdb_position`, whose `executed_count` states the position the
snapshot was taken at. The other two engine tables are dropped: the executed markers
and stored request results name instances of the *old* cluster, and a new cluster
numbering its instances from zero would take them for its own (a marker recorded under
another request id is an invariant violation, a stale result would answer a new
request). A restored cluster therefore starts at the backup's executed count and state
hash, and deduplicates only requests it executed itself.

Seeding a new cluster (`epaxdb.migration.seeding`) copies a backup or an application's
database the same way; the engine then creates its remaining bookkeeping tables, the
same on every replica.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import apsw

from epaxdb.errors import StorageError
from epaxdb.storage.errors import SqliteFailure
from epaxdb.storage.guard import INTERNAL_TABLES
from epaxdb.storage.state_hash import compute_state_hash

POSITION_TABLE = "_epaxdb_position"
# Engine tables a backup leaves out: they belong to the cluster the backup was taken in.
CLUSTER_LOCAL_TABLES = tuple(sorted(INTERNAL_TABLES - {POSITION_TABLE}))
_BUSY_TIMEOUT_MS = 10_000


class MissingPosition(StorageError):
    """The file records no executed position: it is neither a state database nor a backup."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What a backup file holds: the position it was taken at, and its state hash (the
    one every replica of a cluster restored from it reports before any new write)."""

    executed_count: int
    state_hash: str
    size_bytes: int


def open_read_only(path: Path) -> apsw.Connection:
    """A read-only connection that waits for writers instead of failing at once."""
    if not path.is_file():
        raise SqliteFailure("SQLITE_CANTOPEN", f"{path}: no such file")
    try:
        connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        connection.set_busy_timeout(_BUSY_TIMEOUT_MS)
        # Reading the schema is the first real access: a file that is no database
        # fails here, not halfway through a copy.
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchall()
    except apsw.Error as error:
        raise SqliteFailure(type(error).__name__, f"{path}: {error}") from error
    return connection


def copy_database(source: Path, destination: Path) -> None:
    """Copy `source` (one consistent snapshot) into the new file `destination`."""
    if destination.exists():
        raise FileExistsError(f"{destination} already exists")
    reader = open_read_only(source)
    try:
        writer = apsw.Connection(str(destination))
        try:
            with writer.backup("main", reader, "main") as backup:
                # One step: the whole copy reads one snapshot, however the source
                # changes meanwhile; a stepwise copy would restart on every write.
                backup.step(-1)
        finally:
            writer.close()
    except apsw.Error as error:
        _remove_database_files(destination)
        raise SqliteFailure(type(error).__name__, f"copying {source}: {error}") from error
    finally:
        reader.close()


def write_backup(state_db: Path, destination: Path) -> BackupInfo:
    """Write a backup of the state database `state_db` (which may be in use by a
    running replica) to the new file `destination`."""
    copy_database(state_db, destination)
    try:
        connection = apsw.Connection(str(destination))
        try:
            # The copy carries the source's WAL flag; a single self-contained file
            # is what a backup should be.
            connection.execute("PRAGMA journal_mode = DELETE").fetchall()
            drop_cluster_local_tables(connection)
            executed_count, state_hash = position_and_hash(connection)
        finally:
            connection.close()
    except BaseException as error:
        _remove_database_files(destination)
        if isinstance(error, apsw.Error):
            raise SqliteFailure(type(error).__name__, f"backup {destination}: {error}") from error
        raise
    return BackupInfo(executed_count, state_hash, destination.stat().st_size)


def position_and_hash(connection: apsw.Connection) -> tuple[int, str]:
    """The executed count a state database or backup records, and its state hash."""
    connection.execute("BEGIN")
    try:
        try:
            rows = connection.execute(f"SELECT executed_count FROM {POSITION_TABLE}").fetchall()
        except apsw.SQLError:
            rows = []
        if len(rows) != 1 or not isinstance(rows[0][0], int):
            raise MissingPosition(f"no executed position ({POSITION_TABLE} is missing or damaged)")
        executed_count = rows[0][0]
        return executed_count, compute_state_hash(connection, executed_count)
    finally:
        connection.execute("COMMIT")


def drop_cluster_local_tables(connection: apsw.Connection) -> None:
    """Drop the engine tables that name instances of the cluster a copy came from."""
    with connection:
        for table in CLUSTER_LOCAL_TABLES:
            connection.execute(f'DROP TABLE IF EXISTS "{table}"')


def _remove_database_files(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
