"""Sim commands: conflict keys derived from their operations, and the workload mix."""

from __future__ import annotations

import random

from epaxdb.command import conflicts
from epaxdb.ids import InstanceId
from epaxdb.sim.kv import GROUP, KvState, decode_ops, make_command
from epaxdb.sim.workload import HOT_KEY, Workload, WorkloadSpec


def test_conflict_keys_follow_the_operations() -> None:
    command = make_command("r1", [("put", "a", 1), ("get", "b"), ("scan",)])
    assert command.writes == {(GROUP, "a")}
    assert command.reads == {(GROUP, "b"), (GROUP, None)}
    assert decode_ops(command.payload) == [("put", "a", 1), ("get", "b"), ("scan",)]


def test_reads_commute_and_a_clear_interferes_with_every_key() -> None:
    get_a = make_command("g", [("get", "a")])
    scan = make_command("s", [("scan",)])
    put_b = make_command("p", [("put", "b", 1)])
    clear = make_command("c", [("clear",)])
    assert not conflicts((get_a,), (scan,))
    assert conflicts((scan,), (put_b,))
    assert not conflicts((get_a,), (put_b,))
    assert conflicts((clear,), (get_a,)) and conflicts((clear,), (put_b,))


def test_the_store_applies_each_request_once_and_remembers_where() -> None:
    kv = KvState()
    put = make_command("r1", [("put", "a", 1)])
    overwrite = make_command("r2", [("put", "a", 2)])
    assert kv.apply(InstanceId(0, 1), (put,)) == [put]
    assert kv.apply(InstanceId(1, 1), (overwrite, put)) == [overwrite]
    assert kv.data == {"a": 2}
    assert kv.effective_order() == ["r1", "r2"]
    kv.apply(InstanceId(2, 1), (make_command("r3", [("clear",)]),))
    assert kv.data == {}


def test_full_conflict_puts_every_single_key_command_on_the_hot_key() -> None:
    spec = WorkloadSpec(commands=200, conflict=1.0, multi_key=0.0, scan=0.0, clear=0.0)
    workload = Workload(spec, random.Random(1))
    commands = [workload.next_command() for _ in range(200)]
    assert workload.exhausted
    assert all(c.reads | c.writes <= {(GROUP, HOT_KEY)} for c in commands)
    assert len({c.request_id for c in commands}) == 200


def test_no_conflict_rarely_shares_a_key() -> None:
    spec = WorkloadSpec(commands=200, conflict=0.0, scan=0.0, clear=0.0, global_share=0.0)
    workload = Workload(spec, random.Random(1))
    commands = [workload.next_command() for _ in range(200)]
    pairs = sum(conflicts((a,), (b,)) for i, a in enumerate(commands) for b in commands[i + 1 :])
    assert pairs <= 2
