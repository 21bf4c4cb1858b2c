"""Scripted execution scenario T18 of the EPaxos* brief (§5.1, §7).

Replica ids are 0-based: the brief's p1 is replica 0."""

from __future__ import annotations

from epaxdb.config import ClusterConfig
from epaxdb.messages import PreAccept, PreAcceptOk, Recover
from tests.core.cluster import ScriptedCluster, deps, msg, write

A = write("a", "x")
B = write("b", "x")
D = write("d", "y")
N = write("n", "y")


def kv_state(cluster: ScriptedCluster, replica_id: int) -> dict[str, str]:
    """Each key's last writer after applying the replica's executions in order: a
    stand-in for the SQLite state hash of the real runtime."""
    state: dict[str, str] = {}
    for _, batch in cluster.executions[replica_id]:
        for command in batch:
            for _, key in command.writes:
                state[str(key)] = command.request_id
    return state


def test_t18_cycle_runs_in_id_order_and_a_nop_blocks_until_committed() -> None:
    """T18 (§5.1, §7), (3,1,1): a and b commit on slow paths with each other in their
    deps (a cycle) and run in instance-id order everywhere; d depends on n, which is
    recovered as NOP: d runs only once the NOP is committed, the NOP itself is never
    applied, n's request runs once under a new id, and all replicas end in the same
    state."""
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    a = cluster.propose(0, A)
    b = cluster.propose(1, B)
    cluster.deliver(msg(PreAccept, to=1, instance=a))
    cluster.deliver(msg(PreAccept, to=0, instance=b))
    cluster.deliver(msg(PreAccept, to=2))
    cluster.drop(msg(PreAcceptOk, sender=2))
    cluster.deliver(msg(PreAcceptOk))
    cluster.expire_fast_wait(0)
    cluster.expire_fast_wait(1)
    cluster.run()
    assert cluster.committed_value(a) == ((A,), deps(3, b))
    assert cluster.committed_value(b) == ((B,), deps(3, a))
    assert all(cluster.executed[r] == [a, b] for r in range(3))

    n = cluster.propose(2, N)
    cluster.deliver(msg(PreAccept, to=1, instance=n))
    cluster.drop(lambda e: getattr(e.message, "instance_id", None) == n)
    d = cluster.propose(1, D)
    cluster.run()
    assert cluster.committed_value(d) == ((D,), deps(3, n))
    assert all(d not in cluster.executed[r] for r in range(3))

    cluster.recover(0, n)
    cluster.deliver(msg(Recover, to=2))  # Q = {p1, p3}: n's owner is in Q -> NOP
    cluster.drop(msg(Recover))
    cluster.run()
    assert cluster.committed_value(n) == ((), deps(3))
    n_again = cluster.replicas[2].last_proposed  # the owner proposed n's request again
    assert n_again is not None and n_again != n
    assert all(cluster.executed[r] == [a, b, d, n_again] for r in range(3))
    assert all(cluster.executed_requests(r) == ["a", "b", "d", "n"] for r in range(3))
    assert kv_state(cluster, 0) == kv_state(cluster, 1) == kv_state(cluster, 2)
