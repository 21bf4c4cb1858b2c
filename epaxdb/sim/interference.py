"""Which earlier entries interfere with a new one, without comparing every pair.

Entries (requests, instances) are indexed by the conflict keys of their footprints;
a new footprint is compared with `Footprint.conflicts` (the project's own relation)
only against entries sharing a key with it, or covering its group, or global.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from epaxdb.command import Footprint

K = TypeVar("K", bound=Hashable)


class InterferenceIndex(Generic[K]):
    def __init__(self) -> None:
        self.footprints: dict[K, Footprint] = {}
        self._by_item: dict[tuple[str, str], list[K]] = {}
        self._by_group: dict[str, list[K]] = {}
        self._group_wide: dict[str, list[K]] = {}
        self._globals: list[K] = []

    def add(self, key: K, footprint: Footprint) -> list[K]:
        """Index `key`; returns the keys already indexed that interfere with it."""
        footprints = self.footprints
        found = [
            other for other in self._candidates(footprint) if footprints[other].conflicts(footprint)
        ]
        footprints[key] = footprint
        if footprint.is_global:
            self._globals.append(key)
        for group, items in (*footprint.read_groups.items(), *footprint.write_groups.items()):
            self._by_group.setdefault(group, []).append(key)
            if None in items:
                self._group_wide.setdefault(group, []).append(key)
            for item in items:
                if item is not None:
                    self._by_item.setdefault((group, item), []).append(key)
        return found

    def _candidates(self, footprint: Footprint) -> set[K]:
        if footprint.is_global:
            return set(self.footprints)
        found = set(self._globals)
        for group, items in (*footprint.read_groups.items(), *footprint.write_groups.items()):
            if None in items:
                found.update(self._by_group.get(group, ()))
                continue
            found.update(self._group_wide.get(group, ()))
            for item in items:
                found.update(self._by_item.get((group, item), ()))  # type: ignore[arg-type]
        return found
