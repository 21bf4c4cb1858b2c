"""Exactly-once across crashes: effects and the executed record commit together."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import apsw
import pytest

from epaxdb.storage import DatabaseStopped, SqliteFailure, StateDatabase
from tests.storage.helpers import ok, rows, txn

REPO = Path(__file__).resolve().parents[2]

SETUP = ("CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t VALUES (1, 'before')")


def _child(path: Path, crash_point: str) -> subprocess.CompletedProcess[str]:
    """Execute one transaction in another process that dies (os._exit) at `crash_point`:
    "before_commit" (statements done, bookkeeping under way) or "after_commit"."""
    script = textwrap.dedent(
        f"""
        import os
        from epaxdb.storage import StateDatabase, TransactionSpec
        from epaxdb.storage.engine import StateDatabase as Engine

        if {crash_point!r} == "before_commit":
            Engine._record_marker = lambda self, marker: os._exit(9)
        db = StateDatabase.open({str(path)!r})
        db.execute_transaction(TransactionSpec(
            request_id="crashing", statements=(("UPDATE t SET v = 'after'", ()),),
            timestamp_ms=1, seed=1, executed_marker=b"m-crash"))
        os._exit(9)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("crash_point", ["before_commit", "after_commit"])
def test_a_crash_keeps_effects_and_marker_together(tmp_path: Path, crash_point: str) -> None:
    path = tmp_path / "state.db"
    with StateDatabase.open(path) as db:
        ok(db, *SETUP)
    child = _child(path, crash_point)
    assert child.returncode == 9, child.stderr
    with StateDatabase.open(path) as db:
        executed = b"m-crash" in db.executed_markers()
        value = rows(db, "SELECT v FROM t")[0][0]
        count = db.executed_count()
    if crash_point == "before_commit":
        assert (executed, value, count) == (False, "before", 1)
    else:
        assert (executed, value, count) == (True, "after", 2)


def test_a_failure_after_the_statements_leaves_nothing_behind_and_stops_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    db = StateDatabase.open(path)
    ok(db, *SETUP)
    state = db.state_hash()

    def fail(_self: StateDatabase, _marker: object) -> None:
        raise RuntimeError("injected between the effects and the marker")

    monkeypatch.setattr(StateDatabase, "_record_marker", fail)
    with pytest.raises(RuntimeError):
        db.execute_transaction(txn("UPDATE t SET v = 'after'", request_id="x", marker=b"x"))
    monkeypatch.undo()
    # Nothing later may commit past the undone transaction (see execute_batch).
    with pytest.raises(DatabaseStopped):
        db.execute_transaction(txn("SELECT 1", request_id="y", marker=b"y"))
    db.close()
    with StateDatabase.open(path) as reopened:
        assert reopened.state_hash() == state
        assert b"x" not in reopened.executed_markers()
        assert not reopened.execute_transaction(
            txn("SELECT 1", request_id="x", marker=b"y")
        ).duplicate


def test_results_markers_and_data_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    spec = txn(*SETUP, "SELECT v FROM t", marker=b"m1")
    with StateDatabase.open(path) as db:
        first = db.execute_transaction(spec)
    raw = apsw.Connection(str(path))
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()
    with StateDatabase.open(path) as db:
        assert db.executed_markers() == {b"m1"}
        again = db.execute_transaction(spec)
    assert again.duplicate and again == first


def test_a_full_disk_stops_the_database_and_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDatabase.open(path) as db:
        ok(db, "CREATE TABLE big(b BLOB)")
        # Fault injection: cap the file on this connection to simulate a full disk.
        (pages,) = db._db.execute("PRAGMA page_count").fetchone()
        db._db.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(SqliteFailure) as failure:
            db.execute_transaction(
                txn(("INSERT INTO big VALUES (zeroblob(?))", [1_000_000]), marker=b"full")
            )
        assert failure.value.code == "SQLITE_FULL"
        with pytest.raises(DatabaseStopped):
            db.state_hash()
    with StateDatabase.open(path) as db:
        assert b"full" not in db.executed_markers()
        assert db.executed_count() == 1
        assert rows(db, "SELECT count(*) FROM big") == [(0,)]


def test_a_closed_database_refuses_calls(db: StateDatabase) -> None:
    db.close()
    with pytest.raises(DatabaseStopped):
        db.execute_transaction(txn("SELECT 1"))


def _fsynced_inodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    inodes: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        inodes.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return inodes


def _synchronous(db: StateDatabase) -> int:
    (value,) = db._db.execute("PRAGMA synchronous").fetchone()  # the guard refuses it to clients
    return int(value)


def test_a_deferred_commit_waits_for_sync_and_sync_fsyncs_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    with StateDatabase.open(path, sync_each_commit=False) as db:
        assert _synchronous(db) == 1  # NORMAL: no fsync per commit
        ok(db, *SETUP)
        inodes = _fsynced_inodes(monkeypatch)
        db.sync()
        assert inodes == [os.stat(f"{path}-wal").st_ino]  # where every commit since
        # the last checkpoint is; checkpoints fsync the database file themselves
    with StateDatabase.open(path) as db:
        assert _synchronous(db) == 2  # FULL, the default
        assert rows(db, "SELECT v FROM t") == [("before",)]


def test_a_failed_sync_stops_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with StateDatabase.open(tmp_path / "state.db", sync_each_commit=False) as db:
        ok(db, *SETUP)

        def failing_fsync(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(SqliteFailure, match="cannot sync"):
            db.sync()
        monkeypatch.undo()
        # The kernel may have dropped the pages it could not write: no second chance.
        with pytest.raises(DatabaseStopped):
            db.sync()
        with pytest.raises(DatabaseStopped):
            ok(db, "INSERT INTO t VALUES (2, 'after')")


def test_sync_of_a_private_database_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with StateDatabase.open(":memory:", sync_each_commit=False) as db:
        ok(db, *SETUP)
        inodes = _fsynced_inodes(monkeypatch)
        db.sync()
        assert inodes == []
