"""A scripted cluster of cores for scenario tests: every message waits in `pending`
until the test delivers, drops or duplicates it; durability is exact (a crash keeps
only records from Readies whose messages were released)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from epaxdb.command import Command, conflicts
from epaxdb.config import ClusterConfig
from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import Message
from epaxdb.records import FloorRecord, InstanceRecord, RestoredState
from epaxdb.replica import Replica


@dataclass
class Envelope:
    sender: ReplicaId
    to: ReplicaId
    message: Message


@dataclass
class ScriptedCluster:
    config: ClusterConfig
    mutations: frozenset[str] = frozenset()
    seed: int = 0
    replicas: dict[ReplicaId, Replica] = field(default_factory=dict)
    pending: list[Envelope] = field(default_factory=list)
    durable: dict[ReplicaId, dict[InstanceId, InstanceRecord]] = field(default_factory=dict)
    floors: dict[ReplicaId, tuple[int, ...]] = field(default_factory=dict)
    executed: dict[ReplicaId, list[InstanceId]] = field(default_factory=dict)
    executions: dict[ReplicaId, list[tuple[InstanceId, tuple[Command, ...]]]] = field(
        default_factory=dict
    )
    chosen: dict[InstanceId, tuple[object, object]] = field(default_factory=dict)
    down: set[ReplicaId] = field(default_factory=set)
    now_ms: float = 0.0

    def __post_init__(self) -> None:
        for replica_id in range(self.config.replica_count):
            self.durable[replica_id] = {}
            self.executed[replica_id] = []
            self.executions[replica_id] = []
            self.replicas[replica_id] = self._new_replica(replica_id, None)

    def _new_replica(self, replica_id: ReplicaId, restored: RestoredState | None) -> Replica:
        rng = random.Random(self.seed * 1000 + replica_id)
        return Replica(self.config, replica_id, rng, restored, self.mutations)

    # -- driving -------------------------------------------------------------

    def flush(self, replica_id: ReplicaId) -> None:
        """Carry out a replica's Ready: persist, then queue its messages, then execute."""
        ready = self.replicas[replica_id].take_ready()
        for record in ready.records:
            if isinstance(record, FloorRecord):
                self.floors[replica_id] = record.floor
                continue
            self.durable[replica_id][record.instance_id] = record
            if record.phase.name == "COMMITTED":
                value = (record.batch, record.deps)
                first = self.chosen.setdefault(record.instance_id, value)
                assert first == value, f"agreement violated on {record.instance_id}"
        for outgoing in ready.messages:
            self.pending.append(Envelope(replica_id, outgoing.to, outgoing.message))
        for execution in ready.executions:
            self.executed[replica_id].append(execution.instance_id)
            self.executions[replica_id].append((execution.instance_id, execution.batch))

    def propose(self, replica_id: ReplicaId, command: Command) -> InstanceId:
        """Propose one command as its own instance and return the instance id."""
        replica = self.replicas[replica_id]
        replica.propose(command)
        self.flush(replica_id)
        assert replica.last_proposed is not None
        return replica.last_proposed

    def take(self, predicate) -> list[Envelope]:
        taken = [e for e in self.pending if predicate(e)]
        self.pending = [e for e in self.pending if not predicate(e)]
        return taken

    def deliver(self, predicate=lambda e: True, *, keep: bool = False) -> int:
        """Deliver every pending message matching `predicate` (in order); messages
        they cause are queued, not delivered. `keep` duplicates instead of moving."""
        batch = [e for e in self.pending if predicate(e)]
        if not keep:
            self.pending = [e for e in self.pending if not predicate(e)]
        for envelope in batch:
            if envelope.to in self.down:
                continue
            self.replicas[envelope.to].receive(envelope.sender, envelope.message)
            self.flush(envelope.to)
        return len(batch)

    def drop(self, predicate) -> int:
        return len(self.take(predicate))

    def run(self, max_rounds: int = 200) -> None:
        """Deliver everything until quiet (no loss)."""
        for _ in range(max_rounds):
            if not self.deliver(lambda e: e.to not in self.down and e.sender not in self.down):
                return
        raise AssertionError("cluster did not quiesce")

    def tick(self, advance_ms: float, replicas=None) -> None:
        self.now_ms += advance_ms
        for replica_id in replicas if replicas is not None else self.replicas:
            if replica_id in self.down:
                continue
            self.replicas[replica_id].tick(self.now_ms)
            self.flush(replica_id)

    def settle(self, rounds: int = 60, step_ms: float = 100.0) -> None:
        """Alternate ticks and full delivery until nothing is left to do."""
        for _ in range(rounds):
            self.run()
            self.tick(step_ms)
        self.run()

    def crash(self, replica_id: ReplicaId) -> None:
        self.down.add(replica_id)
        self.pending = [e for e in self.pending if e.to != replica_id]

    def restart(self, replica_id: ReplicaId) -> None:
        self.down.discard(replica_id)
        restored = RestoredState(
            tuple(self.durable[replica_id].values()),
            self.floors.get(replica_id),
            frozenset(self.executed[replica_id]),
        )
        self.replicas[replica_id] = self._new_replica(replica_id, restored)
        self.replicas[replica_id].tick(self.now_ms)
        self.flush(replica_id)

    # -- inspection ------------------------------------------------------------

    def record(self, replica_id: ReplicaId, instance_id: InstanceId) -> InstanceRecord | None:
        return self.replicas[replica_id].record_of(instance_id)

    def committed_value(self, instance_id: InstanceId):
        return self.chosen.get(instance_id)

    def check_visibility(self) -> None:
        """EPaxos* Visibility: of two committed, conflicting, non-NOP instances, one
        is in the other's dependencies."""
        chosen = sorted(self.chosen.items())
        for position, (a, (batch_a, deps_a)) in enumerate(chosen):
            for b, (batch_b, deps_b) in chosen[position + 1 :]:
                if batch_a and batch_b and conflicts(batch_a, batch_b):
                    assert deps_a.covers(b) or deps_b.covers(a), (
                        f"visibility violated between {a} and {b}"
                    )

    def check_execution_order(self) -> None:
        """Interfering commands execute in the same relative order everywhere."""
        positions = {}
        batches = {}
        for replica_id, executions in self.executions.items():
            positions[replica_id] = {iid: i for i, (iid, _) in enumerate(executions)}
            batches.update(dict(executions))
        ids = sorted(batches)
        for position, a in enumerate(ids):
            for b in ids[position + 1 :]:
                if not conflicts(batches[a], batches[b]):
                    continue
                orders = {
                    where[a] < where[b]
                    for where in positions.values()
                    if a in where and b in where
                }
                assert len(orders) <= 1, f"{a} and {b} executed in different orders"
