"""Thrifty mode: vote requests go first to the best-ranked quorum, then to everyone."""

from __future__ import annotations

import dataclasses

import pytest

from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError
from epaxdb.messages import Accept, PreAccept, PreAcceptOk
from tests.core.cluster import ScriptedCluster, msg, write


def thrifty(size: int, **settings: float) -> ScriptedCluster:
    return ScriptedCluster(ClusterConfig.for_size(size, thrifty=True, **settings))


def recipients(cluster: ScriptedCluster, message_type: type) -> list[int]:
    return sorted(e.to for e in cluster.pending if isinstance(e.message, message_type))


@pytest.mark.parametrize("size", [3, 5, 7])
def test_a_thrifty_owner_asks_only_a_fast_quorum_and_still_commits_fast(size: int) -> None:
    cluster = thrifty(size)
    instance = cluster.propose(0, write("a", "x"))
    fast_quorum = cluster.config.fast_quorum
    assert recipients(cluster, PreAccept) == list(range(1, fast_quorum))
    cluster.run()
    assert cluster.committed_value(instance) is not None
    assert cluster.replicas[0].stats.fast_commits == 1
    assert all(cluster.executed[r] == [instance] for r in range(size))


def test_the_owner_asks_the_peers_in_the_order_the_driver_ranked_them() -> None:
    cluster = thrifty(5)
    cluster.replicas[0].set_peer_order([4, 2, 1, 3])
    cluster.propose(0, write("a", "x"))
    assert recipients(cluster, PreAccept) == [2, 4]  # fast quorum 3: the owner + 2


def test_a_silent_peer_makes_the_owner_widen_to_every_peer() -> None:
    cluster = thrifty(5, thrifty_widen_ms=10.0, retransmit_ms=50.0)
    instance = cluster.propose(0, write("a", "x"))
    cluster.drop(msg(PreAccept, to=2))  # ranked second, but it never answers
    cluster.deliver(msg(PreAccept, to=1))
    cluster.deliver(msg(PreAcceptOk, to=0))
    assert cluster.committed_value(instance) is None
    cluster.tick(25.0, replicas=[0])  # past the widening timer, before retransmission
    assert recipients(cluster, PreAccept) == [2, 3, 4]
    cluster.run()
    assert cluster.replicas[0].stats.fast_commits == 1


def test_a_peer_that_stayed_silent_is_asked_last_until_it_is_heard_from() -> None:
    """A driver's round-trip ranking learns nothing from a peer that is down; asking it
    first made every instance wait out the widening timer (simulation, seed 1087)."""
    cluster = thrifty(5, thrifty_widen_ms=10.0, retransmit_ms=50.0)
    cluster.crash(2)  # ranked second
    first = cluster.propose(0, write("a", "x"))
    cluster.run()
    cluster.tick(25.0, replicas=[0])  # widens to 3 and 4
    cluster.run()
    assert cluster.committed_value(first) is not None
    cluster.drop(lambda e: e.to == 2)  # lost: replica 2 is down
    cluster.propose(0, write("b", "y"))
    assert recipients(cluster, PreAccept) == [1, 3]  # the silent peer is ranked last
    cluster.run()
    cluster.restart(2)
    cluster.propose(2, write("c", "z"))
    cluster.run()  # replica 0 hears from replica 2 again
    cluster.propose(0, write("d", "w"))
    assert recipients(cluster, PreAccept) == [1, 2]


def test_a_conflict_among_the_asked_goes_to_the_slow_path_with_a_thrifty_accept() -> None:
    cluster = thrifty(5)
    earlier = cluster.propose(1, write("b", "x"))
    cluster.drop(msg(PreAccept, sender=1))
    cluster.propose(0, write("a", "x"))
    # Replica 1 knows b; the owner does not: the fast path is impossible among the asked.
    cluster.deliver(msg(PreAccept, sender=0))
    cluster.deliver(msg(PreAcceptOk, to=0))
    assert recipients(cluster, Accept) == [1, 2]  # slow quorum 3: the owner + 2
    cluster.settle(rounds=10)
    later = cluster.replicas[0].last_proposed
    assert later is not None
    _, deps = cluster.committed_value(later)
    assert earlier in deps.ids
    assert cluster.replicas[0].stats.slow_commits == 1
    cluster.check_execution_order()


def test_a_peer_order_must_rank_exactly_the_peers() -> None:
    cluster = thrifty(3)
    with pytest.raises(ConfigError):
        cluster.replicas[0].set_peer_order([1, 1])
    with pytest.raises(ConfigError):
        cluster.replicas[0].set_peer_order([0, 1])


def test_thrifty_mode_needs_a_positive_widening_timer() -> None:
    config = ClusterConfig.for_size(3, thrifty=True)
    with pytest.raises(ConfigError):
        dataclasses.replace(config, thrifty_widen_ms=0.0).validate()


def test_a_recovery_asks_every_peer_even_in_thrifty_mode() -> None:
    cluster = thrifty(5)
    instance = cluster.propose(0, write("a", "x"))
    cluster.deliver(msg(PreAccept, to=1))
    cluster.drop(lambda e: True)
    cluster.crash(0)
    cluster.recover(1, instance)
    for _ in range(10):  # Recover, RecoverOk, maybe Validate: up to the Accept
        if recipients(cluster, Accept):
            break
        cluster.deliver(lambda e: not isinstance(e.message, Accept))
    # The recovery's Accept goes to all peers, not the 2 best-ranked.
    assert recipients(cluster, Accept) == [0, 2, 3, 4]


def test_the_driver_may_stretch_the_widening_timer_to_the_measured_round_trips() -> None:
    cluster = thrifty(5, thrifty_widen_ms=10.0, retransmit_ms=500.0)
    cluster.replicas[0].set_peer_order([1, 2, 3, 4], widen_ms=80.0)
    cluster.propose(0, write("a", "x"))
    cluster.drop(msg(PreAccept))
    cluster.tick(40.0, replicas=[0])  # past the configured 10 ms, within the driver's 80
    assert recipients(cluster, PreAccept) == []
    cluster.tick(200.0, replicas=[0])
    assert recipients(cluster, PreAccept) == [1, 2, 3, 4]
