"""Errors of the state database.

Two families matter to the replica runtime:

- `SqliteFailure` (a `StorageError`): SQLite failed for a reason that has nothing to do
  with the transaction's SQL (I/O error, disk full, busy lock, out of memory,
  corruption). Another replica would not fail the same way, so the failure is never
  recorded as a result: the replica must stop acknowledging and restart from its
  durable state. `DatabaseStopped` is raised by every later call.
- Deterministic failures of the SQL itself are *not* exceptions: they become the
  transaction's result (`epaxdb.storage.results.TransactionError`), identical everywhere.
"""

from __future__ import annotations

from epaxdb.errors import ConfigError, EpaxdbError, StorageError


class SqliteFailure(StorageError):
    """A non-deterministic SQLite failure; the database must not be used further."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DatabaseStopped(StorageError):
    """The state database was closed, or stopped after a `SqliteFailure`."""


class TimeZoneNotPinned(ConfigError):
    """SQLite's 'localtime' does not equal UTC in this process and could not be pinned."""


class LocalQueryError(EpaxdbError):
    """A local (non-replicated) query was refused or failed; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PreviewInterrupted(EpaxdbError):
    """A preview's statements ran past its deadline and were stopped; nothing was
    changed and the database stays usable."""
