"""Which known instances may conflict with a footprint: the source of dependencies.

Theory of operation: every instance is indexed under the keys of the batch it was
first seen with (its initial command; recovery only ever decides that command or NOP,
so the index never needs other keys). A lookup returns *candidates*; the caller then
tests each candidate's current command, because an instance whose current value is
an uncommitted NOP must conflict with everything (the NOP may still be replaced by the
real command, EPaxos* TLA `Conflicts`). Global instances are candidates for every
lookup, and a global lookup returns every indexed instance.

Items are per group: a whole-group key `(g, None)` meets every key of group g.
"""

from __future__ import annotations

from epaxdb.command import Footprint
from epaxdb.ids import InstanceId

_NONE: frozenset[InstanceId] = frozenset()


class _Group:
    __slots__ = ("all_items", "item_readers", "item_writers", "whole_readers", "whole_writers")

    def __init__(self) -> None:
        self.whole_readers: set[InstanceId] = set()
        self.whole_writers: set[InstanceId] = set()
        self.item_readers: dict[str, set[InstanceId]] = {}
        self.item_writers: dict[str, set[InstanceId]] = {}
        # Every instance reading or writing some item of the group, by access kind.
        self.all_items: tuple[set[InstanceId], set[InstanceId]] = (set(), set())

    def is_empty(self) -> bool:
        return not (
            self.whole_readers or self.whole_writers or self.all_items[0] or self.all_items[1]
        )


class ConflictIndex:
    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}
        self._globals: set[InstanceId] = set()
        self._all: dict[InstanceId, Footprint] = {}

    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, instance_id: InstanceId) -> bool:
        return instance_id in self._all

    def add(self, instance_id: InstanceId, footprint: Footprint) -> None:
        """Index `instance_id` under `footprint` too (keys accumulate, never shrink)."""
        known = self._all.get(instance_id)
        if known is not None:
            if known is footprint or known == footprint:
                return
            self.remove(instance_id)
            footprint = known.union(footprint)
        self._all[instance_id] = footprint
        if footprint.is_global:
            self._globals.add(instance_id)
        for group, items in footprint.read_groups.items():
            entry = self._group(group)
            for item in items:
                if item is None:
                    entry.whole_readers.add(instance_id)
                else:
                    entry.item_readers.setdefault(item, set()).add(instance_id)
                    entry.all_items[0].add(instance_id)
        for group, items in footprint.write_groups.items():
            entry = self._group(group)
            for item in items:
                if item is None:
                    entry.whole_writers.add(instance_id)
                else:
                    entry.item_writers.setdefault(item, set()).add(instance_id)
                    entry.all_items[1].add(instance_id)

    def remove(self, instance_id: InstanceId) -> None:
        footprint = self._all.pop(instance_id, None)
        if footprint is None:
            return
        self._globals.discard(instance_id)
        for groups, kind in ((footprint.read_groups, 0), (footprint.write_groups, 1)):
            for group, items in groups.items():
                entry = self._groups[group]
                whole = entry.whole_readers if kind == 0 else entry.whole_writers
                by_item = entry.item_readers if kind == 0 else entry.item_writers
                for item in items:
                    if item is None:
                        whole.discard(instance_id)
                    else:
                        members = by_item[item]
                        members.discard(instance_id)
                        if not members:
                            del by_item[item]
                        entry.all_items[kind].discard(instance_id)
                if entry.is_empty():
                    del self._groups[group]

    def candidates(self, footprint: Footprint) -> set[InstanceId]:
        """Every indexed instance whose initial command may conflict with `footprint`."""
        if footprint.is_global:
            return set(self._all)
        found = set(self._globals)
        for group, items in footprint.write_groups.items():
            entry = self._groups.get(group)
            if entry is None:
                continue
            found |= entry.whole_readers
            found |= entry.whole_writers
            if None in items:
                found |= entry.all_items[0]
                found |= entry.all_items[1]
                continue
            for item in items:
                found |= entry.item_readers.get(item, _NONE)
                found |= entry.item_writers.get(item, _NONE)
        for group, items in footprint.read_groups.items():
            entry = self._groups.get(group)
            if entry is None:
                continue
            found |= entry.whole_writers
            if None in items:
                found |= entry.all_items[1]
                continue
            for item in items:
                found |= entry.item_writers.get(item, _NONE)
        return found

    def _group(self, group: str) -> _Group:
        entry = self._groups.get(group)
        if entry is None:
            entry = self._groups[group] = _Group()
        return entry
