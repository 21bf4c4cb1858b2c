"""Seeding the replicas of a new cluster from one database file (import and restore).

Theory of operation. Every replica of a cluster must start from the same state, or
their state hashes differ from the first transaction on. So the source is copied
exactly once, as one consistent snapshot (SQLite's backup API, `storage.snapshot`),
into a staging file under the target directory; everything after works on that
snapshot, even if an application keeps writing the source meanwhile:

1. a backup loses its cluster-local engine tables (markers, stored results);
2. the snapshot is checked (`schema_check`): anything the cluster cannot replicate as
   it is refuses the whole seed, before a replica directory exists;
3. the storage engine opens it once: WAL mode, its bookkeeping tables, the state hash;
4. each replica's `state.db` is a backup-API copy of that file, opened again by the
   engine to confirm it reports the same state hash.

Replica `i`'s data directory is `DIR/replica-i`, the layout of `epaxdb local`, so
`epaxdb local --data DIR` runs an imported DIR as it is. The directories hold no
IDENTITY yet: they are interchangeable until the first `epaxdb serve` records which
replica of which cluster each one is. A failure at any step leaves nothing behind.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import apsw

from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError, EpaxdbError, InvariantViolation
from epaxdb.migration.schema_check import SchemaReport, check_database
from epaxdb.runtime.datadir import STATE_DB_NAME, replica_directory
from epaxdb.storage import SqliteFailure, StateDatabase
from epaxdb.storage.snapshot import copy_database, drop_cluster_local_tables, open_read_only

_STAGING_NAME = ".seed.db"


class SeedRefused(EpaxdbError):
    """The file cannot seed a cluster as it is; nothing was written."""

    def __init__(self, message: str, report: SchemaReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True, slots=True)
class SeededCluster:
    directories: tuple[Path, ...]  # replica i's data directory at index i
    executed_count: int
    state_hash: str
    report: SchemaReport


def seed_cluster(
    source: Path, root: Path, replicas: int, *, from_backup: bool = False
) -> SeededCluster:
    """Create `root/replica-0 .. replica-(replicas-1)`, each a data directory whose
    state is `source`'s schema and data (`from_backup`: an epaxdb backup)."""
    try:
        ClusterConfig.for_size(replicas)
    except ConfigError as error:
        raise SeedRefused(f"--replicas {replicas}: {error}") from None
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise SeedRefused(f"{root} is not an empty directory; seed a new cluster into a new one")
    if not source.is_file():
        raise SeedRefused(f"{source}: no such file")
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    staging = root / _STAGING_NAME
    try:
        report = _stage(source, staging, from_backup)
        with StateDatabase.open(staging) as db:
            state_hash, executed_count = db.state_hash(), db.executed_count()
        directories = tuple(replica_directory(root, i) for i in range(replicas))
        for directory in directories:
            directory.mkdir()
            copy_database(staging, directory / STATE_DB_NAME)
            with StateDatabase.open(directory / STATE_DB_NAME) as db:
                if db.state_hash() != state_hash:
                    raise InvariantViolation(
                        f"{directory} differs from the seed it was copied from"
                    )
        return SeededCluster(directories, executed_count, state_hash, report)
    except BaseException:
        if created_root:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for child in root.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{staging}{suffix}").unlink(missing_ok=True)


def _stage(source: Path, staging: Path, from_backup: bool) -> SchemaReport:
    """Copy the snapshot, make a backup's copy cluster-neutral, check it."""
    try:
        copy_database(source, staging)
    except SqliteFailure as error:
        raise SeedRefused(f"cannot read {source} as an SQLite database: {error.message}") from None
    if from_backup:
        writer = apsw.Connection(str(staging))
        try:
            drop_cluster_local_tables(writer)
        finally:
            writer.close()
    connection = open_read_only(staging)
    try:
        report = check_database(connection, from_backup=from_backup)
    finally:
        connection.close()
    if report.refused:
        raise SeedRefused(f"{source} cannot be replicated as it is", report)
    return report
