"""Invariant checkers, fed by the simulator as events happen and run again at the end.

Theory of operation. The checkers keep *ghost* state that no replica could know:

- `chosen`: for each instance, the (batch, deps) of the first COMMITTED record that
  became durable on any replica. Agreement: every COMMITTED record any replica
  produces afterwards (durable or not) carries the same pair; every execution runs
  the chosen batch. A decision lost to a crash before it was durable does not count:
  persist-before-send means it exposed nothing, and EPaxos* recovery may then abort
  the instance (for instance when the crashed owner answers the recovery).
- `_pair_order`: for each pair of interfering requests, which took effect first on
  the first replica that applied both. Execution consistency: every other replica
  that applies both applies them in that order. Interference is the project's own
  relation (`Footprint.conflicts`), computed once per pair when a request is first
  proposed (`InterferenceIndex` avoids comparing unrelated requests).
- `must_precede`: for each request, the interfering requests acknowledged to their
  clients before it was first proposed. Real-time order: each of them must already
  have taken effect wherever the request takes effect.
- Visibility (the dependency invariant EPaxos* proves): of two interfering non-NOP
  instances chosen, one has the other in its deps or under its deps floor, *or the
  other had already been executed on every replica when this one was chosen*. The
  last clause is what garbage collection adds: recovery validates a value against the
  instances the validators still know, and an instance executed everywhere may have
  been forgotten (docs/architecture.md, "Garbage collection and recovery"). Execution
  order needs no more: such a pair runs in the same order on every replica, the
  forgotten one first. PreAccept keeps the stricter form (an acceptor that forgot an
  instance above a proposer's floor raises the floor of its reply to cover it).
- Exactly-once: a replica never executes an instance twice (also across restarts),
  executes only chosen instances, and only after every dependency is executed (or is
  a NOP) by the end of the same Ready, since an SCC executes as a whole.

At the end, `check_liveness` demands that every chosen non-NOP instance and every
request whose client still waits or was answered took effect on every live replica,
and `check_states` that all live replicas hold the same key/value state, equal to
replaying one replica's effective order on a fresh store.

A failed check raises `CheckFailed(invariant, detail)`; the simulation adds the
seed, the replay command and the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from epaxdb.command import Batch, Command, Footprint
from epaxdb.errors import EpaxdbError
from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import Deps, Phase
from epaxdb.records import DurableRecord, InstanceRecord
from epaxdb.sim.interference import InterferenceIndex
from epaxdb.sim.kv import KvState, apply_ops, decode_ops


class CheckFailed(EpaxdbError):
    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


class Checkers:
    def __init__(self, replicas: int, *, visibility: bool = True) -> None:
        self.replicas = replicas
        self.visibility = visibility
        self.chosen: dict[InstanceId, tuple[Batch, Deps]] = {}
        self.chosen_nops = 0
        self.commands: dict[str, Command] = {}
        self.proposed_at: dict[str, float] = {}
        self.acked_at: dict[str, float] = {}
        self.interfering: dict[str, list[str]] = {}
        self.must_precede: dict[str, list[str]] = {}
        self._pair_order: dict[tuple[str, str], str] = {}
        self._requests: InterferenceIndex[str] = InterferenceIndex()
        self._instances: InterferenceIndex[InstanceId] = InterferenceIndex()
        self._executed_on: dict[InstanceId, int] = {}
        self.executed_everywhere: set[InstanceId] = set()
        self.visible_by_collection = 0  # pairs that needed the garbage-collection clause

    # ------------------------------------------------------------------ requests

    def on_propose(self, command: Command, now_ms: float) -> None:
        """A client submits a request (again, when it retries)."""
        request_id = command.request_id
        known = self.commands.get(request_id)
        if known is not None:
            if known != command:
                raise CheckFailed("workload", f"request {request_id} reused for another command")
            return
        interfering = self._requests.add(request_id, Footprint.of((command,)))
        self.commands[request_id] = command
        self.proposed_at[request_id] = now_ms
        self.interfering[request_id] = interfering
        for other in interfering:
            self.interfering[other].append(request_id)
        self.must_precede[request_id] = [a for a in interfering if a in self.acked_at]

    def on_ack(self, request_id: str, now_ms: float) -> None:
        self.acked_at.setdefault(request_id, now_ms)

    # ------------------------------------------------------------------ agreement

    def on_records(self, replica: ReplicaId, records: Iterable[DurableRecord]) -> None:
        """Records of a Ready when produced: a commit decision must never contradict a
        value already chosen, even if it is then lost."""
        for record in records:
            if type(record) is InstanceRecord and record.phase is Phase.COMMITTED:
                first = self.chosen.get(record.instance_id)
                if first is not None:
                    self._agree(replica, record, first)

    def on_durable(self, replica: ReplicaId, records: Iterable[DurableRecord]) -> None:
        """Records that became durable. A commit decision counts as chosen from here: all
        it could expose (messages, executions) waits for this moment, and one a crash
        loses first was never exposed, so recovery may legitimately decide otherwise."""
        for record in records:
            if type(record) is InstanceRecord and record.phase is Phase.COMMITTED:
                first = self.chosen.get(record.instance_id)
                if first is None:
                    self._choose(replica, record)
                else:
                    self._agree(replica, record, first)

    def _choose(self, replica: ReplicaId, record: InstanceRecord) -> None:
        if record.batch is None or record.deps is None:
            raise CheckFailed(
                "agreement", f"r{replica} committed {record.instance_id} without a value"
            )
        instance_id, batch, deps = record.instance_id, record.batch, record.deps
        self.chosen[instance_id] = (batch, deps)
        if not batch:
            self.chosen_nops += 1
            return
        for command in batch:
            self._check_proposed(command, f"committed in {instance_id}")
        interfering = self._instances.add(instance_id, Footprint.of(batch))
        for other in interfering if self.visibility else ():
            if deps.covers(other) or self.chosen[other][1].covers(instance_id):
                continue
            if other in self.executed_everywhere:
                self.visible_by_collection += 1
                continue
            raise CheckFailed(
                "visibility",
                f"interfering {other} and {instance_id} are both committed, "
                f"neither in the other's deps",
            )

    def _agree(self, replica: ReplicaId, record: InstanceRecord, first: tuple[Batch, Deps]) -> None:
        if (record.batch, record.deps) != first:
            raise CheckFailed(
                "agreement",
                f"{record.instance_id} committed at r{replica} as "
                f"{describe_value((record.batch or (), record.deps))} "
                f"but chosen earlier as {describe_value(first)}",
            )

    def _check_proposed(self, command: Command, where: str) -> None:
        if self.commands.get(command.request_id) != command:
            raise CheckFailed("nontriviality", f"{command.request_id} {where} was never proposed")

    # ------------------------------------------------------------------ execution

    def before_execute(
        self, replica: ReplicaId, kv: KvState, instance_id: InstanceId, batch: Batch
    ) -> None:
        if instance_id in kv.executed:
            raise CheckFailed("exactly-once", f"r{replica} executed {instance_id} twice")
        chosen = self.chosen.get(instance_id)
        if chosen is None:
            raise CheckFailed("agreement", f"r{replica} executed uncommitted {instance_id}")
        if chosen[0] != batch:
            raise CheckFailed(
                "agreement",
                f"r{replica} executed {instance_id} as {describe_batch(batch)}, "
                f"chosen as {describe_batch(chosen[0])}",
            )

    def after_effect(self, replica: ReplicaId, kv: KvState, command: Command) -> None:
        """`command` just took effect at `replica` (its first execution there)."""
        request_id = command.request_id
        applied = kv.applied
        pair_order = self._pair_order
        position = applied[request_id]
        for other in self.interfering[request_id]:
            # Only requests that took effect *before* this one: a batch marks all its
            # requests applied before their effects are checked one by one.
            if other == request_id or applied.get(other, position) >= position:
                continue
            pair = (other, request_id) if other < request_id else (request_id, other)
            first = pair_order.setdefault(pair, other)
            if first != other:
                raise CheckFailed(
                    "execution consistency",
                    f"r{replica} applied {other} before {request_id}; "
                    f"another replica applied them the other way round",
                )
        for earlier in self.must_precede[request_id]:
            if earlier not in applied:
                raise CheckFailed(
                    "real-time order",
                    f"r{replica} applied {request_id} (proposed at "
                    f"{self.proposed_at[request_id]:.3f} ms) before {earlier} (acknowledged at "
                    f"{self.acked_at[earlier]:.3f} ms)",
                )

    def after_executions(
        self, replica: ReplicaId, kv: KvState, instance_ids: Iterable[InstanceId]
    ) -> None:
        """Every dependency of what a Ready executed is executed (or a NOP) by its end."""
        for instance_id in instance_ids:
            self._count_execution(instance_id)
            for dep in self.chosen[instance_id][1].ids:
                value = self.chosen.get(dep)
                if value is None:
                    raise CheckFailed(
                        "execution",
                        f"r{replica} executed {instance_id} before its dependency "
                        f"{dep} was committed anywhere",
                    )
                if value[0] and dep not in kv.executed:
                    raise CheckFailed(
                        "execution",
                        f"r{replica} executed {instance_id} but not its dependency {dep}",
                    )

    def _count_execution(self, instance_id: InstanceId) -> None:
        # Exactly-once (checked above) makes a count of executions a count of replicas.
        count = self._executed_on[instance_id] = self._executed_on.get(instance_id, 0) + 1
        if count == self.replicas:
            self.executed_everywhere.add(instance_id)
            del self._executed_on[instance_id]

    # ------------------------------------------------------------------ end of run

    def liveness_gaps(
        self, live: Mapping[ReplicaId, KvState], required: Iterable[str], limit: int = 10
    ) -> list[str]:
        gaps: list[str] = []
        wanted = [i for i, (batch, _) in sorted(self.chosen.items()) if batch]
        required = sorted(required)
        for replica, kv in sorted(live.items()):
            missing = [str(i) for i in wanted if i not in kv.executed]
            if missing:
                gaps.append(f"r{replica} did not execute committed {', '.join(missing[:limit])}")
            absent = [r for r in required if r not in kv.applied]
            if absent:
                gaps.append(f"r{replica} did not apply requests {', '.join(absent[:limit])}")
        return gaps

    def check_liveness(
        self,
        live: Mapping[ReplicaId, KvState],
        required: Iterable[str],
        budget_ms: float,
        explain: Callable[[InstanceId], str] | None = None,
    ) -> None:
        gaps = self.liveness_gaps(live, required)
        if not gaps:
            return
        detail = f"not done {budget_ms:.0f} ms after faults stopped: " + "; ".join(gaps)
        if explain is not None:
            stuck = [
                i
                for i, (batch, _) in sorted(self.chosen.items())
                if batch and any(i not in kv.executed for kv in live.values())
            ]
            detail += "".join(f"\n  {explain(i)}" for i in stuck[:3])
        raise CheckFailed("liveness", detail)

    def check_states(self, live: Mapping[ReplicaId, KvState]) -> None:
        if not live:
            return
        reference_id, reference = min(live.items())
        replay: dict[str, Any] = {}
        for request_id in reference.effective_order():
            apply_ops(replay, decode_ops(self.commands[request_id].payload))
        if replay != reference.data:
            raise CheckFailed(
                "replica states", f"r{reference_id}'s state differs from replaying its own order"
            )
        for replica, kv in sorted(live.items()):
            if kv.data != reference.data:
                keys = sorted(
                    k
                    for k in set(kv.data) | set(reference.data)
                    if kv.data.get(k) != reference.data.get(k)
                )
                raise CheckFailed(
                    "replica states",
                    f"r{replica} and r{reference_id} differ on keys {keys[:10]}",
                )


def describe_batch(batch: Batch) -> str:
    return "NOP" if not batch else "[" + ",".join(c.request_id for c in batch) + "]"


def describe_value(value: tuple[Batch, Deps]) -> str:
    batch, deps = value
    ids = ",".join(str(i) for i in sorted(deps.ids))
    return f"({describe_batch(batch)}, deps={{{ids}}} floor={list(deps.floor)})"
