"""The invariant checkers, fed synthetic histories (no protocol involved)."""

from __future__ import annotations

import pytest

from epaxdb.command import Batch
from epaxdb.ids import Ballot, InstanceId
from epaxdb.messages import Deps, Phase
from epaxdb.records import InstanceRecord
from epaxdb.sim.checkers import Checkers, CheckFailed
from epaxdb.sim.kv import KvState, make_command

N = 3
A = make_command("a", [("put", "x", 1)])
B = make_command("b", [("put", "x", 2)])
C = make_command("c", [("put", "y", 3)])
R = make_command("r", [("get", "x")])
I1, I2, I3 = InstanceId(0, 1), InstanceId(1, 1), InstanceId(2, 1)


def deps(*ids: InstanceId) -> Deps:
    return Deps(frozenset(ids), (0,) * N)


def committed(instance_id: InstanceId, batch: Batch, value_deps: Deps) -> InstanceRecord:
    ballot = Ballot(0, instance_id.owner)
    return InstanceRecord(
        instance_id, Phase.COMMITTED, ballot, ballot, batch, value_deps, batch, value_deps
    )


def proposed(*commands: object, now: float = 0.0) -> Checkers:
    checkers = Checkers(N)
    for command in commands:
        checkers.on_propose(command, now)  # type: ignore[arg-type]
    return checkers


def execute(checkers: Checkers, replica: int, kv: KvState, *instance_ids: InstanceId) -> None:
    """Apply instances as the executions of one Ready (a whole SCC, say)."""
    for instance_id in instance_ids:
        batch = checkers.chosen[instance_id][0]
        checkers.before_execute(replica, kv, instance_id, batch)
        for command in kv.apply(instance_id, batch):
            checkers.after_effect(replica, kv, command)
    checkers.after_executions(replica, kv, instance_ids)


def test_two_durable_commits_with_different_values_break_agreement() -> None:
    checkers = proposed(A, B)
    checkers.on_durable(0, [committed(I1, (A,), deps())])
    with pytest.raises(CheckFailed, match="agreement"):
        checkers.on_durable(1, [committed(I1, (B,), deps())])


def test_a_commit_decision_contradicting_a_chosen_value_fails_even_before_it_is_durable() -> None:
    checkers = proposed(A)
    checkers.on_durable(0, [committed(I1, (A,), deps())])
    with pytest.raises(CheckFailed, match="agreement"):
        checkers.on_records(2, [committed(I1, (), deps())])


def test_a_decision_lost_before_it_was_durable_does_not_bind_recovery() -> None:
    checkers = proposed(A)
    checkers.on_records(0, [committed(I1, (A,), deps())])  # the owner crashes before fsync
    checkers.on_durable(1, [committed(I1, (), deps())])  # recovery commits a NOP
    assert checkers.chosen[I1] == ((), deps())


def test_a_committed_command_nobody_proposed_breaks_nontriviality() -> None:
    with pytest.raises(CheckFailed, match="nontriviality"):
        proposed(A).on_durable(0, [committed(I1, (B,), deps())])


def test_interfering_commits_that_do_not_see_each_other_break_visibility() -> None:
    checkers = proposed(A, B, C)
    checkers.on_durable(0, [committed(I1, (A,), deps())])
    checkers.on_durable(0, [committed(I3, (C,), deps())])  # no conflict with A: fine
    with pytest.raises(CheckFailed, match="visibility"):
        checkers.on_durable(0, [committed(I2, (B,), deps(I3))])


def test_a_commit_may_miss_an_interfering_instance_executed_on_every_replica() -> None:
    # What garbage collection allows: recovery may validate a value against replicas
    # that forgot an instance every replica executed; that one runs first everywhere.
    checkers = proposed(A, B)
    checkers.on_durable(0, [committed(I1, (A,), deps())])
    for replica in range(N):
        execute(checkers, replica, KvState(), I1)
    checkers.on_durable(0, [committed(I2, (B,), deps())])


def test_a_commit_missing_an_instance_some_replica_has_not_executed_breaks_visibility() -> None:
    checkers = proposed(A, B)
    checkers.on_durable(0, [committed(I1, (A,), deps())])
    for replica in range(N - 1):
        execute(checkers, replica, KvState(), I1)
    with pytest.raises(CheckFailed, match="visibility"):
        checkers.on_durable(0, [committed(I2, (B,), deps())])


