"""The gossip and garbage-collection role of a replica.

A mixin of `epaxdb.replica.Replica` (it shares the replica's state and helpers).
Replicas gossip their executed prefix per owner, their highest known slot per owner
and their floor. From the prefixes each replica computes its *floor*: the instances
every replica executed, which it drops (memory and log, via a durable FloorRecord).
From the floors it computes the *shared floor*: below it every replica has dropped the
instances, so the conflict index may forget their keys too. Highest slots let a
replica find instances it never heard of (holes nothing depends on) and ask for them
(CommitQuery), which execution and GC need.
"""

from __future__ import annotations

from epaxdb.errors import invariant
from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import CommitQuery, Gossip
from epaxdb.records import FloorRecord

# Catch-up from a gossip: query at most this many unknown instances at once, found by
# scanning at most this many slots per owner above the executed prefix.
_LEARN_BATCH_MAX = 256
_LEARN_SCAN_MAX = 4096


class GossipRole:
    def _gossip(self) -> None:
        self._broadcast(
            Gossip(tuple(self._executed.prefix), tuple(self._highest_slot), self._floor)
        )
        self._peer_executed[self.replica_id] = list(self._executed.prefix)
        self._advance_floor()

    def _on_gossip(self, sender: ReplicaId, message: Gossip) -> None:
        if (
            not len(message.executed_prefix)
            == len(message.highest_slot)
            == len(message.floor)
            == self._n
        ):
            return
        known = self._peer_executed[sender]
        for owner, prefix in enumerate(message.executed_prefix):
            known[owner] = max(known[owner], prefix)
        floors = self._peer_floor[sender]
        for owner, floor in enumerate(message.floor):
            floors[owner] = max(floors[owner], floor)
        missing = []
        for owner, highest in enumerate(message.highest_slot):
            if owner == self.replica_id:
                continue  # our own slots are durable here before anyone hears of them
            # Holes count as much as slots beyond our highest: an instance nothing
            # depends on is learned only this way, and execution (and GC) needs all.
            first = self._executed.prefix[owner] + 1
            last = min(highest, first + _LEARN_SCAN_MAX - 1)
            for slot in range(first, last + 1):
                instance_id = InstanceId(owner, slot)
                if instance_id in self._instances or instance_id in self._executed:
                    continue
                instance = self._instance(instance_id)
                self._arm(instance, self.config.recovery_timeout_ms)
                missing.append(instance_id)
                if len(missing) >= _LEARN_BATCH_MAX:
                    break
        if missing:
            self._send(sender, CommitQuery(tuple(missing)))
        self._advance_floor()

    def _advance_floor(self) -> None:
        self._peer_executed[self.replica_id] = list(self._executed.prefix)
        floor = tuple(
            min(self._peer_executed[replica][owner] for replica in range(self._n))
            for owner in range(self._n)
        )
        if floor != self._floor:
            self._floor = floor
            self._ready.records.append(FloorRecord(floor))
            for owner in range(self._n):
                for slot in range(self._pruned_upto[owner] + 1, floor[owner] + 1):
                    instance_id = InstanceId(owner, slot)
                    instance = self._instances.pop(instance_id, None)
                    invariant(
                        instance is None or instance.executed,
                        f"garbage collecting unexecuted {instance_id}",
                    )
                    self._open_nops.discard(instance_id)
                    self._dirty.pop(instance_id, None)
                    self._waiting_seen.pop(instance_id, None)
                self._pruned_upto[owner] = max(self._pruned_upto[owner], floor[owner])
        self._peer_floor[self.replica_id] = list(self._floor)
        shared = tuple(
            min(self._peer_floor[replica][owner] for replica in range(self._n))
            for owner in range(self._n)
        )
        if shared == self._shared_floor:
            return
        self._shared_floor = shared
        for owner in range(self._n):
            for slot in range(self._index_pruned_upto[owner] + 1, shared[owner] + 1):
                self._index.remove(InstanceId(owner, slot))
            self._index_pruned_upto[owner] = max(self._index_pruned_upto[owner], shared[owner])

    def _is_collected(self, instance_id: InstanceId) -> bool:
        return instance_id.slot <= self._floor[instance_id.owner]
