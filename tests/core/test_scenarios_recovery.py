"""Scripted EPaxos* recovery scenarios without waiting (brief §4.1 cases 1-4, §7).

Replica ids are 0-based: the brief's p1 is replica 0. The harness checks Agreement,
Visibility and execution consistency at every event; each mutation test shows that
a reintroduced bug is caught by one of those checks."""

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
    Validate,
    ValidateOk,
)
from tests.core.cluster import ScriptedCluster, deps, msg, write

A = write("a", "x")
B = write("b", "x")
NOP = ()


def _fast_commit_then_owner_lost(
    cluster: ScriptedCluster, quorum: tuple[int, ...], deliver_commits_to: tuple[int, ...] = ()
) -> InstanceId:
    """p1 proposes a, pre-accepted by `quorum` only, fast-commits (c, ∅) durably; its
    Commits reach only `deliver_commits_to`."""
    a = cluster.propose(0, A)
    for replica_id in quorum:
        cluster.deliver(msg(PreAccept, to=replica_id, instance=a))
    cluster.drop(msg(PreAccept, instance=a))
    cluster.deliver(msg(PreAcceptOk, to=0, instance=a))
    assert cluster.committed_value(a) == ((A,), deps(cluster.config.replica_count))
    for replica_id in deliver_commits_to:
        cluster.deliver(msg(Commit, to=replica_id, instance=a))
    cluster.drop(msg(Commit, instance=a))
    return a


def _t4_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId]:
    """(5,2,2), §6.2 steps 1-3: {p1, p2, p3} fast-commit a; p1, p2 crash before any
    Commit leaves; p4 recovers with Q = {p3, p4, p5}, R_max = {p3}."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a = _fast_commit_then_owner_lost(cluster, quorum=(1, 2))
    cluster.crash(0)
    cluster.crash(1)
    cluster.recover(3, a)
    cluster.run()
    return cluster, a


def test_t4_recovery_confirms_a_fast_commit_seen_by_one_replica_of_the_quorum() -> None:
    """T4 (§7, §6.2): with e = 2, {p3} alone (|R_max| = |Q| - e = 1) must lead to
    validation; I = ∅, so the recovery commits (c, ∅) at its own ballot."""
    cluster, a = _t4_schedule(frozenset())
    record = cluster.record(3, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert record.accepted_ballot == Ballot(1, 3)
    assert cluster.committed_value(a) == ((A,), deps(5))


def test_t4_mutation_fixed_threshold_aborts_a_fast_committed_command() -> None:
    """T4 (i) mutation `fixed_threshold` (threshold |Q| - 1 as if e = 1): |R_max| = 1 < 2
    -> l.80 -> NOP, against p1's durable fast commit -> Agreement violation."""
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        _t4_schedule(frozenset({"fixed_threshold"}))


def _t6_literal_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId]:
    """(3,1,1), §7 T6 literally: p2 proposes a; p1 pre-accepts (reply delayed), then
    starts a recovery at b1 whose Recover only p3 receives; p2 gets p1's reply and
    fast-commits (Commits delayed); p3 recovers at b2 > b1 with Q = {p2, p3}."""
    cluster = ScriptedCluster(ClusterConfig.for_size(3), mutations)
    a = cluster.propose(1, A)
    cluster.deliver(msg(PreAccept, to=0, instance=a))
    cluster.drop(msg(PreAccept, to=2, instance=a))
    cluster.recover(0, a)
    cluster.deliver(msg(Recover, to=2))
    cluster.drop(msg(Recover))
    cluster.drop(msg(RecoverOk))
    cluster.deliver(msg(PreAcceptOk, to=1))
    assert cluster.committed_value(a) == ((A,), deps(3))
    cluster.drop(msg(Commit))
    cluster.recover(2, a)
    cluster.deliver(msg(Recover, to=1))
    cluster.drop(msg(Recover))
    cluster.run()
    return cluster, a


