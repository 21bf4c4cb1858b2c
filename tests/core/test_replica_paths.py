"""Normal-case behaviour of one replica core: paths, batching, restart, catch-up, GC."""

from __future__ import annotations

import random

import pytest

from epaxdb.command import Command
from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError
from epaxdb.ids import InstanceId
from epaxdb.messages import (
    Accept,
    Commit,
    CommitQuery,
    Gossip,
    PreAccept,
    PreAcceptOk,
    empty_deps,
)
from epaxdb.records import InstanceRecord
from epaxdb.replica import Replica
from tests.core.cluster import ScriptedCluster, msg, write


def read(name: str, *keys: str) -> Command:
    return Command(name, name.encode(), frozenset(("kv", k) for k in keys), frozenset())


@pytest.mark.parametrize("size", [3, 5, 7])
def test_a_conflict_free_command_commits_on_the_fast_path_without_accept(size: int) -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(size))
    instance = cluster.propose(0, write("a", "x"))
    cluster.run()
    assert cluster.committed_value(instance) is not None
    assert cluster.replicas[0].stats.fast_commits == 1
    assert all(cluster.executed[r] == [instance] for r in range(size))


def test_an_acceptor_that_knows_a_conflict_forces_the_slow_path() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    earlier = cluster.propose(2, write("b", "x"))
    cluster.drop(msg(PreAccept, to=0))  # replica 0 never hears of b before a
    cluster.deliver(msg(PreAccept, to=1))
    later = cluster.propose(0, write("a", "x"))
    cluster.drop(msg(PreAccept, to=2, sender=0))
    cluster.deliver(msg(PreAccept, to=1, sender=0))
    cluster.deliver(msg(PreAcceptOk, to=0))  # 1 reports {b}: not the proposed deps
    # The fast path is still possible (2 may answer with the proposed deps): wait a bit.
    assert not any(isinstance(e.message, Accept) for e in cluster.pending)
    cluster.tick(cluster.config.fast_path_wait_ms * 3, replicas=[0])
    assert any(isinstance(e.message, Accept) for e in cluster.pending)
    cluster.settle(rounds=5)
    _, deps = cluster.committed_value(later)
    assert earlier in deps.ids
    assert cluster.replicas[0].stats.slow_commits == 1
    cluster.check_execution_order()


def test_reads_of_the_same_key_commit_independently_and_in_any_order() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    first = cluster.propose(0, read("r1", "x"))
    second = cluster.propose(1, read("r2", "x"))
    cluster.run()
    for instance in (first, second):
        _, deps = cluster.committed_value(instance)
        assert not deps.ids


def test_commands_proposed_in_one_iteration_form_one_batch() -> None:
    config = ClusterConfig.for_size(3, batch_size_max=10)
    cluster = ScriptedCluster(config)
    replica = cluster.replicas[0]
    for i in range(25):
        replica.propose(write(f"c{i}", f"k{i}"))
    cluster.flush(0)
    cluster.run()
    batches = [batch for _, batch in cluster.executions[1]]
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert replica.stats.instances_proposed == 3


def test_admission_control_queues_commands_beyond_the_inflight_limit() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3, max_inflight=1))
    cluster.propose(0, write("a", "x"))
    cluster.replicas[0].propose(write("b", "y"))
    cluster.flush(0)
    assert cluster.replicas[0].stats.instances_proposed == 1  # b waits for a to commit
    cluster.run()
    assert cluster.replicas[0].stats.instances_proposed == 2
    assert [c.request_id for _, b in cluster.executions[2] for c in b] == ["a", "b"]


def test_a_restarted_replica_never_reuses_a_slot() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    first = cluster.propose(0, write("a", "x"))
    cluster.crash(0)
    cluster.restart(0)
    second = cluster.propose(0, write("b", "y"))
    assert second.slot > first.slot


