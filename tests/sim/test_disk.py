"""The simulated disk: persist before send, group commit, crashes, compaction."""

from __future__ import annotations

from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import Deps, Phase
from epaxdb.records import FloorRecord, InstanceRecord
from epaxdb.sim.disk import Disk


def record(owner: int, slot: int, phase: Phase = Phase.PREACCEPTED) -> InstanceRecord:
    deps = Deps(frozenset(), (0, 0, 0))
    ballot = Ballot(0, owner)
    return InstanceRecord(InstanceId(owner, slot), phase, ballot, ballot, (), deps, (), deps)


def test_effects_of_a_ready_wait_until_its_records_are_durable() -> None:
    disk = Disk()
    assert disk.write([record(0, 1)], "send PreAccept") is None
    assert disk.needs_sync and not disk.durable
    disk.start_sync()
    released = disk.complete_sync()
    assert released == [([record(0, 1)], "send PreAccept")]
    assert InstanceId(0, 1) in disk.durable


def test_a_ready_without_records_behind_nothing_is_released_at_once() -> None:
    assert Disk().write([], "send Nack") == "send Nack"


def test_a_ready_without_records_waits_behind_unsynced_ones_and_follows_them() -> None:
    disk = Disk()
    disk.write([record(0, 1)], "first")
    assert disk.write([], "second") is None
    disk.start_sync()
    assert [effects for _, effects in disk.complete_sync()] == ["first", "second"]


def test_an_fsync_covers_only_the_writes_made_before_it_started() -> None:
    disk = Disk()
    disk.write([record(0, 1)], "first")
    disk.start_sync()
    disk.write([record(0, 2)], "second")
    assert [effects for _, effects in disk.complete_sync()] == ["first"]
    assert InstanceId(0, 2) not in disk.durable
    assert disk.needs_sync
    disk.start_sync()
    assert [effects for _, effects in disk.complete_sync()] == ["second"]


def test_a_crash_loses_unsynced_writes_and_the_effects_waiting_on_them() -> None:
    disk = Disk()
    disk.write([record(0, 1)], "durable one")
    disk.start_sync()
    disk.complete_sync()
    disk.write([record(0, 2)], "lost one")
    disk.start_sync()  # the crash comes before this fsync returns
    assert disk.crash() == []
    assert set(disk.durable) == {InstanceId(0, 1)}
    assert not disk.needs_sync and disk.unsynced_records == 0
    disk.write([record(0, 3)], "after restart")
    disk.start_sync()
    assert [effects for _, effects in disk.complete_sync()] == ["after restart"]


def test_a_torn_crash_keeps_only_a_prefix_of_the_unsynced_records() -> None:
    disk = Disk()
    disk.write([record(0, 1), record(0, 2)], "a")
    disk.write([record(0, 3)], "b")
    assert disk.crash(keep=2) == [record(0, 1), record(0, 2)]
    assert set(disk.durable) == {InstanceId(0, 1), InstanceId(0, 2)}


def test_the_newest_record_of_an_instance_wins() -> None:
    disk = Disk()
    disk.write([record(0, 1), record(0, 1, Phase.COMMITTED)], "x")
    disk.start_sync()
    disk.complete_sync()
    (restored,) = disk.restored(frozenset()).records
    assert restored.phase is Phase.COMMITTED


def test_a_durable_floor_compacts_the_instances_at_or_below_it() -> None:
    disk = Disk()
    disk.write([record(0, 1), record(0, 2), record(1, 1), FloorRecord((1, 0, 0))], "x")
    disk.start_sync()
    [(records, _)] = disk.complete_sync()
    assert disk.floor is None  # the driver persists it once earlier Readies are carried out
    disk.persist_floor(records[-1])
    restored = disk.restored(frozenset({InstanceId(0, 1)}))
    assert {r.instance_id for r in restored.records} == {InstanceId(0, 2), InstanceId(1, 1)}
    assert restored.floor == (1, 0, 0)
    assert restored.executed == frozenset({InstanceId(0, 1)})


def test_a_floor_is_never_durable_by_an_fsync_or_a_torn_write_alone() -> None:
    """Ready contract: a FloorRecord becomes durable only after the executions of
    every earlier Ready are applied, which only the driver knows."""
    disk = Disk()
    disk.write([record(0, 1)], "earlier ready, executions pending")
    disk.write([FloorRecord((1, 0, 0))], "later ready")
    disk.start_sync()
    disk.complete_sync()
    assert disk.floor is None
    disk.write([record(0, 2), FloorRecord((2, 0, 0))], "unsynced")
    disk.crash(keep=2)
    assert disk.floor is None
    assert InstanceId(0, 2) in disk.durable
