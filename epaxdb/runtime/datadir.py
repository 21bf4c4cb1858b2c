"""A replica's data directory: its layout, its lock and its identity.

Layout (see docs/runtime.md):
    LOCK            flock()ed by the running process; holds its pid (informative)
    IDENTITY        JSON {cluster_id, replica_id, replica_count}, written once
    instances.log   the instance log (log.py)
    state.db        the state database (+ its -wal and -shm files)

The lock is an advisory `fcntl.flock` on LOCK, released by the kernel when the
process dies, so a kill -9 never leaves a stale lock behind. The identity exists
because a data directory holds promises (votes, ballots) made as one replica of one
cluster: starting it as another replica id, or in another cluster, would let the
same disk vote twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from epaxdb.errors import StorageError
from epaxdb.runtime.errors import DataDirectoryInUse, IdentityMismatch
from epaxdb.runtime.log import fsync_directory

LOCK_FILE_NAME = "LOCK"
IDENTITY_FILE_NAME = "IDENTITY"
STATE_DB_NAME = "state.db"


def replica_directory(root: Path, replica_id: int) -> Path:
    """Where a cluster's files under one `root` keep replica `replica_id`'s data
    directory (`epaxdb local`, `epaxdb import`)."""
    return root / f"replica-{replica_id}"


@dataclass(frozen=True, slots=True)
class Identity:
    cluster_id: str
    replica_id: int
    replica_count: int


class DataDirectory:
    """Hold the lock of `path` from `open()` until `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

    @property
    def state_db_path(self) -> Path:
        return self.path / STATE_DB_NAME

    def open(self, identity: Identity) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create data directory {self.path}: {error}") from error
        self._lock()
        try:
            self._check_identity(identity)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        path = self.path / LOCK_FILE_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirectoryInUse(
                f"data directory {self.path} is in use by another process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _check_identity(self, identity: Identity) -> None:
        path = self.path / IDENTITY_FILE_NAME
        if path.exists():
            try:
                stored = Identity(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as error:
                raise StorageError(f"unreadable {path}: {error}") from error
            if stored != identity:
                raise IdentityMismatch(
                    f"data directory {self.path} belongs to cluster {stored.cluster_id!r} "
                    f"replica {stored.replica_id} of {stored.replica_count}, not cluster "
                    f"{identity.cluster_id!r} replica {identity.replica_id} of "
                    f"{identity.replica_count}"
                )
            return
        temporary = path.with_name(path.name + ".new")
        try:
            with open(temporary, "w") as file:
                json.dump(
                    {
                        "cluster_id": identity.cluster_id,
                        "replica_id": identity.replica_id,
                        "replica_count": identity.replica_count,
                    },
                    file,
                )
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
            fsync_directory(self.path)
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error}") from error