def test_a_restarted_owner_resolves_its_unfinished_instance_everywhere() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    instance = cluster.propose(0, write("a", "x"))
    cluster.drop(lambda e: True)
    cluster.crash(0)
    cluster.restart(0)
    cluster.settle(rounds=20)
    batch, _ = cluster.committed_value(instance)
    assert batch == ()  # nobody else had it and the owner lost its client: NOP
    for replica_id in range(3):
        assert cluster.replicas[replica_id].executed_prefix[0] == instance.slot


def test_a_nop_recovered_instance_is_proposed_again_by_its_live_owner() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    instance = cluster.propose(0, write("a", "x"))
    cluster.drop(lambda e: True)  # nobody heard of it
    cluster.replicas[1].recover(instance)  # 1 knows the id only (e.g. from a gossip)
    cluster.flush(1)
    cluster.settle(rounds=10)
    batch, _ = cluster.committed_value(instance)
    assert batch == ()  # recovered as NOP: the owner answered (case 3) or nobody had it
    assert cluster.replicas[0].stats.commands_reproposed == 1
    for replica_id in range(3):
        assert [c.request_id for _, b in cluster.executions[replica_id] for c in b] == ["a"]


def test_a_replica_that_missed_commits_learns_them_from_gossip() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    instance = cluster.propose(0, write("a", "x"))
    cluster.drop(msg(PreAccept, to=2))
    cluster.deliver(msg(PreAccept, to=1))
    cluster.deliver(msg(PreAcceptOk, to=0))
    cluster.drop(msg(Commit, to=2))
    cluster.run()
    assert cluster.executed[2] == []
    cluster.tick(1000, replicas=[0])  # 0 gossips its highest slots
    cluster.deliver(msg(Gossip, to=2))
    assert any(isinstance(e.message, CommitQuery) for e in cluster.pending)
    cluster.run()
    assert cluster.executed[2] == [instance]


def test_instances_executed_everywhere_are_garbage_collected() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    instances = [cluster.propose(i % 3, write(f"c{i}", "x")) for i in range(6)]
    cluster.settle(rounds=3)
    for _ in range(3):
        cluster.tick(1000)
        cluster.run()
    for replica_id in range(3):
        assert cluster.replicas[replica_id].instance_count == 0
        assert cluster.floors[replica_id] == (2, 2, 2)
    # A late duplicate about a collected instance creates nothing again.
    late = PreAccept(instances[0], (write("c0", "x"),), empty_deps(3))
    cluster.replicas[1].receive(0, late)
    assert cluster.replicas[1].instance_count == 0
    assert not cluster.replicas[1].take_ready()


def test_new_dependencies_carry_the_floor_and_skip_collected_instances() -> None:
    cluster = ScriptedCluster(ClusterConfig.for_size(3))
    cluster.propose(0, write("a", "x"))
    cluster.settle(rounds=2)
    for _ in range(3):
        cluster.tick(1000)
        cluster.run()
    later = cluster.propose(1, write("b", "x"))
    cluster.run()
    _, deps = cluster.committed_value(later)
    assert deps.ids == frozenset() and deps.floor == (1, 0, 0)
    assert deps.covers(InstanceId(0, 1))


def test_durable_records_precede_the_messages_that_reveal_them() -> None:
    replica = Replica(ClusterConfig.for_size(3), 1, random.Random(0))
    replica.receive(0, PreAccept(InstanceId(0, 1), (write("a", "x"),), empty_deps(3)))
    ready = replica.take_ready()
    assert [type(r) for r in ready.records] == [InstanceRecord]
    assert [type(m.message) for m in ready.messages] == [PreAcceptOk]


def test_unknown_mutations_and_bad_replica_ids_are_refused() -> None:
    config = ClusterConfig.for_size(3)
    with pytest.raises(ConfigError):
        Replica(config, 3, random.Random(0))
    with pytest.raises(ConfigError):
        Replica(config, 0, random.Random(0), mutations=frozenset({"no_such_bug"}))
