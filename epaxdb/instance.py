"""Per-instance protocol state (EPaxos* Fig. 3/5 variables) and its durable snapshot.

Invariants kept by the replica and checked here:
- `phase` never decreases; COMMITTED is terminal and its value never changes;
- `accepted_ballot <= ballot`; `accepted_ballot` above the initial ballot only with
  phase ACCEPTED or COMMITTED (a promise is never mistaken for a vote: Sutra's bug).
"""

from __future__ import annotations

from epaxdb.command import NOP, Batch, Footprint
from epaxdb.errors import invariant
from epaxdb.ids import Ballot, InstanceId, initial_ballot
from epaxdb.messages import Deps, Phase
from epaxdb.records import InstanceRecord

_EMPTY_FOOTPRINT = Footprint.of(NOP)


class Instance:
    __slots__ = (
        "accepted_ballot",
        "backoff",
        "ballot",
        "batch",
        "deadline_ms",
        "deps",
        "executed",
        "footprint",
        "initial_batch",
        "initial_deps",
        "instance_id",
        "phase",
        "timer_stage",
    )

    def __init__(self, instance_id: InstanceId) -> None:
        self.instance_id = instance_id
        self.phase = Phase.INITIAL
        self.ballot: Ballot = initial_ballot(instance_id)
        self.accepted_ballot: Ballot = self.ballot
        self.batch: Batch | None = None
        self.deps: Deps | None = None
        self.initial_batch: Batch | None = None
        self.initial_deps: Deps | None = None
        self.footprint: Footprint = _EMPTY_FOOTPRINT
        self.executed = False
        # Timer state (volatile): when to act next, and how far escalation has gone.
        self.deadline_ms: float | None = None
        self.timer_stage = 0
        self.backoff = 1.0

    @staticmethod
    def from_record(record: InstanceRecord) -> Instance:
        instance = Instance(record.instance_id)
        instance.phase = record.phase
        instance.ballot = record.ballot
        instance.accepted_ballot = record.accepted_ballot
        instance.batch = record.batch
        instance.deps = record.deps
        instance.initial_batch = record.initial_batch
        instance.initial_deps = record.initial_deps
        if record.batch is not None:
            instance.footprint = Footprint.of(record.batch)
        return instance

    def to_record(self) -> InstanceRecord:
        return InstanceRecord(
            self.instance_id,
            self.phase,
            self.ballot,
            self.accepted_ballot,
            self.batch,
            self.deps,
            self.initial_batch,
            self.initial_deps,
        )

    @property
    def committed(self) -> bool:
        return self.phase is Phase.COMMITTED

    @property
    def is_nop(self) -> bool:
        return self.batch is not None and len(self.batch) == 0

    def set_batch(self, batch: Batch, footprint: Footprint | None = None) -> None:
        if batch is not self.batch and batch != self.batch:
            self.footprint = Footprint.of(batch) if footprint is None else footprint
        self.batch = batch

    def set_value(self, batch: Batch, deps: Deps, footprint: Footprint | None = None) -> None:
        self.set_batch(batch, footprint)
        self.deps = deps

    def commit(self, ballot: Ballot, batch: Batch, deps: Deps) -> None:
        if self.committed:
            invariant(
                self.batch == batch and self.deps == deps,
                f"agreement: {self.instance_id} committed twice with different values",
            )
            return
        self.set_value(batch, deps)
        self.phase = Phase.COMMITTED
        self.accepted_ballot = ballot
        self.ballot = max(self.ballot, ballot)
        self.deadline_ms = None

    def accept(self, ballot: Ballot, batch: Batch, deps: Deps) -> None:
        invariant(not self.committed, f"accept on committed {self.instance_id}")
        invariant(ballot >= self.ballot, f"accept below promise on {self.instance_id}")
        self.set_value(batch, deps)
        self.phase = Phase.ACCEPTED
        self.ballot = ballot
        self.accepted_ballot = ballot

    def was_conflicting_nop(self, footprint: Footprint) -> bool:
        """Whether this is a committed NOP whose initial command conflicts.

        Such an instance still counts as a dependency: a recovery validating another
        instance at replicas that have not learned of the NOP reports it as a potential
        invalidator by its initial command, and EPaxos*'s exact-threshold rule (Lemma
        11) then concludes NOP for a command that may have been fast-committed, unless
        every replica that proposed or pre-accepted after this one listed it. Found by
        the simulator (3 replicas, heavy faults, seed 8085 at b82aff8): an owner
        re-proposed a NOP'ed command, left the NOP out of the new instance's deps, and
        the new instance, fast-committed, was recovered as NOP."""
        if not (self.committed and self.is_nop and self.initial_batch):
            return False
        return Footprint.of(self.initial_batch).conflicts(footprint)

    def conflicts_now(self, footprint: Footprint) -> bool:
        """Whether this instance's current value may conflict with `footprint`.

        An uncommitted NOP conflicts with everything: recovery may still replace it
        with the real command."""
        if self.batch is None:
            return False
        if self.is_nop:
            return not self.committed
        return self.footprint.conflicts(footprint)
