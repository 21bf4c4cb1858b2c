"""Garbage collection meets recovery: what a validator has forgotten it cannot report.

docs/architecture.md ("Garbage collection and recovery") argues why this is safe; this
scenario pins the case down: a recovery validates the owner's (c, D0) at replicas that
already dropped an interfering instance every replica executed."""

from __future__ import annotations

from epaxdb.config import ClusterConfig
from epaxdb.messages import Commit, Gossip, PreAccept, PreAcceptOk, Recover
from tests.core.cluster import ScriptedCluster, msg, write


def gossip_until_collected(cluster: ScriptedCluster, rounds: int = 3) -> None:
    """Let every replica gossip, delivering gossip only (retransmissions are dropped)."""
    for _ in range(rounds):
        cluster.tick(1000)
        cluster.deliver(msg(Gossip))
        cluster.drop(lambda e: True)


def test_a_recovery_may_commit_past_an_interfering_instance_that_ran_everywhere() -> None:
    # No recovery timer fires on its own here: the test starts the one it wants.
    cluster = ScriptedCluster(ClusterConfig.for_size(5, recovery_timeout_ms=1e9))
    a = cluster.propose(0, write("a", "x"))
    cluster.deliver(msg(PreAccept, to=2))  # only replica 2 pre-accepts a, with D0 = {}
    cluster.drop(lambda e: True)
    b = cluster.propose(1, write("b", "x"))
    cluster.deliver(msg(PreAccept, to=3))
    cluster.deliver(msg(PreAccept, to=4))
    cluster.drop(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk))  # 3 and 4 never heard of a: fast commit, deps {}
    cluster.deliver(msg(Commit))
    assert cluster.committed_value(b)[1].ids == frozenset()
    assert all(b in cluster.executed[r] for r in range(5))
    gossip_until_collected(cluster)
    assert all(cluster.replicas[r].floor == (0, 1, 0, 0, 0) for r in range(5))

    cluster.crash(0)
    cluster.recover(3, a)
    cluster.drop(msg(Recover, to=1))  # the quorum is {2, 3, 4}; 2 holds a as proposed
    cluster.run()

    batch, deps = cluster.committed_value(a)
    assert [c.request_id for c in batch] == ["a"]
    assert not deps.covers(b)  # Validate found no invalidator: b was forgotten
    assert frozenset((a, b)) in cluster.visible_by_collection
    for replica_id in range(1, 5):
        assert cluster.executed_requests(replica_id) == ["b", "a"]
    cluster.check_visibility()
    cluster.check_execution_order()
