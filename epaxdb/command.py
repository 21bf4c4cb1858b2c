"""Commands as the protocol sees them: opaque payloads with declared conflict keys.

The core knows nothing of SQL. A command declares what it reads and writes as
conflict keys `(group, item)`; `item is None` means the whole group and covers every
item of it. Two commands interfere iff one writes a key the other reads or writes
(covering included), or either is global. Reads never interfere with reads, which
lets read-only commands on the same keys commute.

An instance carries a *batch* of commands; its footprint is the union of theirs.
The empty batch is `NOP`: what recovery commits when it must abort an instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ConflictKey = tuple[str, "str | None"]


@dataclass(frozen=True, slots=True)
class Command:
    request_id: str
    payload: bytes
    reads: frozenset[ConflictKey] = frozenset()
    writes: frozenset[ConflictKey] = frozenset()
    is_global: bool = False
    # Derived on first use and kept: every replica tests interference many times.
    _footprint: Footprint | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def footprint(self) -> Footprint:
        footprint = self._footprint
        if footprint is None:
            footprint = Footprint(
                self.reads,
                self.writes,
                self.is_global,
                _by_group(self.reads),
                _by_group(self.writes),
            )
            object.__setattr__(self, "_footprint", footprint)
        return footprint


Batch = tuple[Command, ...]
NOP: Batch = ()


@dataclass(frozen=True, slots=True)
class Footprint:
    """The union of a batch's conflict keys, indexed by group for fast tests."""

    reads: frozenset[ConflictKey] = frozenset()
    writes: frozenset[ConflictKey] = frozenset()
    is_global: bool = False
    # group -> items (None = whole group); derived, so excluded from equality.
    read_groups: dict[str, frozenset[str | None]] = field(
        default_factory=dict, compare=False, repr=False
    )
    write_groups: dict[str, frozenset[str | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @staticmethod
    def of(batch: Batch) -> Footprint:
        if len(batch) == 1:
            return batch[0].footprint
        reads: set[ConflictKey] = set()
        writes: set[ConflictKey] = set()
        is_global = False
        for command in batch:
            if command.reads:
                reads.update(command.reads)
            if command.writes:
                writes.update(command.writes)
            is_global = is_global or command.is_global
        return Footprint(
            frozenset(reads),
            frozenset(writes),
            is_global,
            _by_group(reads),
            _by_group(writes),
        )

    def union(self, other: Footprint) -> Footprint:
        reads = set(self.reads | other.reads)
        writes = set(self.writes | other.writes)
        return Footprint(
            frozenset(reads),
            frozenset(writes),
            self.is_global or other.is_global,
            _by_group(reads),
            _by_group(writes),
        )

    @property
    def is_nop(self) -> bool:
        return not (self.reads or self.writes or self.is_global)

    def conflicts(self, other: Footprint) -> bool:
        if self.is_global or other.is_global:
            return True
        return (
            _overlap(self.write_groups, other.write_groups)
            or _overlap(self.write_groups, other.read_groups)
            or _overlap(self.read_groups, other.write_groups)
        )


def _by_group(
    keys: set[ConflictKey] | frozenset[ConflictKey],
) -> dict[str, frozenset[str | None]]:
    if not keys:
        return {}
    groups: dict[str, set[str | None]] = {}
    for group, item in keys:
        items = groups.get(group)
        if items is None:
            groups[group] = {item}
        else:
            items.add(item)
    return {group: frozenset(items) for group, items in groups.items()}


def _overlap(
    left: dict[str, frozenset[str | None]], right: dict[str, frozenset[str | None]]
) -> bool:
    if len(right) < len(left):
        left, right = right, left
    for group, items in left.items():
        other = right.get(group)
        if other is None:
            continue
        if None in items or None in other or not items.isdisjoint(other):
            return True
    return False


def conflicts(a: Batch, b: Batch) -> bool:
    """Whether two batches interfere (convenience for tests and checkers)."""
    return Footprint.of(a).conflicts(Footprint.of(b))
