"""The simulated network: loss, duplication, delays, partitions."""

from __future__ import annotations

import random
from dataclasses import replace

from epaxdb.sim.faults import FaultPlan, draw_plan
from epaxdb.sim.network import Network


def plan(**changes: float) -> FaultPlan:
    return replace(draw_plan("none", 5, random.Random(0)), **changes)


def test_without_faults_every_message_arrives_once_after_at_least_the_minimum_delay() -> None:
    network = Network(5, plan(delay_ms_min=1.0, delay_ms_mean=2.0), random.Random(1))
    fates = [network.fates(0, 1) for _ in range(200)]
    assert all(len(f) == 1 and f[0] >= 1.0 for f in fates)
    assert len({f[0] for f in fates}) > 100  # random delays: reordering comes for free


def test_certain_loss_drops_everything_and_certain_duplication_doubles_everything() -> None:
    assert Network(3, plan(loss=1.0), random.Random(1)).fates(0, 1) == []
    assert len(Network(3, plan(duplication=1.0), random.Random(1)).fates(0, 1)) == 2


def test_the_same_seed_gives_the_same_fates() -> None:
    def draw(seed: int) -> list[list[float]]:
        network = Network(3, plan(loss=0.3, duplication=0.3), random.Random(seed))
        return [network.fates(0, 1) for _ in range(50)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_a_symmetric_partition_cuts_both_directions_until_healed() -> None:
    network = Network(5, plan(), random.Random(1))
    network.partition(random.Random(3), asymmetric_share=0.0)
    part = {0} | {b for b in range(5) if network.link_up(0, b)}
    rest = set(range(5)) - part
    assert part and rest
    for a in part:
        for b in rest:
            assert network.fates(a, b) == [] and network.fates(b, a) == []
            assert not network.link_up(a, b) and not network.link_up(b, a)
    for a in part:
        for b in part - {a}:
            assert network.link_up(a, b)
    network.heal()
    assert all(network.link_up(a, b) for a in range(5) for b in range(5))


def test_an_asymmetric_partition_cuts_one_direction_only() -> None:
    network = Network(5, plan(), random.Random(1))
    network.partition(random.Random(3), asymmetric_share=1.0)
    senders = {a for a, _ in network.cut}
    receivers = {b for _, b in network.cut}
    assert senders.isdisjoint(receivers)
    a, b = next(iter(network.cut))
    assert not network.link_up(a, b) and network.link_up(b, a)


def test_a_clog_delays_the_clogged_links_only_until_it_is_cleared() -> None:
    network = Network(3, plan(delay_ms_min=1.0, delay_ms_mean=1.0), random.Random(1))
    network.clog(random.Random(2), extra_ms=500.0)
    (clogged, *_) = network.clogged
    free = next(
        (a, b) for a in range(3) for b in range(3) if a != b and (a, b) not in network.clogged
    )
    assert network.fates(*clogged)[0] >= 500.0
    assert network.fates(*free)[0] < 500.0
    network.unclog()
    assert network.fates(*clogged)[0] < 500.0
