"""Backups of a replica's state database (`storage.snapshot`): consistent, plain SQLite."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from epaxdb.storage import SqliteFailure, StateDatabase, TransactionSpec
from epaxdb.storage.snapshot import copy_database, open_read_only, write_backup


def spec(index: int, *statements: str) -> TransactionSpec:
    return TransactionSpec(
        request_id=f"r{index}",
        statements=tuple((s, ()) for s in statements),
        timestamp_ms=1_700_000_000_000 + index,
        seed=index,
        executed_marker=f"0.{index}.0.1",
    )


@pytest.fixture
def state(tmp_path: Path) -> StateDatabase:
    db = StateDatabase.open(tmp_path / "state.db")
    db.execute_transaction(
        spec(0, "CREATE TABLE t(id INTEGER PRIMARY KEY, at TEXT DEFAULT CURRENT_TIMESTAMP, r)")
    )
    for i in range(1, 21):
        db.execute_transaction(spec(i, f"INSERT INTO t(id, r) VALUES ({i}, random())"))
    yield db
    db.close()


def test_a_backup_is_plain_sqlite_with_the_data_and_only_the_position_table(
    state: StateDatabase, tmp_path: Path
) -> None:
    info = write_backup(tmp_path / "state.db", tmp_path / "backup.db")
    assert info.executed_count == 21
    assert info.size_bytes == (tmp_path / "backup.db").stat().st_size
    assert not (tmp_path / "backup.db-wal").exists()
    with sqlite3.connect(f"file:{tmp_path / 'backup.db'}?mode=ro", uri=True) as connection:
        names = {n for (n,) in connection.execute("SELECT name FROM sqlite_master")}
        assert names == {"t", "_epaxdb_position"}
        assert connection.execute("SELECT count(*), max(id) FROM t").fetchone() == (20, 20)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert connection.execute("SELECT executed_count FROM _epaxdb_position").fetchone() == (21,)


def test_a_backup_states_the_hash_the_replica_had_at_that_position(
    state: StateDatabase, tmp_path: Path
) -> None:
    expected = state.state_hash()
    info = write_backup(tmp_path / "state.db", tmp_path / "backup.db")
    assert info.state_hash == expected


def test_backups_taken_during_writes_are_each_one_consistent_snapshot(
    state: StateDatabase, tmp_path: Path
) -> None:
    # Every transaction i > 20 inserts row i, so a snapshot at executed count P holds
    # exactly the rows 1 .. P-1, whatever the writer was doing meanwhile.
    stop = threading.Event()
    writing = threading.Event()

    def writer() -> None:
        index = 21
        while not stop.is_set() and index < 5000:
            state.execute_transaction(spec(index, f"INSERT INTO t(id, r) VALUES ({index}, 1)"))
            index += 1
            if index == 31:
                writing.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        positions = []
        for n in range(5):
            info = write_backup(tmp_path / "state.db", tmp_path / f"backup-{n}.db")
            connection = sqlite3.connect(tmp_path / f"backup-{n}.db")
            rows = connection.execute("SELECT count(*), max(id) FROM t").fetchone()
            connection.close()
            assert rows == (info.executed_count - 1, info.executed_count - 1)
            positions.append(info.executed_count)
    finally:
        stop.set()
        thread.join()
    assert positions == sorted(positions) and positions[0] >= 31


def test_copying_never_overwrites_and_a_non_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exists.db").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a database, just some text " * 100)
    StateDatabase.open(tmp_path / "state.db").close()
    with pytest.raises(FileExistsError):
        copy_database(tmp_path / "state.db", tmp_path / "exists.db")
    with pytest.raises(SqliteFailure, match="not a database"):
        open_read_only(tmp_path / "notes.txt")
    with pytest.raises(SqliteFailure, match="no such file"):
        open_read_only(tmp_path / "missing.db")
