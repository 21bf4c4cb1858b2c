"""The simulated replicas: cores, disks, state machines, wired to the checkers.

Theory of operation. `SimCluster` owns one `Node` per replica (a `Replica` core while
the process is up, and a disk and key/value store that survive crashes) and does
what a real runtime does with each `Ready`, in the order the core demands:

1. the records go to the disk, which holds the Ready's messages and executions until
   those records (and all earlier ones) are durable: persist before send;
2. the messages go to the network, each through a wire encode/decode round trip, so
   a codec bug shows up as a simulation failure;
3. the executions are applied to the node's store and answer waiting clients.

How long things take is not decided here: the driver supplies `send` (hand a
message to the network) and `sync_needed` (an fsync should start on that node), and
calls back `deliver`, `tick`, `complete_sync`, `crash` and `restart`. The checkers see
every Ready's records when produced and every execution when applied; any exception
out of a core is itself a failure.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields

from epaxdb import wire
from epaxdb.command import Command
from epaxdb.config import ClusterConfig
from epaxdb.ids import ReplicaId
from epaxdb.messages import Gossip, Message
from epaxdb.records import Execution, FloorRecord, Outgoing, Ready
from epaxdb.replica import Replica
from epaxdb.sim.checkers import Checkers, CheckFailed
from epaxdb.sim.clients import Clients
from epaxdb.sim.disk import Disk
from epaxdb.sim.kv import KvState
from epaxdb.sim.trace import Trace

Effects = tuple[list[Outgoing], list[Execution]]


@dataclass(slots=True)
class Node:
    replica_id: ReplicaId
    rng: random.Random  # this replica's stream: seeds each incarnation's core
    disk: Disk
    kv: KvState
    replica: Replica | None = None
    incarnation: int = 0


class CoreFailed(CheckFailed):
    """A core raised: an invariant of its own, or a plain bug."""


class SimCluster:
    def __init__(
        self,
        config: ClusterConfig,
        rngs: tuple[random.Random, ...],
        mutations: frozenset[str],
        checkers: Checkers,
        clients: Clients,
        trace: Trace,
        now: Callable[[], float],
        send: Callable[[ReplicaId, ReplicaId, Message], None],
        sync_needed: Callable[[ReplicaId], None],
    ) -> None:
        self.config = config
        self.mutations = mutations
        self.checkers = checkers
        self.clients = clients
        self.trace = trace
        self._now = now
        self._send = send
        self._sync_needed = sync_needed
        self.nodes = [Node(r, rng, Disk(), KvState()) for r, rng in enumerate(rngs)]
        self.core_stats: Counter[str] = Counter()
        self.messages_sent: Counter[str] = Counter()  # by message type
        for node in self.nodes:
            self._boot(node)

    # ------------------------------------------------------------------ queries

    def is_up(self, replica_id: ReplicaId) -> bool:
        return self.nodes[replica_id].replica is not None

    def up_ids(self) -> list[ReplicaId]:
        return [node.replica_id for node in self.nodes if node.replica is not None]

    def total_core_stats(self) -> Counter[str]:
        """Counters of every incarnation, the running ones included."""
        total = Counter(self.core_stats)
        for node in self.nodes:
            if node.replica is not None:
                total.update(_counters(node.replica))
        return total

    # ------------------------------------------------------------------ inputs

    def propose(self, replica_id: ReplicaId, command: Command) -> None:
        node = self.nodes[replica_id]
        assert node.replica is not None
        self.trace.add(self._now(), f"r{replica_id}", "propose", command)
        self._call(node, node.replica.propose, command)

    def deliver(self, sender: ReplicaId, to: ReplicaId, message: Message) -> None:
        node = self.nodes[to]
        if node.replica is None:
            return
        if type(message) is not Gossip:  # periodic, and it would flood the trace
            self.trace.add(self._now(), f"r{sender}>r{to}", "deliver", message)
        self._call(node, node.replica.receive, sender, message)

    def tick(self, replica_id: ReplicaId) -> None:
        node = self.nodes[replica_id]
        if node.replica is not None:
            self._call(node, node.replica.tick, self._now())

    def complete_sync(self, replica_id: ReplicaId, send_budget: int | None = None) -> bool:
        """The running fsync of `replica_id` finished; carry out what it released.
        With `send_budget`, the process dies right after sending that many messages:
        the caller must then crash it. Returns whether the budget cut anything short."""
        node = self.nodes[replica_id]
        released = node.disk.complete_sync()
        durable = [record for records, _ in released for record in records]
        self.trace.add(self._now(), f"r{replica_id}", "durable", durable)
        if durable:
            self.checkers.on_durable(replica_id, durable)
        for records, effects in released:
            for record in records:
                if isinstance(record, FloorRecord):
                    node.disk.persist_floor(record)  # every earlier Ready is carried out
            if send_budget is not None:
                messages, _ = effects
                if len(messages) > send_budget:
                    self._carry_out(node, (messages[:send_budget], []))
                    return True
                send_budget -= len(messages)
            self._carry_out(node, effects)
        if node.disk.needs_sync:
            self._sync_needed(replica_id)
        return False

    def crash(self, replica_id: ReplicaId, keep_unsynced: int = 0) -> list[str]:
        """Kill the process: volatile state and unsynced writes are lost. Returns the
        request ids whose clients lost their connection."""
        node = self.nodes[replica_id]
        assert node.replica is not None
        self.core_stats.update(_counters(node.replica))
        unsynced = node.disk.unsynced_records
        kept = min(keep_unsynced, unsynced)
        self.checkers.on_durable(replica_id, node.disk.crash(keep=kept))
        node.replica = None
        node.incarnation += 1
        self.trace.add(
            self._now(), f"r{replica_id}", "crash", f"lost {unsynced - kept} of {unsynced} unsynced"
        )
        return [request.command.request_id for request in self.clients.on_crash(replica_id)]

    def restart(self, replica_id: ReplicaId) -> None:
        node = self.nodes[replica_id]
        assert node.replica is None
        self._boot(node)
        self.trace.add(
            self._now(),
            f"r{replica_id}",
            "restart",
            f"{len(node.disk.durable)} records floor={node.disk.floor} "
            f"executed={len(node.kv.executed)}",
        )
        self.tick(replica_id)

    # ------------------------------------------------------------------ effects

    def _boot(self, node: Node) -> None:
        restored = node.disk.restored(frozenset(node.kv.executed)) if node.incarnation else None
        rng = random.Random(node.rng.getrandbits(64))
        try:
            node.replica = Replica(self.config, node.replica_id, rng, restored, self.mutations)
            if self.config.thrifty:
                peers = [r for r in range(self.config.replica_count) if r != node.replica_id]
                node.rng.shuffle(peers)
                node.replica.set_peer_order(peers)
        except Exception as error:
            raise CoreFailed("core", f"r{node.replica_id} failed to restart: {error!r}") from error

    def _call(self, node: Node, method: Callable[..., None], *args: object) -> None:
        try:
            method(*args)
            ready = node.replica.take_ready()  # type: ignore[union-attr]
        except CheckFailed:
            raise
        except Exception as error:
            raise CoreFailed("core", f"r{node.replica_id} raised {error!r}") from error
        if ready:
            self._handle(node, ready)

    def _handle(self, node: Node, ready: Ready) -> None:
        if ready.records:
            self.checkers.on_records(node.replica_id, ready.records)
        effects = (ready.messages, ready.executions)
        now_effects = node.disk.write(ready.records, effects)
        if now_effects is not None:  # no records, nothing pending: no fsync to wait for
            self._carry_out(node, now_effects)
        elif not node.disk.sync_running:
            self._sync_needed(node.replica_id)

    def _carry_out(self, node: Node, effects: Effects) -> None:
        messages, executions = effects
        sender = node.replica_id
        if messages:
            decoded: dict[int, Message] = {}  # a broadcast is encoded once
            for outgoing in messages:
                message = outgoing.message
                copy = decoded.get(id(message))
                if copy is None:
                    copy = decoded[id(message)] = wire.decode_message(wire.encode_message(message))
                self.messages_sent[type(message).__name__] += 1
                self._send(sender, outgoing.to, copy)
        if executions:
            self._apply(node, executions)

    def _apply(self, node: Node, executions: list[Execution]) -> None:
        checkers, kv, replica_id = self.checkers, node.kv, node.replica_id
        now = self._now()
        for execution in executions:
            checkers.before_execute(replica_id, kv, execution.instance_id, execution.batch)
            for command in kv.apply(execution.instance_id, execution.batch):
                checkers.after_effect(replica_id, kv, command)
            self.trace.add(now, f"r{replica_id}", "execute", execution)
            for request in self.clients.on_executed(replica_id, execution.batch):
                checkers.on_ack(request.command.request_id, now)
        checkers.after_executions(replica_id, kv, (e.instance_id for e in executions))


def _counters(replica: Replica) -> Counter[str]:
    stats = replica.stats
    return Counter({f.name: getattr(stats, f.name) for f in fields(stats)})
