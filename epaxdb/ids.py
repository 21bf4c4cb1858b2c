"""Identifiers of the protocol: replicas, instances and ballots.

An instance id is (owner, slot): the owner is the replica that first proposed it (its
*initial coordinator*) and the only one allowed to use ballot 0 for it. Every other
ballot is owned by exactly one replica, so two recoverers never share a ballot.

Both are named tuples rather than dataclasses: they are hashed and compared millions
of times per second on the hot path, and tuple hashing and ordering run in C.
"""

from __future__ import annotations

from typing import NamedTuple

ReplicaId = int


class InstanceId(NamedTuple):
    owner: ReplicaId
    slot: int

    def __str__(self) -> str:
        return f"{self.owner}.{self.slot}"


class Ballot(NamedTuple):
    """Ordered lexicographically; (0, owner) is the owner's initial ballot of an instance."""

    round: int
    replica: ReplicaId

    @property
    def is_initial(self) -> bool:
        return self.round == 0

    def __str__(self) -> str:
        return f"{self.round}:{self.replica}"


def initial_ballot(instance_id: InstanceId) -> Ballot:
    return Ballot(0, instance_id.owner)
