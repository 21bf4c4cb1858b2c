"""Protocol messages of EPaxos* (one frozen dataclass per message type).

Names follow Ryabinin, Gotsman and Sutra, "Making Democracy Work" (OPODIS 2025):
PreAccept/PreAcceptOk, Accept/AcceptOk, Commit, Recover/RecoverOk, Validate/ValidateOk,
Waiting. Additions of ours, which carry no votes: Nack (tells a sender the ballot it
lost to), CommitQuery (cheap catch-up before a full recovery) and Gossip (executed
watermarks for garbage collection and the highest slots known per owner, so a
replica learns of instances whose messages it missed).

Every instance-scoped message carries the full instance id; the sender is supplied by
the transport. `Deps` is a set of instance ids plus a *floor*: for each owner, every
slot at or below the floor is an implicit dependency (an instance executed on every
replica, whose record may already be garbage collected). An acceptor raises the floor
of its reply when it has already forgotten instances above the proposer's floor, so a
forgotten conflict is still covered (and such a reply never counts for the fast path).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from epaxdb.command import Batch
from epaxdb.ids import Ballot, InstanceId

PROTOCOL_VERSION = 1


class Phase(enum.IntEnum):
    INITIAL = 0
    PREACCEPTED = 1
    ACCEPTED = 2
    COMMITTED = 3


@dataclass(frozen=True, slots=True)
class Deps:
    ids: frozenset[InstanceId]
    floor: tuple[int, ...]

    def covers(self, instance_id: InstanceId) -> bool:
        return instance_id in self.ids or instance_id.slot <= self.floor[instance_id.owner]

    def union(self, other: Deps) -> Deps:
        """Union of two dependency sets: explicit ids and, per owner, the higher floor
        (everything below either floor is executed on every replica)."""
        if self.floor == other.floor:
            return Deps(self.ids | other.ids, self.floor)
        return Deps(self.ids | other.ids, tuple(map(max, self.floor, other.floor)))


def empty_deps(replica_count: int) -> Deps:
    return Deps(frozenset(), (0,) * replica_count)


@dataclass(frozen=True, slots=True)
class PreAccept:
    instance_id: InstanceId
    batch: Batch
    deps: Deps


@dataclass(frozen=True, slots=True)
class PreAcceptOk:
    instance_id: InstanceId
    deps: Deps


@dataclass(frozen=True, slots=True)
class Accept:
    instance_id: InstanceId
    ballot: Ballot
    batch: Batch
    deps: Deps


@dataclass(frozen=True, slots=True)
class AcceptOk:
    instance_id: InstanceId
    ballot: Ballot


@dataclass(frozen=True, slots=True)
class Commit:
    instance_id: InstanceId
    ballot: Ballot
    batch: Batch
    deps: Deps


@dataclass(frozen=True, slots=True)
class Recover:
    instance_id: InstanceId
    ballot: Ballot


@dataclass(frozen=True, slots=True)
class RecoverOk:
    instance_id: InstanceId
    ballot: Ballot
    accepted_ballot: Ballot
    phase: Phase
    batch: Batch | None
    deps: Deps | None
    initial_deps: Deps | None


@dataclass(frozen=True, slots=True)
class Validate:
    instance_id: InstanceId
    ballot: Ballot
    batch: Batch
    deps: Deps


@dataclass(frozen=True, slots=True)
class ValidateOk:
    instance_id: InstanceId
    ballot: Ballot
    invalidators: tuple[tuple[InstanceId, Phase], ...]


@dataclass(frozen=True, slots=True)
class Waiting:
    instance_id: InstanceId
    matching: int


@dataclass(frozen=True, slots=True)
class Nack:
    instance_id: InstanceId
    ballot: Ballot


@dataclass(frozen=True, slots=True)
class Forward:
    """Multi-Paxos baseline mode: client commands a replica hands to the leader."""

    batch: Batch


@dataclass(frozen=True, slots=True)
class CommitQuery:
    instance_ids: tuple[InstanceId, ...]


@dataclass(frozen=True, slots=True)
class Gossip:
    executed_prefix: tuple[int, ...]
    highest_slot: tuple[int, ...]
    floor: tuple[int, ...]


Message = (
    PreAccept
    | PreAcceptOk
    | Accept
    | AcceptOk
    | Commit
    | Recover
    | RecoverOk
    | Validate
    | ValidateOk
    | Waiting
    | Nack
    | CommitQuery
    | Gossip
    | Forward
)

MESSAGE_TYPES: tuple[type, ...] = (
    PreAccept,
    PreAcceptOk,
    Accept,
    AcceptOk,
    Commit,
    Recover,
    RecoverOk,
    Validate,
    ValidateOk,
    Waiting,
    Nack,
    CommitQuery,
    Gossip,
    Forward,
)
