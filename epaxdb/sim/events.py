"""The simulator's clock and agenda: a heap of events ordered by (time, sequence).

Theory of operation. Time is virtual, in milliseconds, and only moves when an event
is taken from the heap. Ties are broken by insertion order (the sequence number), so
two events at the same instant always run in the order they were scheduled and a run
is a pure function of its seed. An event is an action and one argument; stale events
(for a replica that crashed since) are recognised by the actions themselves, which
compare an incarnation number, rather than removed from the heap.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

Action = Callable[[Any], None]


class EventQueue:
    __slots__ = ("_heap", "_sequence", "now")

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Action, Any]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, time_ms: float, action: Action, argument: Any = None) -> None:
        time_ms = max(time_ms, self.now)  # never schedule into the past
        heapq.heappush(self._heap, (time_ms, self._sequence, action, argument))
        self._sequence += 1

    def after(self, delay_ms: float, action: Action, argument: Any = None) -> None:
        self.at(self.now + delay_ms, action, argument)

    def run_until(self, deadline_ms: float, stop: Callable[[], bool] | None = None) -> bool:
        """Run every event due at or before `deadline_ms`, then move the clock there.
        With `stop`, return True as soon as it holds after an event (the clock stays at
        that event's time); return False when the deadline is reached."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= deadline_ms:
            time_ms, _, action, argument = pop(heap)
            self.now = time_ms
            action(argument)
            if stop is not None and stop():
                return True
        self.now = max(self.now, deadline_ms)
        return False
