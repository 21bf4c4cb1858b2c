"""The event queue: virtual time, deterministic order of simultaneous events."""

from __future__ import annotations

from epaxdb.sim.events import EventQueue


def test_events_run_in_time_order_and_simultaneous_ones_in_scheduling_order() -> None:
    queue = EventQueue()
    seen: list[tuple[float, str]] = []
    for time_ms, name in [(5.0, "late"), (1.0, "a"), (1.0, "b"), (3.0, "middle"), (1.0, "c")]:
        queue.at(time_ms, lambda n: seen.append((queue.now, n)), name)
    queue.run_until(10.0)
    assert seen == [(1.0, "a"), (1.0, "b"), (1.0, "c"), (3.0, "middle"), (5.0, "late")]
    assert queue.now == 10.0


def test_run_until_leaves_later_events_and_stops_when_asked() -> None:
    queue = EventQueue()
    seen: list[str] = []
    queue.at(1.0, seen.append, "one")
    queue.at(2.0, seen.append, "two")
    queue.at(30.0, seen.append, "later")
    assert queue.run_until(20.0, stop=lambda: len(seen) == 1) is True
    assert seen == ["one"] and queue.now == 1.0
    assert queue.run_until(20.0) is False
    assert seen == ["one", "two"] and queue.now == 20.0 and len(queue) == 1


def test_an_event_scheduled_in_the_past_runs_now() -> None:
    queue = EventQueue()
    queue.run_until(10.0)
    queue.at(3.0, lambda _: None)
    queue.run_until(10.0)
    assert queue.now == 10.0 and len(queue) == 0
