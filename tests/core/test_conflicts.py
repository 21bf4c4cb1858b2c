"""Interference of commands and the conflict index that finds dependencies."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from epaxdb.command import NOP, Command, Footprint, conflicts
from epaxdb.conflict_index import ConflictIndex
from epaxdb.ids import InstanceId


def command(reads=(), writes=(), is_global=False, name="c") -> Command:
    return Command(name, b"", frozenset(reads), frozenset(writes), is_global)


def test_reads_of_the_same_key_do_not_interfere() -> None:
    assert not conflicts((command(reads=[("t", "1")]),), (command(reads=[("t", "1")]),))


def test_a_write_interferes_with_a_read_or_write_of_the_same_key() -> None:
    write = (command(writes=[("t", "1")]),)
    assert conflicts(write, (command(reads=[("t", "1")]),))
    assert conflicts(write, (command(writes=[("t", "1")]),))
    assert conflicts((command(reads=[("t", "1")]),), write)


def test_different_keys_and_groups_do_not_interfere() -> None:
    write = (command(writes=[("t", "1")]),)
    assert not conflicts(write, (command(writes=[("t", "2")]),))
    assert not conflicts(write, (command(writes=[("u", "1")]),))


def test_a_whole_group_key_covers_every_item_of_its_group() -> None:
    assert conflicts((command(writes=[("t", None)]),), (command(reads=[("t", "9")]),))
    assert conflicts((command(reads=[("t", None)]),), (command(writes=[("t", "9")]),))
    assert not conflicts((command(reads=[("t", None)]),), (command(reads=[("t", "9")]),))


def test_a_global_command_interferes_with_everything_even_reads() -> None:
    assert conflicts((command(is_global=True),), (command(reads=[("t", "1")]),))
    assert conflicts((command(reads=[("t", "1")]),), (command(is_global=True),))


def test_a_batch_interferes_through_any_member() -> None:
    batch = (command(writes=[("t", "1")]), command(writes=[("u", "2")]))
    assert conflicts(batch, (command(reads=[("u", "2")]),))
    assert Footprint.of(batch).writes == {("t", "1"), ("u", "2")}


def test_nop_has_no_keys_but_a_global_command_still_interferes_with_it() -> None:
    assert Footprint.of(NOP).is_nop
    assert conflicts(NOP, (command(is_global=True),))
    assert not conflicts(NOP, (command(writes=[("t", "1")]),))


keys = st.tuples(st.sampled_from(["t", "u"]), st.one_of(st.none(), st.sampled_from("123")))
footprints = st.builds(
    lambda reads, writes, is_global: Footprint.of((command(reads, writes, is_global),)),
    st.lists(keys, max_size=3),
    st.lists(keys, max_size=3),
    st.sampled_from([False, False, False, False, True]),
)


@settings(max_examples=300)
@given(st.lists(footprints, min_size=1, max_size=12), footprints)
def test_index_candidates_include_every_conflicting_instance(existing, probe) -> None:
    index = ConflictIndex()
    for slot, footprint in enumerate(existing, start=1):
        index.add(InstanceId(0, slot), footprint)
    candidates = index.candidates(probe)
    for slot, footprint in enumerate(existing, start=1):
        if footprint.conflicts(probe):
            assert InstanceId(0, slot) in candidates


@settings(max_examples=100)
@given(st.lists(footprints, min_size=1, max_size=12))
def test_index_forgets_removed_instances_completely(existing) -> None:
    index = ConflictIndex()
    for slot, footprint in enumerate(existing, start=1):
        index.add(InstanceId(0, slot), footprint)
    for slot in range(1, len(existing) + 1):
        index.remove(InstanceId(0, slot))
    assert len(index) == 0
    assert index.candidates(Footprint.of((command(is_global=True),))) == set()
    assert index._groups == {}  # no empty per-group structures linger


def test_index_accumulates_keys_when_an_instance_is_seen_with_another_value() -> None:
    index = ConflictIndex()
    instance = InstanceId(1, 1)
    index.add(instance, Footprint.of((command(writes=[("t", "1")]),)))
    index.add(instance, Footprint.of((command(writes=[("u", "1")]),)))
    assert instance in index.candidates(Footprint.of((command(reads=[("t", "1")]),)))
    assert instance in index.candidates(Footprint.of((command(reads=[("u", "1")]),)))