@pytest.mark.parametrize("mutations", [frozenset(), frozenset({"single_ballot"})])
def test_t6_a_committed_replica_answers_a_recovery_with_its_commit(
    mutations: frozenset[str],
) -> None:
    """T6 as written in §7 (TLA NoAbalError.log): the recovery at b2 commits (c, ∅).
    Our committed replicas answer Recover with their Commit (§4.6.1), which also masks
    `single_ballot` in this schedule; the variant below exposes that mutation."""
    cluster, a = _t6_literal_schedule(mutations)
    record = cluster.record(2, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert cluster.committed_value(a) == ((A,), deps(3))


def _t6_vote_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId]:
    """(5,2,1), Sutra's class (§4.2 cases 1-2, protocol brief B1): p1 takes the slow
    path and commits (c, ∅) at ballot 0 with ACCEPTED votes at p2, p3; its Commits
    are lost and it crashes. p4's recovery at b1 reaches only p5 (a bare promise);
    p4 retries at b2 with Q = {p2, p4, p5}: p2 holds a real vote at ballot 0, p4 and
    p5 only promised b1."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5, fast_failures=1), mutations)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1))
    cluster.deliver(msg(PreAccept, to=2))
    cluster.drop(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk, to=0))
    cluster.expire_fast_wait(0)
    cluster.deliver(msg(Accept, to=1))
    cluster.deliver(msg(Accept, to=2))
    cluster.drop(msg(Accept))
    cluster.deliver(msg(AcceptOk, to=0))
    assert cluster.committed_value(a) == ((A,), deps(5))
    cluster.drop(msg(Commit))
    cluster.crash(0)
    cluster.recover(3, a)
    cluster.deliver(msg(Recover, to=4))
    cluster.drop(msg(Recover))
    cluster.drop(msg(RecoverOk))
    cluster.recover(3, a)
    cluster.deliver(msg(Recover, to=1))
    cluster.deliver(msg(Recover, to=4))
    cluster.drop(msg(Recover))
    cluster.run()
    return cluster, a


def test_t6_recovery_chooses_by_vote_ballot_not_promise() -> None:
    """T6 (§4.2 cases 1-2): replies carry the vote ballot abal; every abal is 0, p2's
    ACCEPTED reply wins (l.55) and the recovery re-commits (c, ∅)."""
    cluster, a = _t6_vote_schedule(frozenset())
    record = cluster.record(3, a)
    assert record is not None and record.accepted_ballot == Ballot(2, 3)
    assert cluster.committed_value(a) == ((A,), deps(5))


def test_t6_mutation_single_ballot_lets_a_promise_beat_a_vote() -> None:
    """T6 mutation `single_ballot` (RecoverOk reports the joined ballot): p4 and p5
    report b1 > 0, so U = {p4, p5}, both INITIAL -> NOP -> Agreement violation."""
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        _t6_vote_schedule(frozenset({"single_ballot"}))


def _t7_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """(5,2,2), §7 T7 up to the recovery decision: p1 proposes a, only p2 pre-accepts
    it, p1 is partitioned; p5 fast-commits a conflicting b with {p3, p4, p5} (Commits
    reach p3, p4); p3 recovers a with Q = {p2, p3, p4}: R_max = {p2} -> Validate; p3
    and p4 report (b, COMMITTED). The Validate to p4 is duplicated (kept pending)."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1, instance=a))
    cluster.drop(lambda e: e.sender == 0 or e.to == 0)
    b = cluster.propose(4, B)
    cluster.deliver(msg(PreAccept, to=2, instance=b))
    cluster.deliver(msg(PreAccept, to=3, instance=b))
    cluster.drop(msg(PreAccept, instance=b))
    cluster.deliver(msg(PreAcceptOk, to=4))
    assert cluster.committed_value(b) == ((B,), deps(5))
    cluster.deliver(msg(Commit, to=2, instance=b))
    cluster.deliver(msg(Commit, to=3, instance=b))
    cluster.drop(msg(Commit, instance=b))
    cluster.recover(2, a)
    cluster.deliver(msg(Recover, to=1))
    cluster.deliver(msg(Recover, to=3))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk, to=2))
    cluster.deliver(msg(Validate, to=1))
    cluster.deliver(msg(Validate, to=3), keep=True)
    cluster.deliver(msg(ValidateOk, to=2))
    return cluster, a, b


def test_t7_a_committed_invalidator_aborts_the_recovered_command() -> None:
    """T7 (§4.1 case 4b, l.65): b committed without a, so a cannot have been fast;
    the recovery accepts and commits NOP."""
    cluster, a, _ = _t7_schedule(frozenset())
    cluster.drop(msg(Validate))
    cluster.drop(msg(Accept, to=0))
    cluster.run()
    assert cluster.committed_value(a) == (NOP, deps(5))


