"""What the core asks its driver to make durable, and what it is restored from.

The core never writes anything itself. Every `Ready` lists records that must be on
stable storage before any message of the same `Ready` is sent: that is how "never
acknowledge what is not durable" is kept (an acceptor's vote, a coordinator's
decision, a recoverer's ballot). A record is the whole state of one instance; the
newest record per instance wins on restore.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from epaxdb.command import Batch
from epaxdb.ids import Ballot, InstanceId, ReplicaId
from epaxdb.messages import Deps, Message, Phase


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    instance_id: InstanceId
    phase: Phase
    ballot: Ballot  # highest ballot joined (promised)
    accepted_ballot: Ballot  # ballot of the last Accept/Commit applied (the vote ballot)
    batch: Batch | None
    deps: Deps | None
    initial_batch: Batch | None
    initial_deps: Deps | None


@dataclass(frozen=True, slots=True)
class FloorRecord:
    """Per owner, every slot up to `floor[owner]` is executed on every replica: their
    instance records may be dropped from the log."""

    floor: tuple[int, ...]


DurableRecord = InstanceRecord | FloorRecord


@dataclass(frozen=True, slots=True)
class Outgoing:
    to: ReplicaId
    message: Message


@dataclass(frozen=True, slots=True)
class Execution:
    """Apply `batch` now. Executions come in the one order every replica agrees on for
    interfering instances; the driver records `instance_id` as executed atomically
    with the batch's effects."""

    instance_id: InstanceId
    batch: Batch


@dataclass(slots=True)
class Ready:
    """Effects of the inputs since the last `take_ready`, to be carried out in order:
    1. make `records` durable (one fsync for all of them);
    2. send `messages`;
    3. apply `executions` in list order.

    A driver may overlap Readies (group commit, applying executions on another
    thread), with one rule across them: a `FloorRecord` may become durable, and a
    `Gossip` may be sent, only after the executions of every *earlier* Ready are
    durably applied. Both speak of this replica's executed prefix, and peers drop
    instances below the floor they derive from it: a replica that lost an execution
    it had announced could never get the instance back."""

    records: list[DurableRecord] = field(default_factory=list)
    messages: list[Outgoing] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.records or self.messages or self.executions)


@dataclass(frozen=True, slots=True)
class RestoredState:
    """What a restarting replica gets back: the newest durable record of each instance,
    the durable floor, and the instances its state machine has executed (read back
    from the state database, where they were recorded with their effects)."""

    records: tuple[InstanceRecord, ...] = ()
    floor: tuple[int, ...] | None = None
    executed: frozenset[InstanceId] = frozenset()
