"""The Multi-Paxos baseline mode: one stable leader orders everything, others forward."""

from __future__ import annotations

import pytest

from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError
from epaxdb.ids import InstanceId
from epaxdb.messages import Accept, Forward, PreAccept
from tests.core.cluster import ScriptedCluster, write


def multipaxos(size: int = 3, leader: int = 0) -> ScriptedCluster:
    return ScriptedCluster(ClusterConfig.for_size(size, leader=leader))


def forward(cluster: ScriptedCluster, follower: int, name: str, key: str) -> None:
    """A client command at a follower (which forwards it: no instance of its own)."""
    cluster.replicas[follower].propose(write(name, key))
    cluster.flush(follower)


def test_a_follower_forwards_its_commands_and_the_leader_orders_them_in_a_chain() -> None:
    cluster = multipaxos(leader=0)
    forward(cluster, 1, "a", "x")
    assert [type(e.message) for e in cluster.pending] == [Forward]
    cluster.run()
    forward(cluster, 2, "b", "y")  # no conflict with a: chained all the same
    cluster.run()
    first, second = InstanceId(0, 1), InstanceId(0, 2)
    assert cluster.committed_value(first)[1].ids == frozenset()
    assert cluster.committed_value(second)[1].ids == frozenset({first})
    for replica_id in range(3):
        assert cluster.executed_requests(replica_id) == ["a", "b"]
    assert cluster.replicas[0].stats.slow_commits == 2
    assert cluster.replicas[0].stats.fast_commits == 0


def test_the_leader_skips_phase_one_and_never_pre_accepts() -> None:
    cluster = multipaxos(size=5, leader=3)
    cluster.propose(3, write("a", "x"))
    assert {type(e.message) for e in cluster.pending} == {Accept}
    cluster.run()
    assert not any(isinstance(e.message, PreAccept) for e in cluster.pending)
    assert all(cluster.executed_requests(r) == ["a"] for r in range(5))


def test_nothing_commits_while_the_leader_is_down() -> None:
    cluster = multipaxos(leader=0)
    cluster.crash(0)
    forward(cluster, 1, "a", "x")
    cluster.settle(rounds=10)
    assert cluster.executed_requests(1) == [] and cluster.executed_requests(2) == []


def test_a_restarted_leader_continues_the_chain_after_its_last_slot() -> None:
    cluster = multipaxos(leader=0)
    cluster.propose(0, write("a", "x"))
    cluster.run()
    cluster.crash(0)
    cluster.restart(0)
    cluster.propose(0, write("b", "x"))
    cluster.run()
    assert cluster.committed_value(InstanceId(0, 2))[1].ids == frozenset({InstanceId(0, 1)})
    assert all(cluster.executed_requests(r) == ["a", "b"] for r in range(3))


def test_the_leader_must_be_a_member() -> None:
    with pytest.raises(ConfigError):
        ClusterConfig.for_size(3, leader=3)
