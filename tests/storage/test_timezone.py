"""'localtime' must not depend on where a replica runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_opening_a_database_pins_localtime_to_utc_in_a_non_utc_process() -> None:
    script = textwrap.dedent(
        """
        import os
        from epaxdb.storage.timezone import localtime_is_utc
        from epaxdb.storage import StateDatabase

        print(localtime_is_utc())
        db = StateDatabase.open(":memory:")
        print(localtime_is_utc(), os.environ["TZ"])
        (row,) = db.query_local(
            "SELECT datetime('now', 'localtime') = datetime('now')", timestamp_ms=1_700_000_000_000
        ).rows
        print(row[0])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "JST-9"}
    child = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["False", "True", "UTC", "1"]
    assert "timezone_pinned" in child.stderr
