"""Scripted EPaxos* recoveries that validate and wait (brief §4.1 cases 4a-4c, §4.3, §7).

Replica ids are 0-based: the brief's p1 is replica 0, a is p1's command and b the
conflicting one. The harness checks Agreement, Visibility and execution consistency
at every event; each mutation test shows that a reintroduced bug is caught."""

from __future__ import annotations

import pytest

from epaxdb.config import ClusterConfig
from epaxdb.ids import InstanceId
from epaxdb.messages import (
    Accept,
    Commit,
    PreAccept,
    PreAcceptOk,
    Recover,
    RecoverOk,
    Validate,
    ValidateOk,
    Waiting,
)
from tests.core.cluster import ScriptedCluster, deps, msg, write

A = write("a", "x")
B = write("b", "x")
NOP = ()


def has_pending(cluster: ScriptedCluster, message_type: type, instance: InstanceId) -> bool:
    return any(msg(message_type, instance=instance)(e) for e in cluster.pending)


def accepted_batches(cluster: ScriptedCluster, instance: InstanceId) -> set[tuple]:
    """The values proposed by the pending Accept(instance) messages."""
    return {e.message.batch for e in cluster.pending if msg(Accept, instance=instance)(e)}


def waiting_sent(cluster: ScriptedCluster, instance: InstanceId) -> set[int]:
    """The |R_max| values of the pending Waiting(instance, k) messages."""
    return {e.message.matching for e in cluster.pending if msg(Waiting, instance=instance)(e)}


def recover_with(
    cluster: ScriptedCluster, recoverer: int, instance: InstanceId, quorum: tuple[int, ...]
) -> None:
    """`recoverer` starts a recovery of `instance` whose Recover reaches exactly `quorum`
    (the other Recovers stay pending), and collects the replies."""
    cluster.recover(recoverer, instance)
    for replica_id in quorum:
        cluster.deliver(msg(Recover, to=replica_id, instance=instance))
    cluster.deliver(msg(RecoverOk, to=recoverer, instance=instance))


def validate(cluster: ScriptedCluster, recoverer: int, instance: InstanceId) -> None:
    cluster.deliver(msg(Validate, instance=instance))
    cluster.deliver(msg(ValidateOk, to=recoverer, instance=instance))


def _b_known_to_p4_then_a_fast(
    cluster: ScriptedCluster, a_quorum: tuple[int, ...]
) -> tuple[InstanceId, InstanceId]:
    """(5,2,2), §6.2 step 4: p5 proposes b, pre-accepted by p4 (∅); its PreAccept to p3
    is held back, those to p1, p2 lost. Then p1 proposes a; `a_quorum` pre-accepts it
    and p2, p3 reply ∅, so p1 fast-commits (c, ∅) durably; its Commits are held."""
    b = cluster.propose(4, B)
    cluster.deliver(msg(PreAccept, to=3, instance=b))
    cluster.drop(msg(PreAccept, to=0, instance=b))
    cluster.drop(msg(PreAccept, to=1, instance=b))
    a = cluster.propose(0, A)
    for replica_id in a_quorum:
        cluster.deliver(msg(PreAccept, to=replica_id, instance=a))
    cluster.drop(msg(PreAccept, instance=a))
    cluster.deliver(msg(PreAcceptOk, to=0, sender=1))
    cluster.deliver(msg(PreAcceptOk, to=0, sender=2))
    assert cluster.committed_value(a) == ((A,), deps(5))
    return a, b


def _b_commits_slowly_with_a(cluster: ScriptedCluster, b: InstanceId) -> None:
    """p3 now pre-accepts b and reports {a}; p5 takes the slow path with {a}."""
    cluster.deliver(msg(PreAccept, to=2, instance=b))
    cluster.deliver(msg(PreAcceptOk, to=4, instance=b))
    cluster.expire_fast_wait(4)
    cluster.run()


