"""Make SQLite's 'localtime' mean UTC in this process, or refuse to run.

SQLite's 'localtime' and 'utc' modifiers convert with the C library's `localtime_r`,
which follows the process time zone (the `TZ` variable, else the system zone file), so
two replicas in different zones would store different values for the same transaction.
The analyzer refuses 'localtime' in replicated statements; this is the second line of
defence, covering whatever slips through (trigger bodies written before, local reads):

1. Probe: ask SQLite whether `datetime(x, 'localtime') = datetime(x)` for instants in
   winter and summer of several years (zones with DST or historical offsets differ at
   one of them).
2. If any probe differs, pin the process to UTC (`TZ=UTC`, `time.tzset()`) and log it:
   a replica's own local time zone has no business in replicated data. This changes
   the process's local time for everything else too (log timestamps, for instance),
   which is acceptable and documented for a replica process.
3. Probe again; if 'localtime' still is not UTC (broken tzdata), raise
   `TimeZoneNotPinned`, so the state database refuses to open.
"""

from __future__ import annotations

import logging
import os
import time

import apsw

from epaxdb.storage.errors import TimeZoneNotPinned

log = logging.getLogger(__name__)

_PROBES = tuple(
    f"{year}-{month}-01 12:00:00"
    for year in (1970, 1990, 2010, 2024, 2037)
    for month in ("01", "07")
)


def localtime_is_utc() -> bool:
    db = apsw.Connection(":memory:")
    try:
        for instant in _PROBES:
            row = db.execute(
                "SELECT datetime(?1, 'localtime') = datetime(?1)", (instant,)
            ).fetchone()
            if row is None or row[0] != 1:
                return False
        return True
    finally:
        db.close()


def ensure_utc_localtime() -> None:
    """Guarantee that 'localtime' equals UTC in this process (see module docstring)."""
    if localtime_is_utc():
        return
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    log.warning(
        "event=timezone_pinned previous_tz=%r reason=%s",
        previous,
        "SQLite 'localtime' must equal UTC on every replica",
    )
    if not localtime_is_utc():
        raise TimeZoneNotPinned(
            "SQLite's 'localtime' differs from UTC even with TZ=UTC; "
            "the time zone data of this machine is unusable for a replica"
        )
