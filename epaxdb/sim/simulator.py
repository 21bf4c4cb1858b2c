"""One seeded simulation run: faults first, then a liveness phase, then the checks.

Theory of operation. A seed determines everything: `Streams.derive` splits it into
independent random streams, the swarm stream draws this run's fault plan and
workload mix, and the event queue orders all that happens in virtual milliseconds.

Fault phase: clients submit the workload's commands at random replicas; the network
delays, loses, duplicates and partitions; replicas crash (losing their unsynced
writes, sometimes all but a prefix of them) and restart from their disks. It ends a
random while after the last command was submitted.

Liveness phase: the network heals and stops losing messages, crashed replicas
restart except at most `keep_down` (<= f) of them, clients keep waiting and retrying
but submit nothing new. The run must become quiescent (every chosen instance and
every request that is not abandoned executed on every live replica) within
`liveness_budget_ms`; then the final checks run.

Manual mode (`manual=True`) replaces the random fault phase by explicit steps
(`step_*`), for tests that draw a schedule and let hypothesis shrink it: messages
wait in `in_flight` until a step delivers, drops or duplicates them, and fsyncs
complete only when a step says so. `finish()` then runs the same liveness phase.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from epaxdb.command import Command
from epaxdb.config import ClusterConfig
from epaxdb.errors import EpaxdbError
from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import Message, Phase
from epaxdb.records import DurableRecord, InstanceRecord
from epaxdb.sim.checkers import Checkers, CheckFailed, describe_value
from epaxdb.sim.clients import Clients, Request
from epaxdb.sim.cluster import SimCluster
from epaxdb.sim.events import EventQueue
from epaxdb.sim.faults import FaultPlan, draw_plan
from epaxdb.sim.network import Network
from epaxdb.sim.streams import Streams
from epaxdb.sim.trace import Trace, describe
from epaxdb.sim.workload import Workload, WorkloadSpec

DEFAULT_COMMANDS = 100
_PROBE_MS = 50.0


@dataclass(frozen=True, slots=True)
class SimSettings:
    replicas: int = 3
    faults: str = "heavy"
    commands: int = DEFAULT_COMMANDS
    conflict: float | None = None  # share of commands on the hot key; None: drawn
    fast_failures: int | None = None  # e; None: the default for the cluster size
    mutation: str | None = None
    retry: bool | None = None  # clients retry after a timeout; None: drawn
    liveness_budget_ms: float = 60_000.0
    tick_ms: float = 10.0
    trace_limit: int | None = 100
    # "multipaxos": the baseline mode (replica 0 leads; Visibility is not its invariant,
    # the chain of instances orders everything; clients always retry, since a crashed
    # leader loses what was forwarded to it).
    protocol: str = "epaxos"

    def replay_command(self, seed: int) -> str:
        parts = [f"epaxdb sim --replicas {self.replicas} --seed {seed} --faults {self.faults}"]
        if self.commands != DEFAULT_COMMANDS:
            parts.append(f"--commands {self.commands}")
        if self.conflict is not None:
            parts.append(f"--conflict {self.conflict * 100:g}")
        if self.fast_failures is not None:
            parts.append(f"--fast-failures {self.fast_failures}")
        if self.mutation is not None:
            parts.append(f"--mutation {self.mutation}")
        if self.protocol != "epaxos":
            parts.append(f"--protocol {self.protocol}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    commands: int
    answered: int
    fast_commits: int
    slow_commits: int
    recoveries: int
    nops: int
    messages: dict[str, int]  # sent, by message type
    crashes: int
    partitions: int
    virtual_ms: float
    liveness_ms: float  # from the end of faults to quiescence


class SimulationFailure(EpaxdbError):
    """An invariant failed (or a core raised) in one seeded run."""

    def __init__(self, seed: int, invariant: str, replay: str, report: str) -> None:
        super().__init__(report)
        self.seed = seed
        self.invariant = invariant
        self.replay = replay


class Simulation:
    def __init__(self, settings: SimSettings, seed: int, *, manual: bool = False) -> None:
        n = settings.replicas
        self.settings = settings
        self.seed = seed
        self.manual = manual
        self.scheduled = manual  # driven by explicit steps: a seed alone cannot replay it
        self.streams = streams = Streams.derive(seed, n)
        self.plan: FaultPlan = draw_plan(settings.faults, n, streams.swarm)
        self.spec = WorkloadSpec.draw(settings.commands, settings.conflict, streams.swarm)
        retry = streams.swarm.random() < 0.8 if settings.retry is None else settings.retry
        multipaxos = settings.protocol == "multipaxos"
        retry = retry or multipaxos
        self.retry_ms = streams.swarm.uniform(300.0, 3000.0)
        config = ClusterConfig.for_size(
            n, settings.fast_failures, **self.plan.core_settings(), leader=0 if multipaxos else None
        )
        self.queue = EventQueue()
        self.network = Network(n, self.plan, streams.network)
        self.checkers = Checkers(n, visibility=not multipaxos)
        self.clients = Clients(retry)
        self.trace = Trace(settings.trace_limit)
        mutations = frozenset() if settings.mutation is None else frozenset({settings.mutation})
        self.cluster = SimCluster(
            config,
            streams.replicas,
            mutations,
            self.checkers,
            self.clients,
            self.trace,
            now=lambda: self.queue.now,
            send=self._on_send,
            sync_needed=self._on_sync_needed,
        )
        self.workload = Workload(self.spec, streams.workload)
        self.in_flight: list[tuple[ReplicaId, ReplicaId, Message]] = []
        self.phase = "faults"
        self.crashes = 0
        self.partitions = 0
        self.liveness_started_ms = 0.0
        self._partition_number = 0
        self._clog_number = 0
        self._done = False
        self._timed_out = False

    # ------------------------------------------------------------------ running

    def run(self) -> SeedResult:
        """The whole automatic run; raises SimulationFailure on any violation."""
        return self._guarded(self._run)

    def finish(self) -> SeedResult:
        """Manual mode: leave the explicit schedule, run the liveness phase and checks."""
        return self._guarded(self._finish)

    def _run(self) -> SeedResult:
        assert not self.manual
        for replica_id in range(self.settings.replicas):
            self._start_ticks(replica_id)
        self.queue.after(0.0, self._arrival)
        faults = self.streams.faults
        if self.plan.crashes_per_s:
            self.queue.after(faults.expovariate(self.plan.crashes_per_s / 1000), self._crash)
        if self.plan.clogs_per_s:
            self.queue.after(faults.expovariate(self.plan.clogs_per_s / 1000), self._clog)
        if self.plan.partitions_per_s:
            self.queue.after(faults.expovariate(self.plan.partitions_per_s / 1000), self._partition)
        return self._run_to_end()

    def _finish(self) -> SeedResult:
        self.manual = False
        pending, self.in_flight = self.in_flight, []
        for sender, to, message in pending:
            self._on_send(sender, to, message)
        for node in self.cluster.nodes:
            if node.replica is not None:
                self._start_ticks(node.replica_id)
                if node.disk.needs_sync:
                    self._on_sync_needed(node.replica_id)
        for request in self.clients.requests.values():
            if not (request.answered or request.abandoned):
                if request.replica < 0:
                    self.queue.after(0.0, self._submit, request)
                else:
                    self._arm_retry(request)
        self._enter_liveness()
        return self._run_to_end()

    def _run_to_end(self) -> SeedResult:
        self.queue.run_until(math.inf, stop=lambda: self._done)
        live = {node.replica_id: node.kv for node in self.cluster.nodes if node.replica is not None}
        self.checkers.check_liveness(
            live, self.clients.required(), self.settings.liveness_budget_ms, self._explain
        )
        self.checkers.check_states(live)
        return self._result()

    def _explain(self, instance_id: InstanceId) -> str:
        """Where each live replica stands on an instance (for liveness failures)."""
        states = []
        for node in self.cluster.nodes:
            if node.replica is None:
                states.append(f"r{node.replica_id}: down")
                continue
            record = node.replica.record_of(instance_id)
            executed = instance_id in node.kv.executed
            states.append(
                f"r{node.replica_id}: "
                + ("executed" if executed else "unknown" if record is None else describe(record))
            )
        return f"{instance_id} chosen as {describe_value(self.checkers.chosen[instance_id])}; " + (
            "; ".join(states)
        )

    def _guarded(self, body: Callable[[], SeedResult]) -> SeedResult:
        try:
            return body()
        except CheckFailed as failure:
            raise self._failure(failure.invariant, str(failure), failure.__cause__) from failure
        except Exception as error:  # a simulator bug is reported like a violation
            raise self._failure("simulator", repr(error), error) from error

    def _failure(
        self, invariant: str, detail: str, cause: BaseException | None
    ) -> SimulationFailure:
        if self.scheduled:
            replay = "rerun the same explicit schedule (manual mode; the seed alone does not)"
        else:
            replay = self.settings.replay_command(self.seed)
        lines = [
            f"seed {self.seed}: {detail}",
            f"replay: {replay}",
            f"plan: {self.plan.describe()} retry={self.clients.retry}",
            f"workload: {self.spec}",
            f"virtual time: {self.queue.now:.3f} ms, phase: {self.phase}",
        ]
        if cause is not None:
            lines.append("cause:")
            lines += [
                "  " + line
                for chunk in traceback.format_exception(cause)[-6:]
                for line in chunk.rstrip().splitlines()
            ]
        lines.append("last trace lines:")
        lines += self.trace.lines()
        return SimulationFailure(self.seed, invariant, replay, "\n".join(lines))

    def _result(self) -> SeedResult:
        stats = self.cluster.total_core_stats()
        return SeedResult(
            seed=self.seed,
            commands=len(self.clients.requests),
            answered=sum(1 for r in self.clients.requests.values() if r.answered),
            fast_commits=stats["fast_commits"],
            slow_commits=stats["slow_commits"],
            recoveries=stats["recoveries_started"],
            nops=self.checkers.chosen_nops,
            messages=dict(self.cluster.messages_sent),
            crashes=self.crashes,
            partitions=self.partitions,
            virtual_ms=self.queue.now,
            liveness_ms=self.queue.now - self.liveness_started_ms,
        )

    # ------------------------------------------------------------------ plumbing

    def _on_send(self, sender: ReplicaId, to: ReplicaId, message: Message) -> None:
        if self.manual:
            self.in_flight.append((sender, to, message))
            return
        delays = self.network.fates(sender, to)
        if not delays:
            self.trace.add(self.queue.now, f"r{sender}>r{to}", "lost", message)
        for delay in delays:
            self.queue.after(delay, self._deliver, (sender, to, message))

    def _deliver(self, item: tuple[ReplicaId, ReplicaId, Message]) -> None:
        sender, to, message = item
        if self.network.link_up(sender, to):
            self.cluster.deliver(sender, to, message)
        else:
            self.trace.add(self.queue.now, f"r{sender}>r{to}", "cut", message)

    def _on_sync_needed(self, replica_id: ReplicaId) -> None:
        if self.manual:
            return
        node = self.cluster.nodes[replica_id]
        node.disk.start_sync()
        delay = self.streams.disk.expovariate(1.0 / self.plan.fsync_ms_mean)
        self.queue.after(delay, self._sync_done, (replica_id, node.incarnation))

    def _sync_done(self, item: tuple[ReplicaId, int]) -> None:
        replica_id, incarnation = item
        if self.cluster.nodes[replica_id].incarnation != incarnation:
            return
        faults = self.streams.faults
        if self.phase == "faults" and self._may_crash():
            node = self.cluster.nodes[replica_id]
            chance, budget_max = self.plan.sync_crash, self.settings.replicas - 1
            if self.plan.decision_crash and _holds_own_decision(
                node.disk.syncing_records(), replica_id
            ):
                # Mostly nothing of the decision gets out: only a recovery can find it.
                chance = max(chance, self.plan.decision_crash)
                budget_max = faults.choice((0, budget_max))
            if chance and faults.random() < chance:
                budget = faults.randint(0, budget_max)
                if self.cluster.complete_sync(replica_id, send_budget=budget):
                    self.trace.add(
                        self.queue.now, f"r{replica_id}", "dies", f"after {budget} sends"
                    )
                    self._crash_now(replica_id)
                    return
        self.cluster.complete_sync(replica_id)

    def _start_ticks(self, replica_id: ReplicaId) -> None:
        incarnation = self.cluster.nodes[replica_id].incarnation
        offset = self.streams.faults.uniform(0.0, self.settings.tick_ms)
        self.queue.after(offset, self._tick, (replica_id, incarnation))

    def _tick(self, item: tuple[ReplicaId, int]) -> None:
        replica_id, incarnation = item
        node = self.cluster.nodes[replica_id]
        if node.incarnation != incarnation or node.replica is None:
            return
        self.cluster.tick(replica_id)
        self.queue.after(self.settings.tick_ms, self._tick, item)

    # ------------------------------------------------------------------ clients

    def _arrival(self, _: object = None) -> None:
        request = self.clients.new(self.workload.next_command())
        self._submit(request)
        if not self.workload.exhausted:
            self.queue.after(self.workload.interarrival_ms(), self._arrival)
        else:
            tail = self.streams.faults.uniform(0.0, 500.0)
            self.queue.after(tail, self._enter_liveness)

    def _submit(self, request: Request) -> None:
        """The client connects to a random replica; a refused connection is no
        ambiguity, so it simply tries another one shortly after."""
        if request.answered or request.abandoned:
            return
        replica_id = self.streams.workload.randrange(self.settings.replicas)
        if not self.cluster.is_up(replica_id):
            self.queue.after(1.0, self._submit, request)
            return
        self.checkers.on_propose(request.command, self.queue.now)
        self.clients.submitted(request, replica_id)
        self.cluster.propose(replica_id, request.command)
        self._arm_retry(request)

    def _arm_retry(self, request: Request) -> None:
        if self.clients.retry and not self.manual:
            self.queue.after(self.retry_ms, self._retry, (request, request.attempt))

    def _retry(self, item: tuple[Request, int]) -> None:
        request, attempt = item
        if request.attempt == attempt and not (request.answered or request.abandoned):
            self.trace.add(self.queue.now, "client", "retry", request.command)
            self._submit(request)

    def _connection_lost(self, request_ids: list[str]) -> None:
        if not self.clients.retry or self.manual:
            return
        for request_id in request_ids:
            self.queue.after(1.0, self._submit, self.clients.requests[request_id])

    # ------------------------------------------------------------------ faults

    def _crash(self, _: object = None) -> None:
        if self.phase != "faults":
            return
        faults = self.streams.faults
        up = self.cluster.up_ids()
        if up and self._may_crash():
            self._crash_now(faults.choice(up))
        self.queue.after(faults.expovariate(self.plan.crashes_per_s / 1000), self._crash)

    def _may_crash(self) -> bool:
        return self.settings.replicas - len(self.cluster.up_ids()) < self.plan.max_down

    def _crash_now(self, replica_id: ReplicaId) -> None:
        faults = self.streams.faults
        node = self.cluster.nodes[replica_id]
        keep = 0
        if self.plan.torn_write and faults.random() < self.plan.torn_write:
            keep = faults.randint(0, node.disk.unsynced_records)
        self.crashes += 1
        self._connection_lost(self.cluster.crash(replica_id, keep))
        if not self.manual:
            down_ms = faults.expovariate(1.0 / self.plan.down_ms_mean)
            self.queue.after(down_ms, self._restart, (replica_id, node.incarnation))

    def _restart(self, item: tuple[ReplicaId, int]) -> None:
        replica_id, incarnation = item
        node = self.cluster.nodes[replica_id]
        if self.phase != "faults" or node.incarnation != incarnation or node.replica is not None:
            return
        self._restart_now(replica_id)

    def _restart_now(self, replica_id: ReplicaId) -> None:
        self.cluster.restart(replica_id)
        if not self.manual:
            self._start_ticks(replica_id)

    def _partition(self, _: object = None) -> None:
        if self.phase != "faults":
            return
        faults = self.streams.faults
        self.partitions += 1
        self._partition_number += 1
        description = self.network.partition(faults, self.plan.asymmetric_share)
        self.trace.add(self.queue.now, "net", "partition", description)
        self.queue.after(
            faults.expovariate(1.0 / self.plan.partition_ms_mean),
            self._heal,
            self._partition_number,
        )
        self.queue.after(faults.expovariate(self.plan.partitions_per_s / 1000), self._partition)

    def _clog(self, _: object = None) -> None:
        if self.phase != "faults":
            return
        faults = self.streams.faults
        self._clog_number += 1
        description = self.network.clog(faults, self.plan.clog_delay_ms)
        self.trace.add(self.queue.now, "net", "clog", description)
        self.queue.after(
            faults.expovariate(1.0 / self.plan.clog_ms_mean), self._unclog, self._clog_number
        )
        self.queue.after(faults.expovariate(self.plan.clogs_per_s / 1000), self._clog)

    def _unclog(self, number: int) -> None:
        if number == self._clog_number:
            self.network.unclog()
            self.trace.add(self.queue.now, "net", "unclog")

    def _heal(self, number: int) -> None:
        if number == self._partition_number:
            self.network.heal()
            self.trace.add(self.queue.now, "net", "heal")

    # ------------------------------------------------------------------ liveness

    def _enter_liveness(self, _: object = None) -> None:
        self.phase = "liveness"
        self.liveness_started_ms = self.queue.now
        self.network.heal()
        self.network.unclog()
        self.network.set_rates(0.0, 0.0, 0.0)
        faults = self.streams.faults
        down = [n.replica_id for n in self.cluster.nodes if n.replica is None]
        # A Multi-Paxos leader must come back: that mode has no failover.
        may_stay = [replica_id for replica_id in down if replica_id != self.cluster.config.leader]
        keep = set(faults.sample(may_stay, min(len(may_stay), self.plan.keep_down)))
        self.trace.add(self.queue.now, "sim", "liveness", f"keep down {sorted(keep)}")
        for replica_id in down:
            if replica_id not in keep:
                self._restart_now(replica_id)
        self.queue.after(_PROBE_MS, self._probe)
        self.queue.after(self.settings.liveness_budget_ms, self._deadline)

    def _probe(self, _: object = None) -> None:
        if self._quiescent():
            self._done = True
        else:
            self.queue.after(_PROBE_MS, self._probe)

    def _deadline(self, _: object = None) -> None:
        self._done = True
        self._timed_out = True

    def _quiescent(self) -> bool:
        if self.clients.unresolved:
            return False
        wanted = len(self.checkers.chosen) - self.checkers.chosen_nops
        live = {n.replica_id: n.kv for n in self.cluster.nodes if n.replica is not None}
        if any(len(kv.executed) != wanted for kv in live.values()):
            return False
        required = self.clients.required()
        if any(len(kv.applied) < len(required) for kv in live.values()):
            return False
        return not self.checkers.liveness_gaps(live, required, limit=1)

    # ------------------------------------------------------------------ manual steps

    def step_propose(self, replica_id: ReplicaId, command: Command) -> None:
        if not self.cluster.is_up(replica_id):
            return
        request = self.clients.new(command)
        self.checkers.on_propose(command, self.queue.now)
        self.clients.submitted(request, replica_id)
        self.cluster.propose(replica_id, command)

    def step_deliver(self, index: int, keep: bool = False) -> None:
        if self.in_flight:
            item = self.in_flight[index % len(self.in_flight)]
            if not keep:
                self.in_flight.remove(item)
            self.cluster.deliver(*item)

    def step_drop(self, index: int) -> None:
        if self.in_flight:
            sender, to, message = self.in_flight.pop(index % len(self.in_flight))
            self.trace.add(self.queue.now, f"r{sender}>r{to}", "lost", message)

    def step_crash(self, replica_id: ReplicaId, keep_unsynced: int = 0) -> None:
        if self.cluster.is_up(replica_id):
            self.crashes += 1
            self.cluster.crash(replica_id, keep_unsynced)

    def step_restart(self, replica_id: ReplicaId) -> None:
        if not self.cluster.is_up(replica_id):
            self._restart_now(replica_id)

    def step_tick(self, replica_id: ReplicaId, advance_ms: float) -> None:
        self.queue.now += advance_ms
        self.cluster.tick(replica_id)

    def step_fsync(self, replica_id: ReplicaId) -> None:
        node = self.cluster.nodes[replica_id]
        if node.replica is not None and node.disk.needs_sync:
            node.disk.start_sync()
            self.cluster.complete_sync(replica_id)


def _holds_own_decision(records: list[DurableRecord], replica_id: ReplicaId) -> bool:
    """Whether `records` hold the owner's commit or accept of its own instance at
    ballot 0: a fast or slow path decision."""
    return any(
        type(r) is InstanceRecord
        and r.instance_id.owner == replica_id
        and r.phase in (Phase.ACCEPTED, Phase.COMMITTED)
        and r.accepted_ballot.round == 0
        for r in records
    )


def run_seed(settings: SimSettings, seed: int) -> SeedResult:
    return Simulation(settings, seed).run()
