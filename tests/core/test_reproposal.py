"""A command whose instance recovery turned into a NOP is proposed again by its owner.

Regression for an agreement violation the simulator found (3 replicas, heavy faults,
seed 8085 at b82aff8): the new instance left the committed NOP out of its deps, was
fast-committed, and a recovery at replicas still holding the NOP as merely accepted
reported it as an invalidator; EPaxos*'s exact-threshold rule (Lemma 11) then chose
NOP for the fast-committed instance. Committed NOPs whose initial command conflicts
now count as dependencies (Instance.was_conflicting_nop)."""

from __future__ import annotations

from epaxdb.config import ClusterConfig
from epaxdb.ids import InstanceId
from epaxdb.messages import Accept, AcceptOk, Commit, PreAccept, PreAcceptOk, Recover, RecoverOk
from tests.core.cluster import ScriptedCluster, msg, write


def test_a_fast_committed_reproposal_survives_recovery_where_the_old_nop_is_only_accepted() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3, recovery_timeout_ms=1e9))
    first = cluster.propose(2, write("a", "x"))
    cluster.deliver(msg(PreAccept, to=0))  # 0 holds a as proposed in 2.1
    cluster.drop(lambda e: True)

    # Replica 1 recovers 2.1 with the owner in its quorum: NOP. Replica 0 only accepts it.
    cluster.recover(1, first)
    cluster.deliver(msg(Recover, to=2))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk, to=1))
    cluster.deliver(msg(Accept))
    cluster.deliver(msg(AcceptOk, to=1))
    assert cluster.committed_value(first)[0] == ()
    # The owner learns the NOP (replica 0 does not) and proposes a again, as 2.2.
    cluster.deliver(msg(Commit, to=2))
    cluster.drop(msg(Commit))
    again = InstanceId(2, 2)
    assert cluster.replicas[2].last_proposed == again
    # Replicas 2 and 1 commit it on the fast path.
    cluster.deliver(msg(PreAccept, to=1))
    cluster.drop(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk, to=2))
    batch, deps = cluster.committed_value(again)
    assert [c.request_id for c in batch] == ["a"]
    cluster.drop(lambda e: True)
    cluster.crash(2)

    # Replica 0 (which holds 2.1 as an accepted NOP) recovers 2.2 with replica 1.
    cluster.recover(0, again)
    cluster.run()
    assert cluster.committed_value(again) == (batch, deps)  # agreement (checked on commit too)
    assert first in deps.ids  # the NOP is a dependency: no recovery can report it
