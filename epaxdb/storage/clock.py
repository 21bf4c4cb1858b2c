"""A VFS whose clock is the current transaction's agreed timestamp.

Theory of operation: every SQLite date/time function that needs "now" (`datetime('now')`,
`date()` with no argument, `strftime(fmt)`, `unixepoch()`, `julianday('now')`,
`timediff` with 'now', `CURRENT_TIMESTAMP`/`CURRENT_DATE`/`CURRENT_TIME`, and therefore
column defaults and trigger bodies using them) asks the connection's VFS for the time
through `xCurrentTimeInt64` (milliseconds since the Julian epoch). This VFS inherits
everything from the platform's default VFS and overrides only the clock: while a
transaction executes it returns the timestamp the coordinator chose for it, so every
replica — whenever it executes the transaction — sees the same instant, with
millisecond precision and in UTC by construction. Outside a transaction it falls back
to the real clock. Every statement of one transaction sees the same "now" (like
PostgreSQL's `transaction_timestamp()`).

One instance per state database: SQLite asks the VFS a connection was opened with, so
two databases in one process keep independent clocks. The VFS is registered under a
unique name and unregistered when the database closes.

`xRandomness` is deliberately *not* overridden; see `docs/storage.md` ("randomness"):
SQLite calls it only on the process-wide default VFS, once, to seed a process-global
PRNG whose stream is also consumed by WAL salts, journal nonces and temporary file
names. Seeding it deterministically could not make SQL results deterministic and would
make those physical values repeat across restarts and processes.
"""

from __future__ import annotations

import itertools

import apsw

# Julian day number of the Unix epoch (2440587.5) in milliseconds.
UNIX_EPOCH_JULIAN_MS = 210_866_760_000_000
_MS_PER_DAY = 86_400_000

_names = itertools.count(1)


class TransactionClockVFS(apsw.VFS):
    def __init__(self) -> None:
        self.vfs_name = f"epaxdb-clock-{next(_names)}"
        super().__init__(self.vfs_name, base="")
        self.now_ms: int | None = None

    def xCurrentTimeInt64(self) -> int:
        if self.now_ms is None:
            return super().xCurrentTimeInt64()
        return UNIX_EPOCH_JULIAN_MS + self.now_ms

    def xCurrentTime(self) -> float:
        return self.xCurrentTimeInt64() / _MS_PER_DAY
