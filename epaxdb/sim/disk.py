"""A replica's simulated disk: durable records, unsynced writes, group commit.

Theory of operation. The driver hands every `Ready` to `write`: its records (already
encoded with the wire codec, as the real log stores them) and its *effects* (the
messages to send and the executions to apply). Nothing of a Ready may happen before
its records, and the records of every earlier Ready, are durable, so effects wait in
a FIFO beside the records they follow. One fsync runs at a time and covers every
write made before it started (group commit); when it completes, the covered
records become durable and their effects, plus any record-less effects queued right
behind them, are released in order. A Ready without records behind nothing pending
is released at once.

A crash discards everything unsynced together with the effects waiting on it, except
that it may keep a prefix of the unsynced records (`crash(keep=k)`): a write that
reached the platter before the power went out, which the replica never relied on.
Records are stored as the newest one per instance; a durable FloorRecord compacts
away every instance at or below the floor, as the real log may.

A FloorRecord follows the driver contract of `epaxdb.records.Ready`: it may become
durable only once the executions of every earlier Ready are applied. So an fsync
never makes one durable by itself: `complete_sync` hands them back with their Ready,
and the driver persists each (`persist_floor`) when it reaches that Ready, after
carrying out every earlier one. A torn write never keeps one either.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from epaxdb import wire
from epaxdb.ids import InstanceId
from epaxdb.records import DurableRecord, FloorRecord, InstanceRecord, RestoredState


@dataclass(slots=True)
class _Write:
    records: list[tuple[DurableRecord, bytes]]
    effects: Any


class Disk:
    def __init__(self) -> None:
        self.durable: dict[InstanceId, bytes] = {}
        self.floor: tuple[int, ...] | None = None
        self._queue: deque[_Write] = deque()
        self._syncing = 0  # how many queued writes the running fsync covers
        self.fsyncs = 0

    @property
    def sync_running(self) -> bool:
        return self._syncing > 0

    @property
    def needs_sync(self) -> bool:
        """Unsynced records exist and no fsync covers them yet."""
        return any(w.records for w in list(self._queue)[self._syncing :])

    @property
    def unsynced_records(self) -> int:
        return sum(len(w.records) for w in self._queue)

    def write(self, records: list[DurableRecord], effects: Any) -> Any | None:
        """Queue a Ready; returns its effects if they may be carried out right now."""
        if not records and not self._queue:
            return effects
        encoded = [(record, wire.encode_record(record)) for record in records]
        self._queue.append(_Write(encoded, effects))
        return None

    def start_sync(self) -> None:
        """Begin an fsync covering every write queued so far."""
        self._syncing = len(self._queue)

    def syncing_records(self) -> list[DurableRecord]:
        """The records the running fsync will make durable."""
        covered = list(self._queue)[: self._syncing]
        return [record for write in covered for record, _ in write.records]

    def complete_sync(self) -> list[tuple[list[DurableRecord], Any]]:
        """The running fsync finished: its writes are durable. Returns the released
        Readies in order, as (records made durable, effects)."""
        released = []
        queue = self._queue
        for _ in range(self._syncing):
            write = queue.popleft()
            self._make_durable(write.records)
            released.append(([record for record, _ in write.records], write.effects))
        self._syncing = 0
        self.fsyncs += 1
        while queue and not queue[0].records:
            released.append(([], queue.popleft().effects))
        return released

    def crash(self, keep: int = 0) -> list[DurableRecord]:
        """Lose every unsynced write, except the first `keep` records (a torn write),
        which are returned."""
        survivors: list[tuple[DurableRecord, bytes]] = []
        for write in self._queue:
            survivors.extend(r for r in write.records if isinstance(r[0], InstanceRecord))
        kept = survivors[:keep]
        self._make_durable(kept)
        self._queue.clear()
        self._syncing = 0
        return [record for record, _ in kept]

    def restored(self, executed: frozenset[InstanceId]) -> RestoredState:
        """What a restarting replica reads back (every record through the codec)."""
        records = []
        for data in self.durable.values():
            record = wire.decode_record(data)
            assert isinstance(record, InstanceRecord)
            records.append(record)
        return RestoredState(tuple(records), self.floor, executed)

    def persist_floor(self, record: FloorRecord) -> None:
        """Make a released FloorRecord durable (its earlier Readies are carried out)."""
        self.floor = record.floor
        self._compact(record.floor)

    def _make_durable(self, records: list[tuple[DurableRecord, bytes]]) -> None:
        for record, data in records:
            if isinstance(record, InstanceRecord):
                self.durable[record.instance_id] = data

    def _compact(self, floor: tuple[int, ...]) -> None:
        for instance_id in [i for i in self.durable if i.slot <= floor[i.owner]]:
            del self.durable[instance_id]
