"""Commit tokens: points of the replicated order as text, shared by the server and
the clients (docs/http-api.md documents both formats; clients may parse them).

An *instance token* `epx1:<owner>:<slot>` names the instance a transaction executed
in: the `commit_token` of every answer. A replica has reached it once it executed
that instance, which covers everything the instance depends on, but not earlier
commits of the same client that do not interfere with it.

A *position token* `epx2:<owner>:<slot>[,<owner>:<slot>...]` (owners ascending, each
at most once, slots at least 1; an owner left out counts as 0) names, per owner, a
slot up to which *every* instance of that owner must be executed. A client folds the
instance tokens it sees into one position (the highest slot per owner), so that
waiting for the position covers every commit it saw, whichever replica served them.

A new format gets a new prefix, so a replica always knows which one it was given.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from epaxdb.ids import InstanceId

_INSTANCE = re.compile(r"epx1:([0-9]{1,6}):([0-9]{1,19})")
_PAIR = r"[0-9]{1,6}:[0-9]{1,19}"
_POSITION = re.compile(rf"epx2:({_PAIR}(?:,{_PAIR})*)")


class BadToken(ValueError):
    """Not a commit token (of this cluster, when its size is known)."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Per owner (a replica id, the index), the slot up to which every instance of
    that owner is meant; trailing zeros are dropped, so equal positions are equal."""

    slots: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if any(slot < 0 for slot in self.slots):
            raise ValueError(f"a position's slots are not negative: {self.slots}")
        slots = self.slots
        while slots and slots[-1] == 0:
            slots = slots[:-1]
        object.__setattr__(self, "slots", slots)

    def __bool__(self) -> bool:
        return bool(self.slots)

    def __str__(self) -> str:
        return ",".join(f"{owner}:{slot}" for owner, slot in enumerate(self.slots) if slot)

    def slot(self, owner: int) -> int:
        return self.slots[owner] if owner < len(self.slots) else 0

    def including(self, point: InstanceId | Position) -> Position:
        """The smallest position at or above both this one and `point`."""
        other = point if isinstance(point, Position) else _position_of(point)
        width = max(len(self.slots), len(other.slots))
        return Position(tuple(max(self.slot(o), other.slot(o)) for o in range(width)))

    def first_behind(self, prefix: Sequence[int]) -> int | None:
        """The first owner whose `prefix` entry is below this position's slot, or None
        when `prefix` (one entry per owner, at least as long) reaches the position."""
        for owner, slot in enumerate(self.slots):
            if prefix[owner] < slot:
                return owner
        return None


# What a request may wait for (`"after"`): one instance, or a position.
After = InstanceId | Position


def _position_of(instance_id: InstanceId) -> Position:
    slots = [0] * (instance_id.owner + 1)
    slots[instance_id.owner] = instance_id.slot
    return Position(tuple(slots))


def instance_token(instance_id: InstanceId) -> str:
    return f"epx1:{instance_id.owner}:{instance_id.slot}"


def position_token(position: Position) -> str:
    if not position:
        raise ValueError("an empty position has no token")
    return f"epx2:{position}"


def parse_token(token: str, replica_count: int | None = None) -> InstanceId | Position:
    """The instance or position `token` names; `BadToken` if it is neither, or (with
    `replica_count`) names an owner this cluster does not have."""
    match = _INSTANCE.fullmatch(token)
    if match is not None:
        owner, slot = int(match[1]), int(match[2])
        if slot < 1:
            raise BadToken(f"{token!r} names slot 0; slots start at 1")
        _check_owner(token, owner, replica_count)
        return InstanceId(owner, slot)
    match = _POSITION.fullmatch(token)
    if match is None:
        raise BadToken(f"{token[:80]!r} is not a commit token (epx1:...) or position (epx2:...)")
    pairs = [tuple(map(int, pair.split(":"))) for pair in match[1].split(",")]
    owners = [owner for owner, _ in pairs]
    if any(later <= earlier for earlier, later in itertools.pairwise(owners)):
        raise BadToken(f"{token!r}: owners must be listed once each, in ascending order")
    if any(slot < 1 for _, slot in pairs):
        raise BadToken(f"{token!r}: slots start at 1 (leave an owner out for none)")
    _check_owner(token, owners[-1], replica_count)
    slots = [0] * (owners[-1] + 1)
    for owner, slot in pairs:
        slots[owner] = slot
    return Position(tuple(slots))


def _check_owner(token: str, owner: int, replica_count: int | None) -> None:
    if replica_count is not None and owner >= replica_count:
        raise BadToken(
            f"{token!r} names replica {owner}, which this {replica_count}-replica cluster "
            "does not have"
        )
