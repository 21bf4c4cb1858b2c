"""Scripted EPaxos* scenarios around the owner's ballot-0 decision (brief §3, §7).

Replica ids are 0-based: the brief's p1 is replica 0. Every scenario runs on the real
core with a hand-written message schedule; the harness checks Agreement, Visibility
and execution consistency at every event, so a mutation that reintroduces a bug
fails at the first event that breaks one of them."""

from __future__ import annotations

import pytest

from epaxdb.config import ClusterConfig
from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import (
    Accept,
    AcceptOk,
    Commit,
    Phase,
    PreAccept,
    PreAcceptOk,
    Recover,
    RecoverOk,
)
from tests.core.cluster import ScriptedCluster, deps, msg, write

A = write("a", "x")
B = write("b", "x")
NOP = ()


def has_pending(cluster: ScriptedCluster, message_type: type) -> bool:
    return any(isinstance(e.message, message_type) for e in cluster.pending)


@pytest.mark.parametrize(("size", "crashed"), [(5, (3, 4)), (7, (5, 6))])
def test_t1_fast_path_commits_in_two_message_delays_with_e_replicas_down(
    size: int, crashed: tuple[int, ...]
) -> None:
    """T1 (§7, §3.3): with e replicas crashed, (5,2,2) and (7,3,2) still commit a
    conflict-free command at ballot 0 after PreAccept + PreAcceptOk, with no Accept."""
    cluster = ScriptedCluster(ClusterConfig.for_size(size))
    for replica_id in crashed:
        cluster.crash(replica_id)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk))
    record = cluster.record(0, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert record.accepted_ballot == Ballot(0, 0)
    assert cluster.committed_value(a) == ((A,), deps(size))
    assert not has_pending(cluster, Accept)


def test_t2_fast_tolerance_one_falls_back_to_the_slow_path_with_two_replicas_down() -> None:
    """T2 (§7): (5,2,1) needs 4 matching replies; with 2 replicas down the owner takes
    the slow path at ballot 0 (once its short wait for a fast quorum runs out) and
    commits after PreAccept, PreAcceptOk, Accept, AcceptOk."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5, fast_failures=1))
    cluster.crash(3)
    cluster.crash(4)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk))
    assert cluster.committed_value(a) is None
    assert not has_pending(cluster, Accept)
    cluster.expire_fast_wait(0)
    accepts = [e for e in cluster.pending if isinstance(e.message, Accept)]
    assert {e.message.ballot for e in accepts} == {Ballot(0, 0)}
    cluster.deliver(msg(Accept))
    cluster.deliver(msg(AcceptOk))
    record = cluster.record(0, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert cluster.committed_value(a) == ((A,), deps(5))
    assert cluster.replicas[0].stats.slow_commits == 1
    assert cluster.replicas[0].stats.fast_commits == 0


def test_a_timed_out_fast_wait_sends_each_accept_once() -> None:
    """§3.3 wait policy: when the fast-path wait runs out, the owner broadcasts its
    Accept(0) once; the same timer event must not also count as a retransmission."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5, fast_failures=1))
    cluster.crash(3)
    cluster.crash(4)
    cluster.propose(0, A)
    cluster.deliver(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk))
    cluster.expire_fast_wait(0)
    recipients = sorted(e.to for e in cluster.pending if isinstance(e.message, Accept))
    assert recipients == [1, 2, 3, 4]


