"""The positions clients wait for this replica to reach (`"after"` with a position
token), filed so that an advance of the executed prefix looks only at the positions
it may release.

A position is reached once, for every owner, the prefix this replica's state reflects
is at or above the position's slot. Each awaited position is filed under one owner it
is still behind, sorted by its slot there; when that owner's prefix passes the slot,
the position moves to the next owner it is behind, or is released. A position moves
at most once per owner, and an advance that releases nothing costs one binary search
per owner: no waiter is looked at again until the prefix it waits on has moved.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from operator import itemgetter

from epaxdb.tokens import Position

_SLOT = itemgetter(0)


class AwaitedPositions:
    def __init__(self, replica_count: int) -> None:
        # Per owner: (slot of the position there, position), sorted.
        self._filed: list[list[tuple[int, Position]]] = [[] for _ in range(replica_count)]
        self._owner: dict[Position, int] = {}

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, position: object) -> bool:
        return position in self._owner

    def add(self, position: Position, prefix: Sequence[int]) -> bool:
        """File `position` (once); False, filing nothing, if `prefix` reaches it."""
        if position in self._owner:
            return True
        behind = position.first_behind(prefix)
        if behind is None:
            return False
        self._file(position, behind)
        return True

    def remove(self, position: Position) -> None:
        """Forget `position` (nobody waits for it any more); nothing if not filed."""
        owner = self._owner.pop(position, None)
        if owner is None:
            return
        filed = self._filed[owner]
        entry = (position.slot(owner), position)
        index = bisect.bisect_left(filed, entry)
        if index < len(filed) and filed[index] == entry:
            del filed[index]

    def release(self, prefix: Sequence[int]) -> list[Position]:
        """The filed positions `prefix` reaches, no longer filed; the others stay."""
        reached: list[Position] = []
        for owner, slot in enumerate(prefix):
            filed = self._filed[owner]
            end = bisect.bisect_right(filed, slot, key=_SLOT)
            if end == 0:
                continue
            passed = filed[:end]
            del filed[:end]
            for _, position in passed:
                behind = position.first_behind(prefix)
                if behind is None:
                    del self._owner[position]
                    reached.append(position)
                else:
                    self._file(position, behind)
        return reached

    def clear(self) -> None:
        self._owner.clear()
        for filed in self._filed:
            filed.clear()

    def _file(self, position: Position, owner: int) -> None:
        self._owner[position] = owner
        bisect.insort(self._filed[owner], (position.slot(owner), position))
