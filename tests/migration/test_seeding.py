"""Seeding a new cluster's data directories from one file (`seed_cluster`)."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from epaxdb.migration.seeding import SeedRefused, seed_cluster
from epaxdb.storage import StateDatabase, TransactionSpec
from epaxdb.storage.snapshot import write_backup
from tests.migration.support import APP_SCHEMA, make_db


def rows(directory: Path, sql: str) -> list[tuple]:
    with StateDatabase.open(directory / "state.db") as db:
        return list(db.query_local(sql).rows)


def test_every_replica_gets_the_data_and_the_same_state_hash(tmp_path: Path) -> None:
    seeded = seed_cluster(make_db(tmp_path / "app.db"), tmp_path / "cluster", 5)
    names = sorted(p.name for p in (tmp_path / "cluster").iterdir())
    assert names == [f"replica-{i}" for i in range(5)]  # no staging file left over
    assert seeded.executed_count == 0
    hashes = set()
    for directory in seeded.directories:
        assert sorted(p.name for p in directory.iterdir()) == ["state.db"]  # no IDENTITY yet
        with StateDatabase.open(directory / "state.db") as db:
            hashes.add(db.state_hash())
            assert db.executed_markers() == frozenset()
        assert rows(directory, "SELECT id, email FROM users ORDER BY id") == [
            (1, "ann@example.com"),
            (2, "bob@example.com"),
        ]
    assert hashes == {seeded.state_hash}
    assert [f.subject for f in seeded.report.fixes] == [
        "table users",
        "table notes",
        "trigger notes_touch",
    ]


def test_a_refused_file_leaves_nothing_behind(tmp_path: Path) -> None:
    script = APP_SCHEMA + "CREATE VIEW v AS SELECT datetime(created, 'localtime') FROM users;"
    source = make_db(tmp_path / "app.db", script)
    with pytest.raises(SeedRefused) as refused:
        seed_cluster(source, tmp_path / "new", 3)
    assert refused.value.report is not None
    assert [(f.subject, f.code) for f in refused.value.report.refusals] == [
        ("view v", "nondeterministic_localtime")
    ]
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeedRefused):
        seed_cluster(source, tmp_path / "empty", 3)
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_directory_with_anything_in_it_and_impossible_sizes_are_refused(tmp_path: Path) -> None:
    source = make_db(tmp_path / "app.db")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "replica-0.log").write_text("")
    with pytest.raises(SeedRefused, match="not an empty directory"):
        seed_cluster(source, tmp_path / "used", 3)
    with pytest.raises(SeedRefused, match="--replicas 0"):
        seed_cluster(source, tmp_path / "zero", 0)
    with pytest.raises(SeedRefused, match="no such file"):
        seed_cluster(tmp_path / "missing.db", tmp_path / "x", 3)
    (tmp_path / "text.db").write_text("hello " * 1000)
    with pytest.raises(SeedRefused, match="cannot read .* as an SQLite database"):
        seed_cluster(tmp_path / "text.db", tmp_path / "y", 3)
    assert not (tmp_path / "y").exists()


def test_the_snapshot_includes_writes_still_in_the_source_s_wal(tmp_path: Path) -> None:
    source = make_db(tmp_path / "app.db", "PRAGMA journal_mode = WAL; CREATE TABLE t(x);")
    app = apsw.Connection(str(source))  # the application keeps its connection open
    app.execute("PRAGMA wal_autocheckpoint = 0")
    app.execute("INSERT INTO t VALUES (1), (2), (3)")
    assert (tmp_path / "app.db-wal").stat().st_size > 0
    seeded = seed_cluster(source, tmp_path / "cluster", 3)
    app.close()
    assert rows(seeded.directories[2], "SELECT count(*) FROM t") == [(3,)]


def _state_with_history(path: Path) -> str:
    """A replica's state.db after three transactions; returns its state hash."""
    with StateDatabase.open(path) as db:
        history = [
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v)",
            "INSERT INTO t VALUES (1, 'a')",
            "INSERT INTO t VALUES (2, 'b')",
        ]
        for i, sql in enumerate(history):
            db.execute_transaction(
                TransactionSpec(f"r{i}", ((sql, ()),), 1_700_000_000_000, i, f"1.{i}.0.1")
            )
        return db.state_hash()


def test_a_restore_starts_at_the_backup_s_position_with_none_of_its_markers(
    tmp_path: Path,
) -> None:
    expected = _state_with_history(tmp_path / "state.db")
    write_backup(tmp_path / "state.db", tmp_path / "backup.db")
    seeded = seed_cluster(tmp_path / "backup.db", tmp_path / "cluster", 3, from_backup=True)
    assert (seeded.executed_count, seeded.state_hash) == (3, expected)
    with StateDatabase.open(seeded.directories[1] / "state.db") as db:
        assert db.executed_markers() == frozenset()
        # The new cluster's first instance may reuse the old one's marker and request id.
        result = db.execute_transaction(
            TransactionSpec("r0", (("INSERT INTO t VALUES (3, 'c')", ()),), 1, 1, "1.0.0.1")
        )
        assert result.error is None and not result.duplicate


def test_a_raw_copy_of_a_replica_s_state_db_restores_like_a_backup(tmp_path: Path) -> None:
    expected = _state_with_history(tmp_path / "state.db")
    seeded = seed_cluster(tmp_path / "state.db", tmp_path / "cluster", 3, from_backup=True)
    assert seeded.state_hash == expected
    with StateDatabase.open(seeded.directories[0] / "state.db") as db:
        assert db.executed_markers() == frozenset()


def test_import_and_restore_each_refuse_the_other_s_files(tmp_path: Path) -> None:
    _state_with_history(tmp_path / "state.db")
    write_backup(tmp_path / "state.db", tmp_path / "backup.db")
    with pytest.raises(SeedRefused) as refused:
        seed_cluster(tmp_path / "backup.db", tmp_path / "a", 3)
    assert refused.value.report is not None
    assert {f.code for f in refused.value.report.refusals} == {"reserved_name"}
    with pytest.raises(SeedRefused) as refused:
        seed_cluster(make_db(tmp_path / "app.db"), tmp_path / "b", 3, from_backup=True)
    assert refused.value.report is not None
    assert {f.code for f in refused.value.report.refusals} == {"not_a_backup"}