def test_t7_mutation_ignoring_committed_invalidators_breaks_visibility() -> None:
    """T7 mutation `ignore_committed_invalidators`: the recovery accepts (c, ∅), which
    commits next to b with neither in the other's deps -> Visibility violation."""
    cluster, a, b = _t7_schedule(frozenset({"ignore_committed_invalidators"}))
    cluster.drop(msg(Validate))
    with pytest.raises(AssertionError, match=f"visibility violated between {a} and {b}"):
        cluster.run()


def _t12_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId]:
    """(5,2,2), §7 T12: T7 up to the NOP decision at b1; Accept(b1, NOP) reaches only
    p2, p4 (and p3 itself), p3 commits NOP and the Commit reaches p2 only; then the
    duplicate Validate(b1, a, c, ∅) reaches p4; p5 recovers at b2 with
    Q = {p1, p4, p5}; its Accept reaches p1 and p4."""
    cluster, a, _ = _t7_schedule(mutations)
    cluster.deliver(msg(Accept, to=1))
    cluster.deliver(msg(Accept, to=3))
    cluster.drop(msg(Accept))
    cluster.deliver(msg(AcceptOk, to=2))
    assert cluster.committed_value(a) == (NOP, deps(5))
    cluster.deliver(msg(Commit, to=1))
    cluster.drop(msg(Commit))
    cluster.deliver(msg(Validate, to=3))  # the duplicate
    cluster.drop(msg(ValidateOk))
    cluster.recover(4, a)
    cluster.deliver(msg(Recover, to=0))
    cluster.deliver(msg(Recover, to=3))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk, to=4))
    cluster.deliver(msg(Accept, to=0))
    cluster.deliver(msg(Accept, to=3))
    cluster.drop(msg(Accept))
    cluster.deliver(msg(AcceptOk, to=4))
    return cluster, a


def test_t12_a_duplicated_validate_cannot_overwrite_an_accepted_value() -> None:
    """T12 (§4.6.2 guarded Validate): p4 ignores the late Validate; the recovery at b2
    sees p4 ACCEPTED (NOP, ∅) at b1 and re-accepts NOP. The owner p1, alive, then
    runs its request under a new id, exactly once everywhere."""
    cluster, a = _t12_schedule(frozenset())
    record = cluster.record(4, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert record.accepted_ballot == Ballot(1, 4)
    cluster.settle(rounds=10)
    assert all(cluster.executed_requests(r) == ["b", "a"] for r in range(5))


def test_t12_mutation_unguarded_validate_breaks_agreement() -> None:
    """T12 mutation `unguarded_validate`: the duplicate turns p4's vote into ACCEPTED
    (c, ∅) at b1, the b2 recovery adopts it -> Agreement violation with the NOP."""
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        _t12_schedule(frozenset({"unguarded_validate"}))


def test_t16_an_accept_reaching_a_committed_replica_is_answered_with_the_commit() -> None:
    """T16 (§4.6.1, §4.9): p4 joined the recovery's ballot b, then learnt p1's commit at
    ballot 0. The recovery's Accept(b) to p4 is answered with that Commit, which
    finishes the recovery without any AcceptOk."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5))
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1))
    cluster.deliver(msg(PreAccept, to=3))
    cluster.drop(msg(PreAccept))
    cluster.deliver(msg(PreAcceptOk, to=0))
    late_commit = cluster.take(msg(Commit, to=3))
    cluster.drop(msg(Commit))
    cluster.crash(0)
    cluster.recover(2, a)
    cluster.deliver(msg(Recover, to=3))
    cluster.deliver(msg(Recover, to=4))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk))
    cluster.deliver(msg(Validate))
    cluster.deliver(msg(ValidateOk))
    lost = cluster.take(msg(Accept, to=4))
    assert [e.message.ballot for e in lost] == [Ballot(1, 2)]
    cluster.pending[:0] = late_commit
    cluster.deliver(msg(Commit, to=3))
    record = cluster.record(3, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert record.ballot == Ballot(1, 2) and record.accepted_ballot == Ballot(0, 0)
    cluster.drop(msg(Accept, to=1))
    cluster.deliver(msg(Accept, to=3))
    assert not any(isinstance(e.message, AcceptOk) for e in cluster.pending)
    cluster.deliver(msg(Commit, to=2))
    record = cluster.record(2, a)
    assert record is not None and record.phase is Phase.COMMITTED
    assert cluster.committed_value(a) == ((A,), deps(5))


def test_t17_recovery_re_accepts_a_slow_path_value_from_ballot_zero() -> None:
    """T17 (§4.1 case 2, l.55): p1 accepted (c, {x}) at ballot 0, only p2 got the Accept,
    p1 crashed. A recovery with Q = {p2, p3, p4} re-accepts (c, {x}) although p3 and
    p4 are PREACCEPTED with dep = initDep = ∅ (which would otherwise validate)."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5))
    x = cluster.propose(4, write("x", "x"))
    cluster.deliver(msg(PreAccept, to=1, instance=x))
    cluster.drop(msg(PreAccept, instance=x))
    a = cluster.propose(0, A)
    for replica_id in (1, 2, 3):
        cluster.deliver(msg(PreAccept, to=replica_id, instance=a))
    cluster.drop(msg(PreAccept, instance=a))
    cluster.deliver(msg(PreAcceptOk, to=0, sender=1))
    cluster.deliver(msg(PreAcceptOk, to=0, sender=2))
    cluster.drop(msg(PreAcceptOk, to=0))
    cluster.expire_fast_wait(0)
    cluster.deliver(msg(Accept, to=1, instance=a))
    cluster.drop(msg(Accept))
    cluster.crash(0)
    cluster.recover(3, a)
    cluster.deliver(msg(Recover, to=1))
    cluster.deliver(msg(Recover, to=2))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk))
    accepts = cluster.take(msg(Accept, instance=a))
    assert accepts and all(e.message.deps == deps(5, x) for e in accepts)
    cluster.pending.extend(accepts)
    cluster.settle(rounds=10)
    assert cluster.committed_value(a) == ((A,), deps(5, x))
    assert cluster.committed_value(x) is not None
    assert all(set(cluster.executed[r]) == {a, x} for r in range(1, 5))