def _t3_schedule() -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """(5,2,2): x is known to p3 only; p1 proposes a; p2, p3, p4 pre-accept a and
    report ∅, {x}, ∅; p2's and p3's replies reach p1 first."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5))
    x = cluster.propose(4, write("x", "x"))
    cluster.deliver(msg(PreAccept, to=2, instance=x))
    a = cluster.propose(0, A)
    for replica_id in (1, 2, 3):
        cluster.deliver(msg(PreAccept, to=replica_id, instance=a))
    cluster.deliver(msg(PreAcceptOk, sender=1, instance=a))
    cluster.deliver(msg(PreAcceptOk, sender=2, instance=a))
    assert cluster.committed_value(a) is None  # 2 of 3 replies match: wait for more
    return cluster, a, x


def test_t3_fast_path_holds_despite_one_mismatching_reply() -> None:
    """T3 (§7, §3.3 largestFastQuorum): {p1, p2, p4} report ∅, so the owner commits
    (c, ∅) at ballot 0 even though p3 reported {x}."""
    cluster, a, x = _t3_schedule()
    cluster.deliver(msg(PreAcceptOk, sender=3, instance=a))
    assert cluster.committed_value(a) == ((A,), deps(5))
    assert cluster.replicas[0].stats.fast_commits == 1
    cluster.settle(rounds=5)
    _, x_deps = cluster.committed_value(x)
    assert a in x_deps.ids  # replicas that saw a first report it for x
    assert all(set(cluster.executed[r]) == {a, x} for r in range(5))


def test_t3_deciding_on_the_first_quorum_takes_the_slow_path_with_the_union() -> None:
    """T3 (§7): forced to decide on {p1, p2, p3}, the owner accepts (c, {x}) at
    ballot 0. Both outcomes are legal; Agreement and Visibility hold either way."""
    cluster, a, x = _t3_schedule()
    cluster.expire_fast_wait(0)
    cluster.run()
    assert cluster.committed_value(a) == ((A,), deps(5, x))
    cluster.settle(rounds=5)
    _, x_deps = cluster.committed_value(x)
    assert a in x_deps.ids  # a cycle: both run in instance-id order
    assert all(cluster.executed[r] == [a, x] for r in range(5))


def _t5_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId]:
    """(5,2,2): p1 proposes a; p2 and p5 pre-accept it, their replies delayed; p3
    recovers with Q = {p1, p3, p4} -> owner in Q -> Accept(NOP). The delayed replies
    reach p1 after it answered Recover(b); the NOP Accept reaches p2, p4, p5 only
    and p3 commits NOP."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1))
    cluster.deliver(msg(PreAccept, to=4))
    cluster.drop(msg(PreAccept))
    cluster.recover(2, a)
    cluster.deliver(msg(Recover, to=0))
    cluster.deliver(msg(Recover, to=3))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk, to=2))
    nop_accepts = [e for e in cluster.pending if isinstance(e.message, Accept)]
    assert nop_accepts and all(e.message.batch == NOP for e in nop_accepts)
    cluster.deliver(msg(PreAcceptOk, to=0))  # the delayed replies: {p1, p2, p5} match
    cluster.deliver(lambda e: isinstance(e.message, Accept) and e.to != 0)
    cluster.deliver(msg(AcceptOk, to=2))
    return cluster, a


def test_t5_owner_ignores_fast_quorum_replies_after_joining_a_recovery() -> None:
    """T5 (§7, §3.3, §4.2 case 3): once p1 answered Recover(b) it can no longer decide
    at ballot 0; a becomes NOP, p1 proposes c again under a new id and every replica
    executes the client request exactly once."""
    cluster, a = _t5_schedule(frozenset())
    assert cluster.committed_value(a) == (NOP, deps(5))
    record = cluster.record(0, a)
    assert record is not None and record.phase is Phase.PREACCEPTED
    cluster.settle(rounds=10)
    assert cluster.replicas[0].stats.commands_reproposed == 1
    assert all(cluster.executed_requests(r) == ["a"] for r in range(5))


def test_t5_mutation_deciding_after_joining_breaks_agreement() -> None:
    """T5 mutation `decide_after_join`: p1 fast-commits (c, ∅) with {p1, p2, p5}
    while a quorum accepts NOP at b -> Agreement violation."""
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        _t5_schedule(frozenset({"decide_after_join"}))


