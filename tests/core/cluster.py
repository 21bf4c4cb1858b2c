"""A scripted cluster of cores for scenario tests: every message waits in `pending`
until the test delivers, drops or duplicates it; durability is exact (a crash keeps
only records from Readies whose messages were released).

Invariants are checked as events happen, not only at the end: every Ready is
inspected when it is carried out, so a scenario fails at the first event that breaks
Agreement (two committed values for one instance), Visibility (two committed,
conflicting, non-NOP instances neither of which depends on the other), execution
consistency (two interfering instances applied in different orders on two replicas)
or integrity (an instance applied twice by one replica)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from epaxdb.command import Batch, Command, conflicts
from epaxdb.config import ClusterConfig
from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import Deps, Gossip, Message
from epaxdb.records import FloorRecord, InstanceRecord, RestoredState
from epaxdb.replica import Replica


def write(name: str, *keys: str) -> Command:
    """A command named `name` that writes the given keys of group "kv"."""
    return Command(name, name.encode(), frozenset(), frozenset(("kv", k) for k in keys))


def deps(size: int, *ids: InstanceId) -> Deps:
    """The dependency set {ids} of a cluster of `size` replicas, with no GC floor."""
    return Deps(frozenset(ids), (0,) * size)


@dataclass
class Envelope:
    sender: ReplicaId
    to: ReplicaId
    message: Message


Predicate = Callable[[Envelope], bool]


def msg(
    message_type: type,
    *,
    to: ReplicaId | None = None,
    sender: ReplicaId | None = None,
    instance: InstanceId | None = None,
) -> Predicate:
    """Select pending messages by type and, optionally, recipient, sender and instance."""
    return lambda e: (
        isinstance(e.message, message_type)
        and (to is None or e.to == to)
        and (sender is None or e.sender == sender)
        and (instance is None or getattr(e.message, "instance_id", None) == instance)
    )


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
    chosen: dict[InstanceId, tuple[Batch, Deps]] = field(default_factory=dict)
    down: set[ReplicaId] = field(default_factory=set)
    now_ms: float = 0.0
    # (earlier, later): interfering instances some replica applied in this order.
    applied_before: set[tuple[InstanceId, InstanceId]] = field(default_factory=set)
    # Pairs that needed Visibility's garbage-collection clause when the later committed.
    visible_by_collection: set[frozenset[InstanceId]] = field(default_factory=set)

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
                assert record.batch is not None and record.deps is not None
                self._note_commit(record.instance_id, record.batch, record.deps)
        for outgoing in ready.messages:
            self.pending.append(Envelope(replica_id, outgoing.to, outgoing.message))
        for execution in ready.executions:
            self._note_execution(replica_id, execution.instance_id, execution.batch)
            self.executed[replica_id].append(execution.instance_id)
            self.executions[replica_id].append((execution.instance_id, execution.batch))

    def _note_commit(self, instance_id: InstanceId, batch: Batch, deps: Deps) -> None:
        first = self.chosen.get(instance_id)
        if first is not None:
            assert first == (batch, deps), f"agreement violated on {instance_id}"
            return
        self.chosen[instance_id] = (batch, deps)
        if not batch:
            return
        for other, (other_batch, other_deps) in self.chosen.items():
            if other == instance_id or not other_batch or not conflicts(batch, other_batch):
                continue
            if deps.covers(other) or other_deps.covers(instance_id):
                continue
            # Garbage collection's clause (docs/architecture.md): recovery may validate
            # past an instance every replica ran and forgot; it runs first everywhere.
            assert self._ran_everywhere(other), (
                f"visibility violated between {min(instance_id, other)} "
                f"and {max(instance_id, other)}"
            )
            self.visible_by_collection.add(frozenset((instance_id, other)))

    def _ran_everywhere(self, instance_id: InstanceId) -> bool:
        return all(instance_id in done for done in self.executed.values())

    def _note_execution(self, replica_id: ReplicaId, instance_id: InstanceId, batch: Batch) -> None:
        assert self.chosen.get(instance_id, (None,))[0] == batch, (
            f"{instance_id} executed with a batch that was not chosen"
        )
        earlier = self.executions[replica_id]
        assert all(instance_id != done for done, _ in earlier), (
            f"{instance_id} executed twice on replica {replica_id}"
        )
        for done, done_batch in earlier:
            if conflicts(done_batch, batch):
                assert (instance_id, done) not in self.applied_before, (
                    f"{done} and {instance_id} executed in different orders"
                )
                self.applied_before.add((done, instance_id))

    def recover(self, replica_id: ReplicaId, instance_id: InstanceId) -> None:
        """Make `replica_id` start a recovery attempt of `instance_id` now."""
        self.replicas[replica_id].recover(instance_id)
        self.flush(replica_id)

    def expire_fast_wait(self, replica_id: ReplicaId) -> None:
        """Let an owner's short wait for a full fast quorum run out (it then takes the
        slow path with the replies it has). The tick's gossip is discarded so that it
        cannot reorder the scripted schedule."""
        self.tick(self.config.fast_path_wait_ms + 1, replicas=[replica_id])
        self.drop(msg(Gossip, sender=replica_id))

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

    def crash(self, replica_id: ReplicaId, *, lose_disk: bool = False) -> None:
        """Stop a replica; messages to it are lost. `lose_disk` models storage that
        acknowledged writes it never kept (the B2 bug class): the restart sees nothing."""
        self.down.add(replica_id)
        self.pending = [e for e in self.pending if e.to != replica_id]
        if lose_disk:
            self.durable[replica_id] = {}
            self.floors.pop(replica_id, None)

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

    def committed_value(self, instance_id: InstanceId) -> tuple[Batch, Deps] | None:
        return self.chosen.get(instance_id)

    def executed_requests(self, replica_id: ReplicaId) -> list[str]:
        """The request ids replica `replica_id` applied, in order."""
        return [c.request_id for _, batch in self.executions[replica_id] for c in batch]

    def check_visibility(self) -> None:
        """EPaxos* Visibility: of two committed, conflicting, non-NOP instances, one
        is in the other's dependencies or under its floor, or had run on every replica
        before the other was first committed (checked when that happened)."""
        chosen = sorted(self.chosen.items())
        for position, (a, (batch_a, deps_a)) in enumerate(chosen):
            for b, (batch_b, deps_b) in chosen[position + 1 :]:
                if batch_a and batch_b and conflicts(batch_a, batch_b):
                    assert (
                        deps_a.covers(b)
                        or deps_b.covers(a)
                        or frozenset((a, b)) in self.visible_by_collection
                    ), f"visibility violated between {a} and {b}"

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
                    where[a] < where[b] for where in positions.values() if a in where and b in where
                }
                assert len(orders) <= 1, f"{a} and {b} executed in different orders"