def test_b15_a_recovered_own_command_is_not_proposed_again() -> None:
    """B15 (protocol brief): a recoverer commits p1's own command (c, ∅) while p1 still
    holds the client request; the (duplicated) Commit reaching p1 must not make it
    propose the request again — it executes once everywhere (3,1,1)."""
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1))
    cluster.drop(lambda e: e.sender == 0)
    cluster.drop(msg(PreAcceptOk))
    cluster.recover(1, a)
    cluster.drop(msg(Recover, to=0))
    cluster.run()
    assert cluster.committed_value(a) == ((A,), deps(3))
    cluster.deliver(msg(Commit, to=0), keep=True)
    cluster.deliver(msg(Commit, to=0))
    cluster.settle(rounds=5)
    assert cluster.replicas[0].stats.commands_reproposed == 0
    assert all(cluster.executed_requests(r) == ["a"] for r in range(3))


def test_recovery_counts_only_pre_accepts_that_report_the_owners_proposal() -> None:
    """§4.1 l.57-58 (R_max = PREACCEPTED replies with dep = initDep, initDep being the
    owner's D0), (5,2,2): p2 saw p5's b before a and pre-accepted a with {b};
    {p1, p3, p4} fast-commit (c, ∅), p1 crashes. p5 recovers with Q = {p2, p3, p5}:
    only p3 matches, so the candidate is (c, ∅); p2's (c, {b}) must never be
    validated and committed."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5))
    b = cluster.propose(4, B)
    cluster.deliver(msg(PreAccept, to=1, instance=b))
    cluster.drop(msg(PreAccept, instance=b))
    a = cluster.propose(0, A)
    for replica_id in (1, 2, 3):
        cluster.deliver(msg(PreAccept, to=replica_id, instance=a))
    cluster.drop(msg(PreAccept, instance=a))
    cluster.deliver(msg(PreAcceptOk, to=0, sender=2))
    cluster.deliver(msg(PreAcceptOk, to=0, sender=3))
    assert cluster.committed_value(a) == ((A,), deps(5))
    cluster.drop(msg(Commit, instance=a))
    cluster.crash(0)
    cluster.recover(4, a)
    cluster.deliver(msg(Recover, to=1))
    cluster.deliver(msg(Recover, to=2))
    cluster.drop(msg(Recover))
    cluster.deliver(msg(RecoverOk, to=4))
    validations = cluster.take(msg(Validate, instance=a))
    assert validations and all(e.message.deps == deps(5) for e in validations)
    cluster.pending.extend(validations)
    cluster.settle(rounds=10)
    assert cluster.committed_value(a) == ((A,), deps(5))
    assert cluster.committed_value(b) == ((B,), deps(5, a))