def test_interfering_commits_that_see_each_other_one_way_are_visible() -> None:
    checkers = proposed(A, B)
    checkers.on_durable(0, [committed(I1, (A,), deps(I2))])
    checkers.on_durable(0, [committed(I2, (B,), deps())])


def test_executing_an_instance_twice_is_caught() -> None:
    checkers = proposed(A)
    checkers.on_durable(0, [committed(I1, (A,), deps())])
    kv = KvState()
    execute(checkers, 0, kv, I1)
    with pytest.raises(CheckFailed, match="exactly-once"):
        execute(checkers, 0, kv, I1)


def test_executing_an_instance_nobody_committed_is_caught() -> None:
    checkers = proposed(A)
    with pytest.raises(CheckFailed, match="uncommitted"):
        checkers.before_execute(0, KvState(), I1, (A,))


def test_executing_before_a_dependency_is_caught() -> None:
    checkers = proposed(A, B)
    checkers.on_durable(0, [committed(I1, (A,), deps()), committed(I2, (B,), deps(I1))])
    with pytest.raises(CheckFailed, match="not its dependency 0.1"):
        execute(checkers, 0, KvState(), I2)


def test_a_dependency_on_a_nop_needs_no_execution() -> None:
    checkers = proposed(A)
    checkers.on_durable(0, [committed(I1, (), deps()), committed(I2, (A,), deps(I1))])
    execute(checkers, 0, KvState(), I2)


def test_interfering_requests_applied_in_different_orders_are_caught() -> None:
    checkers = proposed(A, B)
    # A dependency cycle: one component, which every replica must order the same way.
    checkers.on_durable(0, [committed(I1, (A,), deps(I2)), committed(I2, (B,), deps(I1))])
    execute(checkers, 0, KvState(), I1, I2)
    with pytest.raises(CheckFailed, match="execution consistency"):
        execute(checkers, 1, KvState(), I2, I1)


def test_commuting_requests_may_be_applied_in_any_order() -> None:
    checkers = proposed(A, C)
    checkers.on_durable(0, [committed(I1, (A,), deps()), committed(I3, (C,), deps())])
    first, second = KvState(), KvState()
    for kv, order in ((first, (I1, I3)), (second, (I3, I1))):
        for instance_id in order:
            execute(checkers, 0, kv, instance_id)
    checkers.check_states({0: first, 1: second})


def test_a_request_proposed_after_an_interfering_one_was_answered_must_follow_it() -> None:
    checkers = proposed(A)
    checkers.on_ack("a", 10.0)
    checkers.on_propose(R, 20.0)
    checkers.on_durable(0, [committed(I1, (A,), deps(I2)), committed(I2, (R,), deps(I1))])
    with pytest.raises(CheckFailed, match="real-time order"):
        execute(checkers, 0, KvState(), I2, I1)


def test_a_retried_request_takes_effect_once_per_replica() -> None:
    checkers = proposed(A)
    checkers.on_durable(0, [committed(I1, (A,), deps()), committed(I2, (A,), deps(I1))])
    kv = KvState()
    execute(checkers, 0, kv, I1)
    execute(checkers, 0, kv, I2)
    assert kv.effective_order() == ["a"]
    assert kv.executed == {I1, I2}


def test_liveness_names_what_a_live_replica_did_not_execute() -> None:
    checkers = proposed(A, C)
    checkers.on_durable(0, [committed(I1, (A,), deps()), committed(I3, (C,), deps())])
    done, behind = KvState(), KvState()
    execute(checkers, 0, done, I1)
    execute(checkers, 0, done, I3)
    execute(checkers, 1, behind, I1)
    checkers.check_liveness({0: done}, ["a", "c"], 1000.0)
    with pytest.raises(CheckFailed, match="r1 did not execute committed 2.1"):
        checkers.check_liveness({0: done, 1: behind}, ["a", "c"], 1000.0)


def test_diverging_replica_states_are_caught() -> None:
    checkers = proposed(A)
    left, right = KvState(), KvState()
    left.data["x"] = 1
    left.applied["a"] = 0
    right.data["x"] = 2
    right.applied["a"] = 0
    with pytest.raises(CheckFailed, match="replica states"):
        checkers.check_states({0: left, 1: left, 2: right})


def test_a_state_that_is_not_the_replay_of_its_own_order_is_caught() -> None:
    checkers = proposed(A)
    kv = KvState()
    kv.data["x"] = 99
    with pytest.raises(CheckFailed, match="replaying its own order"):
        checkers.check_states({0: kv})
