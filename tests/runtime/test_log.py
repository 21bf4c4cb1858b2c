"""The instance log and the data directory: durability, damage detection, compaction."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from epaxdb.command import Command
from epaxdb.errors import StorageError
from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import Deps, Phase
from epaxdb.records import FloorRecord, InstanceRecord
from epaxdb.runtime import log as log_module
from epaxdb.runtime.datadir import DataDirectory, Identity
from epaxdb.runtime.errors import DataDirectoryInUse, IdentityMismatch
from epaxdb.runtime.log import LOG_FILE_NAME, MAGIC, open_log


def record(
    owner: int, slot: int, phase: Phase = Phase.COMMITTED, ballot: int = 0
) -> InstanceRecord:
    batch = (Command(f"r{owner}.{slot}", b"payload", writes=frozenset({("t", str(slot))})),)
    deps = Deps(frozenset(), (0, 0, 0))
    return InstanceRecord(
        InstanceId(owner, slot), phase, Ballot(ballot, owner), Ballot(ballot, owner),
        batch, deps, batch, deps,
    )  # fmt: skip


def write(directory: Path, *batches: list) -> None:
    log, _ = open_log(directory)
    for batch in batches:
        log.append(batch)
        log.sync()
    log.close()


def test_newest_record_of_each_instance_wins_on_reopen(tmp_path: Path) -> None:
    write(
        tmp_path,
        [record(0, 1, Phase.PREACCEPTED), record(1, 1, Phase.ACCEPTED)],
        [record(0, 1, Phase.COMMITTED), record(2, 5)],
    )
    _, loaded = open_log(tmp_path)
    phases = {r.instance_id: r.phase for r in loaded.records}
    assert phases == {
        InstanceId(0, 1): Phase.COMMITTED,
        InstanceId(1, 1): Phase.ACCEPTED,
        InstanceId(2, 5): Phase.COMMITTED,
    }
    assert loaded.floor is None and loaded.truncated_bytes == 0


def test_many_appends_share_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, _ = open_log(tmp_path)
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(log_module.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    for slot in range(1, 21):
        log.append([record(0, slot)])
    log.sync()
    log.sync()  # nothing buffered: no write, no fsync
    assert len(calls) == 1
    assert (log.stats.syncs, log.stats.records) == (1, 20)


def test_torn_tail_is_truncated_and_earlier_frames_kept(tmp_path: Path) -> None:
    write(tmp_path, [record(0, 1)], [record(0, 2)])
    path = tmp_path / LOG_FILE_NAME
    intact = path.stat().st_size
    write(tmp_path, [record(0, 3)])
    data = path.read_bytes()
    path.write_bytes(data[: intact + (len(data) - intact) // 2])  # half of the last frame
    log, loaded = open_log(tmp_path)
    assert [r.instance_id.slot for r in loaded.records] == [1, 2]
    assert loaded.truncated_bytes == (len(data) - intact) // 2
    assert path.stat().st_size == intact
    log.append([record(0, 4)])
    log.sync()
    log.close()
    _, reloaded = open_log(tmp_path)
    assert [r.instance_id.slot for r in reloaded.records] == [1, 2, 4]


def test_zero_filled_tail_is_truncated(tmp_path: Path) -> None:
    write(tmp_path, [record(0, 1)])
    path = tmp_path / LOG_FILE_NAME
    with open(path, "ab") as file:
        file.write(b"\0" * 4096)  # what a power loss can leave after a size update
    _, loaded = open_log(tmp_path)
    assert [r.instance_id.slot for r in loaded.records] == [1]
    assert loaded.truncated_bytes == 4096


def test_corrupt_frame_followed_by_valid_frames_is_fatal(tmp_path: Path) -> None:
    write(tmp_path, [record(0, 1)], [record(0, 2)], [record(0, 3)])
    path = tmp_path / LOG_FILE_NAME
    data = bytearray(path.read_bytes())
    data[len(MAGIC) + 20] ^= 0xFF  # inside the first frame's payload
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="corrupt.*byte 8.*valid frame follows"):
        open_log(tmp_path)
    assert path.read_bytes() == bytes(data)  # nothing truncated


def test_file_that_is_not_a_log_is_refused(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE_NAME).write_bytes(b"something else entirely")
    with pytest.raises(StorageError, match="bad magic"):
        open_log(tmp_path)


def test_floor_drops_instances_at_or_below_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        [record(0, 1), record(0, 2), record(1, 1), record(2, 3)],
        [FloorRecord((1, 1, 0))],
        [record(0, 3)],
    )
    _, loaded = open_log(tmp_path)
    assert loaded.floor == (1, 1, 0)
    assert sorted(str(r.instance_id) for r in loaded.records) == ["0.2", "0.3", "2.3"]


def test_compaction_keeps_exactly_the_live_state(tmp_path: Path) -> None:
    log, _ = open_log(tmp_path)
    for slot in range(1, 101):
        log.append([record(0, slot, Phase.PREACCEPTED)])
        log.append([record(0, slot, Phase.COMMITTED)])
        log.sync()
    log.append([FloorRecord((90, 0, 0))])
    log.sync()
    before = log.size_bytes
    assert log.should_compact(threshold_bytes=before // 2)
    log.compact()
    assert log.size_bytes < before // 5
    assert not log.should_compact(threshold_bytes=1)
    log.append([record(1, 1)])
    log.sync()
    log.close()
    _, loaded = open_log(tmp_path)
    assert loaded.floor == (90, 0, 0)
    assert [str(r.instance_id) for r in loaded.records] == [
        *(f"0.{slot}" for slot in range(91, 101)),
        "1.1",
    ]
    assert all(r.phase is Phase.COMMITTED for r in loaded.records)


def test_leftover_of_an_interrupted_compaction_is_discarded(tmp_path: Path) -> None:
    write(tmp_path, [record(0, 1)])
    (tmp_path / (LOG_FILE_NAME + ".compacting")).write_bytes(MAGIC + b"half")
    _, loaded = open_log(tmp_path)
    assert [r.instance_id.slot for r in loaded.records] == [1]
    assert not (tmp_path / (LOG_FILE_NAME + ".compacting")).exists()


def test_failed_fsync_poisons_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, _ = open_log(tmp_path)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(log_module.os, "fsync", no_space)
    log.append([record(0, 1)])
    with pytest.raises(StorageError, match="No space left"):
        log.sync()
    monkeypatch.undo()
    # fsync works again, but what the failed one covered is unknown: stay refused.
    with pytest.raises(StorageError, match="earlier failure"):
        log.append([record(0, 2)])
    with pytest.raises(StorageError, match="earlier failure"):
        log.sync()


IDENTITY = Identity(cluster_id="c1", replica_id=0, replica_count=3)


def test_second_opener_of_a_data_directory_is_refused(tmp_path: Path) -> None:
    first = DataDirectory(tmp_path / "data")
    first.open(IDENTITY)
    refusal = f"in use by another process \\(pid {os.getpid()}\\)"
    with pytest.raises(DataDirectoryInUse, match=refusal):
        DataDirectory(tmp_path / "data").open(IDENTITY)
    first.close()
    second = DataDirectory(tmp_path / "data")
    second.open(IDENTITY)  # the lock dies with its holder
    second.close()


def test_data_directory_of_another_replica_is_refused(tmp_path: Path) -> None:
    directory = DataDirectory(tmp_path)
    directory.open(IDENTITY)
    directory.close()
    with pytest.raises(IdentityMismatch, match="replica 0 of 3, not cluster 'c1' replica 1"):
        DataDirectory(tmp_path).open(Identity("c1", 1, 3))
    again = DataDirectory(tmp_path)
    again.open(IDENTITY)  # the refused attempt released the lock
    again.close()
