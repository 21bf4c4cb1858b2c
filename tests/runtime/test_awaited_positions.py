"""Awaited positions: filed by the owner they wait on, released exactly when the
prefix reaches them, forgotten cleanly when nobody waits any more."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from epaxdb.runtime.awaited_positions import AwaitedPositions
from epaxdb.tokens import Position


def test_a_position_the_prefix_already_reaches_is_not_filed() -> None:
    awaited = AwaitedPositions(3)
    assert not awaited.add(Position((2, 0, 1)), (2, 5, 1))
    assert len(awaited) == 0


def test_a_position_is_released_only_once_every_owner_reaches_it() -> None:
    awaited = AwaitedPositions(3)
    position = Position((2, 0, 4))
    assert awaited.add(position, (0, 0, 0))
    assert awaited.release((2, 0, 3)) == []  # owner 0 passed; owner 2 still behind
    assert position in awaited
    assert awaited.release((2, 0, 4)) == [position]
    assert position not in awaited and awaited.release((9, 9, 9)) == []


def test_removed_positions_are_never_released() -> None:
    awaited = AwaitedPositions(2)
    kept, dropped = Position((1, 1)), Position((1, 2))
    awaited.add(kept, (0, 0))
    awaited.add(dropped, (0, 0))
    awaited.remove(dropped)
    awaited.remove(dropped)  # twice: nothing
    assert awaited.release((5, 5)) == [kept]


def test_clear_forgets_everything() -> None:
    awaited = AwaitedPositions(2)
    awaited.add(Position((1,)), (0, 0))
    awaited.clear()
    assert len(awaited) == 0 and awaited.release((1, 1)) == []


positions = st.lists(st.integers(0, 6), min_size=3, max_size=3).map(
    lambda slots: Position(tuple(slots))
)


@given(
    st.lists(positions, max_size=20, unique=True),
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=20),
)
def test_release_matches_checking_every_position_against_the_prefix(
    waiting: list[Position], advances: list[tuple[int, int]]
) -> None:
    """Whatever the order in which the owners' prefixes advance, a position is released
    at the first advance that reaches it, and never before."""
    prefix = [0, 0, 0]
    awaited = AwaitedPositions(3)
    expected_waiting = {p for p in waiting if awaited.add(p, prefix)}
    assert expected_waiting == {p for p in waiting if p.first_behind(prefix) is not None}
    for owner, step in advances:
        prefix[owner] += step
        released = awaited.release(prefix)
        reached = {p for p in expected_waiting if p.first_behind(prefix) is None}
        assert sorted(released) == sorted(reached)
        expected_waiting -= reached
        assert len(awaited) == len(expected_waiting)