def _t9_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """(5,2,2), §6.2 step 4 / §7 T9: p1, p2 crash after the fast commit of a; p4
    recovers with Q = {p3, p4, p5}: R_max = {p3}, I = {(b, PREACCEPTED)} and b's owner
    p5 is in Q -> wait, Waiting(a, 1)."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a, b = _b_known_to_p4_then_a_fast(cluster, a_quorum=(1, 2))
    cluster.drop(msg(Commit, instance=a))
    cluster.crash(0)
    cluster.crash(1)
    recover_with(cluster, 3, a, quorum=(2, 4))
    validate(cluster, 3, a)
    return cluster, a, b


def test_t9_waiting_ends_when_the_invalidator_commits_with_the_recovered_command() -> None:
    """T9 (§4.1 case 4c, l.72): b commits slowly as (c', {a}); the waiting recovery
    then accepts the validated (c, ∅), equal to p1's fast commit."""
    cluster, a, b = _t9_schedule(frozenset())
    assert waiting_sent(cluster, a) == {1}
    assert not has_pending(cluster, Accept, a)
    _b_commits_slowly_with_a(cluster, b)
    assert cluster.committed_value(b) == ((B,), deps(5, a))
    assert cluster.committed_value(a) == ((A,), deps(5))
    assert all(cluster.executed[r] == [a, b] for r in (2, 3, 4))


def test_t9_mutation_aborting_on_any_invalidator_breaks_agreement() -> None:
    """T9 mutation `abort_on_any_invalidator`: the recovery aborts a on the mere
    presence of b in I -> NOP against p1's fast commit -> Agreement violation."""
    cluster, _, _ = _t9_schedule(frozenset({"abort_on_any_invalidator"}))
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        cluster.run()


def test_t4_ii_recovery_never_pre_accepts_again() -> None:
    """T4 (ii) (§7, §4.4): p4, p5 pre-accept a conflicting b after a was fast-committed
    but before they hear of a. Re-running PreAccept (the old brief's D8) would commit
    (c, {b}); EPaxos* validates (c, ∅), waits for b, and commits (c, ∅)."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5))
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=1, instance=a))
    cluster.deliver(msg(PreAccept, to=2, instance=a))
    cluster.drop(msg(PreAccept, instance=a))
    cluster.deliver(msg(PreAcceptOk, to=0))
    cluster.drop(msg(Commit, instance=a))
    cluster.crash(0)
    cluster.crash(1)
    b = cluster.propose(4, B)
    cluster.deliver(msg(PreAccept, to=3, instance=b))
    recover_with(cluster, 3, a, quorum=(2, 4))
    validate(cluster, 3, a)
    assert waiting_sent(cluster, a) == {1}
    _b_commits_slowly_with_a(cluster, b)
    assert cluster.committed_value(a) == ((A,), deps(5))
    assert cluster.committed_value(b) == ((B,), deps(5, a))


def test_t11_late_commit_from_the_partitioned_owner_finishes_a_waiting_recovery() -> None:
    """T11 variant (§4.1 l.76-77): as T9, but p1 was only partitioned. When it heals,
    its answer to the recovery is its commit (a Commit message, §4.6.1), which the
    waiting recoverer adopts: a = (c, ∅) without waiting for b."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5))
    a, b = _b_known_to_p4_then_a_fast(cluster, a_quorum=(1, 2))
    cluster.drop(msg(Commit, instance=a))
    recover_with(cluster, 3, a, quorum=(2, 4))
    validate(cluster, 3, a)
    assert waiting_sent(cluster, a) == {1}
    cluster.deliver(msg(Recover, to=0, instance=a))
    cluster.deliver(msg(Commit, to=3, instance=a))
    record = cluster.record(3, a)
    assert record is not None and record.phase.name == "COMMITTED"
    assert cluster.committed_value(b) is None
    cluster.settle(rounds=10)
    assert cluster.committed_value(a) == ((A,), deps(5))


def _t13_schedule(
    mutations: frozenset[str],
) -> tuple[ScriptedCluster, InstanceId, InstanceId, set[int]]:
    """(5,2,2), §7 T13: as T9, but p5 (b's owner) also pre-accepted a, with
    dep(a) = {b}, and is the recoverer: Q = {p3, p4, p5}, R_max = {p3}, I = {b} with
    b's owner (p5 itself) in Q -> wait. Then b commits slowly as (c', {a})."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a, b = _b_known_to_p4_then_a_fast(cluster, a_quorum=(1, 2, 4))
    assert cluster.record(4, a).deps == deps(5, b)
    cluster.drop(msg(Commit, instance=a))
    cluster.crash(0)
    cluster.crash(1)
    recover_with(cluster, 4, a, quorum=(2, 3))
    validate(cluster, 4, a)
    waiting = waiting_sent(cluster, a)
    _b_commits_slowly_with_a(cluster, b)
    return cluster, a, b, waiting


def test_t13_waiting_accepts_the_validated_value_not_the_local_one() -> None:
    """T13 (§4.1 note, TLA bug.bug): p5 is not in R_max (Waiting(a, 1)); after b
    commits with a in its deps, the recovery accepts the validated (c, ∅), not its
    own local (c, {b})."""
    cluster, a, b, waiting = _t13_schedule(frozenset())
    assert waiting == {1}
    assert cluster.committed_value(a) == ((A,), deps(5))
    assert cluster.committed_value(b) == ((B,), deps(5, a))


def test_t13_mutation_accepting_the_local_value_breaks_agreement() -> None:
    """T13 (i) mutation `wait_local_value`: the recovery accepts its local (c, {b})
    -> Agreement violation with p1's fast commit (c, ∅)."""
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        _t13_schedule(frozenset({"wait_local_value"}))


def _t8_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """(5,2,2), §7 T8 steps 1-3: {p1, p3, p4} fast-commit a, Commits lost, p1 crashes;
    p2 proposes b (never saw a), only p5 pre-accepts it, p2 crashes; p3 recovers a:
    Q = {p3, p4, p5}, R_max = {p3, p4}, I = {(b, PREACCEPTED)} from p5."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    a = cluster.propose(0, A)
    cluster.deliver(msg(PreAccept, to=2, instance=a))
    cluster.deliver(msg(PreAccept, to=3, instance=a))
    cluster.drop(msg(PreAccept, instance=a))
    cluster.deliver(msg(PreAcceptOk, to=0))
    assert cluster.committed_value(a) == ((A,), deps(5))
    cluster.drop(msg(Commit))
    cluster.crash(0)
    b = cluster.propose(1, B)
    cluster.deliver(msg(PreAccept, to=4, instance=b))
    cluster.drop(msg(PreAccept, instance=b))
    cluster.crash(1)
    recover_with(cluster, 2, a, quorum=(3, 4))
    validate(cluster, 2, a)
    return cluster, a, b


def test_t8_exact_threshold_clause_applies_only_at_equality() -> None:
    """T8 (§4.2 Lemma 11): |R_max| = 2 > |Q| - e, so p3 waits (Waiting(a, 2)). p5's
    recovery of b has |R_max'| = 1 = |Q'| - e with a's owner outside Q' -> b = NOP
    (l.65); p3 then sees b committed NOP -> a = (c, ∅), p1's fast commit."""
    cluster, a, b = _t8_schedule(frozenset())
    assert waiting_sent(cluster, a) == {2}
    assert not has_pending(cluster, Accept, a)
    recover_with(cluster, 4, b, quorum=(2, 3))
    validate(cluster, 4, b)
    assert accepted_batches(cluster, b) == {NOP}
    cluster.run()
    assert cluster.committed_value(b) == (NOP, deps(5))
    assert cluster.committed_value(a) == ((A,), deps(5))


def test_t8_mutation_exact_clause_with_at_least_breaks_agreement() -> None:
    """T8 mutation `exact_clause_at_least`: in step 3 |R_max| = 2 >= 1 and b's owner p2
    is outside Q -> a = NOP against p1's fast commit -> Agreement violation."""
    cluster, _, _ = _t8_schedule(frozenset({"exact_clause_at_least"}))
    with pytest.raises(AssertionError, match="agreement violated on 0.1"):
        cluster.run()


def _t10_prefix(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """(5,2,2), §7 T10 steps 1-2: p2 proposes b and p1 proposes a concurrently; p3, p4
    see b first (a -> {b}), p5 sees a first (b -> {a}), p1 and p2 see each other's
    command after their own. No PreAcceptOk is delivered yet."""
    cluster = ScriptedCluster(ClusterConfig.for_size(5), mutations)
    b = cluster.propose(1, B)
    a = cluster.propose(0, A)
    for replica_id in (2, 3):
        cluster.deliver(msg(PreAccept, to=replica_id, instance=b))
        cluster.deliver(msg(PreAccept, to=replica_id, instance=a))
    cluster.deliver(msg(PreAccept, to=4, instance=a))
    cluster.deliver(msg(PreAccept, to=4, instance=b))
    cluster.deliver(msg(PreAccept, to=0, instance=b))
    cluster.deliver(msg(PreAccept, to=1, instance=a))
    return cluster, a, b


def _t10_schedule(mutations: frozenset[str]) -> tuple[ScriptedCluster, InstanceId, InstanceId]:
    """§7 T10 steps 3-7: p1 crashes undecided; p5 recovers a with Q = {p2, p3, p5}:
    R_max = {p5}, I = {b}, b's owner p2 in Q -> wait, Waiting(a, 1). p2 fast-commits
    b with p3, p4 and crashes before its Commits leave. p3 recovers b with
    Q' = {p3, p4, p5}: R_max' = {p3, p4} -> wait, Waiting(b, 2). p3 then receives
    Waiting(a, 1) (1 > n-f-e = 1 is false: keep waiting)."""
    cluster, a, b = _t10_prefix(mutations)
    cluster.crash(0)
    recover_with(cluster, 4, a, quorum=(1, 2))
    validate(cluster, 4, a)
    assert waiting_sent(cluster, a) == {1}
    cluster.deliver(msg(PreAcceptOk, to=1, sender=2, instance=b))
    cluster.deliver(msg(PreAcceptOk, to=1, sender=3, instance=b))
    assert cluster.committed_value(b) == ((B,), deps(5))
    cluster.drop(lambda e: e.sender == 1)
    cluster.crash(1)
    recover_with(cluster, 2, b, quorum=(3, 4))
    validate(cluster, 2, b)
    assert waiting_sent(cluster, b) == {2}
    cluster.deliver(msg(Waiting, to=2, instance=a))
    return cluster, a, b


def test_t10_a_waiting_message_aborts_only_above_the_threshold() -> None:
    """T10 (§4.2 Lemma 12): Waiting(a, 1) does not abort b at p3 (nor does a duplicate),
    Waiting(b, 2) does abort a at p5 (2 > 1), once even when duplicated. Then p3 sees a
    committed NOP -> b = (c', ∅), p2's fast commit."""
    cluster, a, b = _t10_schedule(frozenset())
    assert not has_pending(cluster, Accept, b)
    cluster.deliver(msg(Waiting, to=2, instance=a), keep=True)  # duplicates change nothing
    cluster.drop(msg(Waiting, to=2, instance=a))
    assert not has_pending(cluster, Accept, b)
    cluster.deliver(msg(Waiting, to=4, instance=b), keep=True)
    cluster.deliver(msg(Waiting, to=4, instance=b))
    assert accepted_batches(cluster, a) == {NOP}
    cluster.run()
    assert cluster.committed_value(a) == (NOP, deps(5))
    assert cluster.committed_value(b) == ((B,), deps(5))


def test_t10_mutation_waiting_threshold_at_least_breaks_agreement() -> None:
    """T10 mutation `waiting_threshold_at_least`: Waiting(a, 1) with 1 >= n-f-e makes
    p3 abort b -> NOP against p2's fast commit -> Agreement violation."""
    cluster, _, _ = _t10_schedule(frozenset({"waiting_threshold_at_least"}))
    with pytest.raises(AssertionError, match="agreement violated on 1.1"):
        cluster.run()


def test_t11_late_reply_of_the_owner_aborts_a_waiting_recovery() -> None:
    """T11 (§4.1 l.76-79): T10 up to step 4, but p1 is only partitioned. Its late
    RecoverOk (PREACCEPTED) reaches the waiting p5 -> a = NOP. p1 ignores its own
    fast-quorum replies from then on, runs the request again under a new id, and
    every replica executes it once."""
    cluster, a, _ = _t10_prefix(frozenset())
    recover_with(cluster, 4, a, quorum=(1, 2))
    validate(cluster, 4, a)
    assert waiting_sent(cluster, a) == {1}
    cluster.deliver(msg(Recover, to=0, instance=a))
    cluster.deliver(msg(RecoverOk, to=4, instance=a))
    assert accepted_batches(cluster, a) == {NOP}
    cluster.deliver(msg(PreAcceptOk, to=0, instance=a))
    record = cluster.record(0, a)
    assert record is not None and record.phase.name == "PREACCEPTED"
    cluster.settle(rounds=10)
    assert cluster.committed_value(a) == (NOP, deps(5))
    assert all(sorted(cluster.executed_requests(r)) == ["a", "b"] for r in range(5))


def test_t14_mutually_waiting_recoveries_resolve_after_both_owners_crash() -> None:
    """T14 (§4.3 cycle breaking): a's recovery (Q = {p2, p3, p5}) and b's recovery
    (Q = {p1, p4, p5}) both sit at |R_max| = |Q| - e with the other command's owner
    inside Q, and wait on each other. p1 and p2 crash. Timer-driven attempts at higher
    ballots with live quorums resolve both; at least one is NOP."""
    cluster, a, b = _t10_prefix(frozenset())
    cluster.drop(msg(PreAcceptOk, to=0))
    cluster.drop(msg(PreAcceptOk, to=1))
    recover_with(cluster, 4, a, quorum=(1, 2))
    validate(cluster, 4, a)
    recover_with(cluster, 3, b, quorum=(0, 4))
    validate(cluster, 3, b)
    cluster.deliver(msg(Waiting))
    assert not has_pending(cluster, Accept, a) and not has_pending(cluster, Accept, b)
    cluster.crash(0)
    cluster.crash(1)
    cluster.settle(rounds=20)
    values = [cluster.committed_value(a), cluster.committed_value(b)]
    assert all(value is not None for value in values)
    assert any(batch == NOP for batch, _ in values)
    rounds = [cluster.durable[r][i].accepted_ballot.round for r in (2, 3, 4) for i in (a, b)]
    assert max(rounds) <= 3
