"""Commit tokens as text: instance tokens, position tokens, folding, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epaxdb.ids import InstanceId
from epaxdb.tokens import (
    BadToken,
    Position,
    instance_token,
    parse_token,
    position_token,
)


def test_an_instance_token_names_one_instance() -> None:
    assert instance_token(InstanceId(2, 17)) == "epx1:2:17"
    assert parse_token("epx1:2:17", replica_count=3) == InstanceId(2, 17)


def test_a_position_token_lists_owners_in_order_and_leaves_zeros_out() -> None:
    position = Position((5, 0, 7))
    assert position_token(position) == "epx2:0:5,2:7"
    assert parse_token("epx2:0:5,2:7", replica_count=3) == position
    assert parse_token("epx2:1:3") == Position((0, 3))


def test_positions_are_canonical_without_trailing_zeros() -> None:
    assert Position((4, 0, 0)) == Position((4,))
    assert not Position((0, 0)) and Position((0, 1))
    with pytest.raises(ValueError, match="empty position"):
        position_token(Position())


def test_folding_keeps_the_highest_slot_per_owner() -> None:
    position = Position().including(InstanceId(0, 3)).including(InstanceId(2, 1))
    assert position == Position((3, 0, 1))
    assert position.including(InstanceId(0, 2)) == position
    assert position.including(Position((1, 4))) == Position((3, 4, 1))


def test_first_behind_names_the_first_owner_a_prefix_has_not_reached() -> None:
    position = Position((3, 0, 5))
    assert position.first_behind((2, 9, 9)) == 0
    assert position.first_behind((3, 0, 4)) == 2
    assert position.first_behind((3, 0, 5)) is None


@pytest.mark.parametrize(
    ("token", "replica_count", "why"),
    [
        ("epx1:0", 3, "not a commit token"),
        ("epx1:0:0", 3, "slot 0"),
        ("epx1:3:1", 3, "replica 3"),
        ("epx1:٣:1", 3, "not a commit token"),  # a digit, but not an ASCII one
        ("epx2:", 3, "not a commit token"),
        ("epx2:0:1,", 3, "not a commit token"),
        ("epx2:2:1,0:1", 3, "ascending"),
        ("epx2:0:1,0:2", 3, "ascending"),
        ("epx2:0:0", 3, "slots start at 1"),
        ("epx2:0:1,5:1", 3, "replica 5"),
        ("EPX1:0:1", 3, "not a commit token"),
        (" epx1:0:1", 3, "not a commit token"),
    ],
)
def test_malformed_tokens_are_refused(token: str, replica_count: int, why: str) -> None:
    with pytest.raises(BadToken, match=why):
        parse_token(token, replica_count)


@given(st.lists(st.integers(0, 10**12), max_size=7))
def test_every_position_survives_its_token(slots: list[int]) -> None:
    position = Position(tuple(slots))
    if position:
        assert parse_token(position_token(position), replica_count=7) == position