def _t15_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId]:
    """(5,2,2): p1 proposes a; p2 pre-accepts (reply delayed); PreAccept(a) to p3 is
    delayed, to p4 and p5 lost. p4 recovers with Q = {p3, p4, p5}, all INITIAL ->
    NOP. The delayed PreAccept reaches p3 after it answered Recover(b), before the
    NOP Accept; then the delayed replies reach p1, and the NOP Accept p3 and p5."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1))
    cluster.drop(msg(PreAccept, to=3))
    cluster.drop(msg(PreAccept, to=4))
    cluster.recover(3, a)
    cluster.deliver(msg(Recover, to=2))
    cluster.deliver(msg(Recover, to=4))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk, to=3))
    assert all(e.message.batch == NOP for e in cluster.pending if isinstance(e.message, Accept))
    cluster.deliver(msg(PreAccept, to=2))
    cluster.deliver(msg(PreAcceptOk, to=0))
    cluster.deliver(msg(Accept, to=2))
    cluster.deliver(msg(Accept, to=4))
    cluster.deliver(msg(AcceptOk, to=3))
    return cluster, a


def test_t15_preaccept_after_recover_is_ignored() -> None:
    """T15 (§7, §3.2 precondition bal = 0): p3 ignores the late PreAccept, so p1 never
    gathers a fast quorum; a = NOP, and p1 runs the request again under a new id."""
    cluster, a = _t15_schedule(frozenset())
    record = cluster.record(2, a)
    assert record is not None and record.batch == NOP  # p3 only ever held the NOP
    assert cluster.committed_value(a) == (NOP, deps(5))
    cluster.settle(rounds=10)
    assert all(cluster.executed_requests(r) == ["a"] for r in range(5))


def test_t15_mutation_preaccepting_after_recover_breaks_agreement() -> None:
    """T15 mutation `preaccept_after_recover`: p3 pre-accepts and replies ∅, p1
    fast-commits (c, ∅) with {p1, p2, p3} while {p3, p4, p5} accept NOP at b."""
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        _t15_schedule(frozenset({"preaccept_after_recover"}))


def test_b17_reordered_preaccepts_of_one_owner_cost_only_the_fast_path() -> None:
    """B17 (protocol brief B17, EPaxos* §3.2 "no owner column"): p2 receives p1's
    second command before its first and adds it to the first one's deps. The first
    loses the fast path, a harmless cycle forms, and every replica still executes the
    two commands in instance-id order (3,1,1 with p3 down)."""
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    cluster.crash(2)
    first = cluster.propose(0, write("a1", "x"))
    second = cluster.propose(0, write("a2", "x"))
    cluster.deliver(msg(PreAccept, to=1, instance=second))
    cluster.deliver(msg(PreAccept, to=1, instance=first))
    cluster.deliver(msg(PreAcceptOk, to=0))
    assert cluster.committed_value(second) == ((write("a2", "x"),), deps(3, first))
    assert cluster.committed_value(first) is None
    cluster.expire_fast_wait(0)
    cluster.run()
    assert cluster.committed_value(first) == ((write("a1", "x"),), deps(3, second))
    cluster.restart(2)
    cluster.settle(rounds=10)
    assert all(cluster.executed[r] == [first, second] for r in range(3))


def _b2_schedule(lose_disk: bool) -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """(3,1,1): p2 is in the fast quorums of conflicting g (owner p1) and d (owner p3).
    p2 pre-accepts g, p1 fast-commits g; p2 crashes and restarts, then pre-accepts d,
    which p3 proposed without knowing g."""
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    g = cluster.propose(0, write("g", "x"))
    cluster.deliver(msg(PreAccept, to=1, instance=g))
    cluster.drop(msg(PreAccept, to=2, instance=g))
    cluster.deliver(msg(PreAcceptOk, to=0))
    assert cluster.committed_value(g) == ((write("g", "x"),), deps(3))
    cluster.drop(msg(Commit))
    cluster.crash(1, lose_disk=lose_disk)
    cluster.restart(1)
    d = cluster.propose(2, write("d", "x"))
    cluster.drop(msg(PreAccept, to=0, instance=d))
    cluster.deliver(msg(PreAccept, to=1, instance=d))
    cluster.deliver(msg(PreAcceptOk, to=2))
    return cluster, g, d


def test_b2_a_restarted_acceptor_remembers_its_votes() -> None:
    """B2 (protocol brief, efficient/epaxos#28): the pre-accept of g was durable before
    p2 replied, so after the restart p2 reports g for d and d cannot be fast."""
    cluster, g, d = _b2_schedule(lose_disk=False)
    assert cluster.committed_value(d) is None
    cluster.expire_fast_wait(2)
    cluster.run()
    assert cluster.committed_value(d) == ((write("d", "x"),), deps(3, g))


def test_b2_storage_that_loses_acknowledged_votes_breaks_visibility() -> None:
    """B2 reintroduced in the harness (a disk that loses acknowledged writes): p2
    forgets g, reports ∅ for d, and d fast-commits without g -> Visibility fails."""
    with pytest.raises(AssertionError, match="visibility violated between 0.1 and 2.1"):
        _b2_schedule(lose_disk=True)
