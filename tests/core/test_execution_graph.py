"""Properties of the executor (`epaxdb.execution.plan_execution`, brief §5.1).

Random committed dependency graphs (cycles, NOPs, every conflicting pair ordered one
way or both, as Visibility guarantees) are committed in random orders at several
executors that drive `plan_execution` the way the replica does (a blocked root is
retried when the uncommitted witness recorded for it commits). Checked: each instance executes
exactly once everywhere; never while a transitive dependency is uncommitted;
interfering instances run in the same relative order everywhere; and the order is
the one the reference SCC computation prescribes (components contiguous, in
instance-id order inside, dependencies first)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from epaxdb.command import Batch, Command, conflicts
from epaxdb.execution import ExecutedSet, plan_execution
from epaxdb.ids import InstanceId
from epaxdb.instance import Instance
from epaxdb.messages import Deps, Phase

OWNERS = 3
KEYS = ("k0", "k1", "k2")


@dataclass(frozen=True)
class Graph:
    batches: dict[InstanceId, Batch]
    deps: dict[InstanceId, frozenset[InstanceId]]

    @property
    def ids(self) -> list[InstanceId]:
        return sorted(self.batches)


def batch_writing(name: str, keys: frozenset[str]) -> Batch:
    """One command writing `keys`; no keys is a NOP (the empty batch)."""
    if not keys:
        return ()
    return (Command(name, name.encode(), writes=frozenset(("kv", key) for key in keys)),)


@st.composite
def committed_graphs(draw: st.DrawFn) -> Graph:
    owners = draw(st.lists(st.integers(0, OWNERS - 1), min_size=1, max_size=10))
    next_slot = [0] * OWNERS
    batches: dict[InstanceId, Batch] = {}
    for owner in owners:
        next_slot[owner] += 1
        instance_id = InstanceId(owner, next_slot[owner])
        keys = draw(st.frozensets(st.sampled_from(KEYS), max_size=2))
        batches[instance_id] = batch_writing(str(instance_id), keys)
    ids = sorted(batches)
    deps: dict[InstanceId, set[InstanceId]] = {i: set() for i in ids}
    for position, a in enumerate(ids):
        for b in ids[position + 1 :]:
            if not (batches[a] and batches[b]):
                # A committed NOP has no deps, but others may depend on its id.
                nop, other = (a, b) if not batches[a] else (b, a)
                if batches[other] and draw(st.booleans()):
                    deps[other].add(nop)
                continue
            if conflicts(batches[a], batches[b]):
                direction = draw(st.sampled_from(("a->b", "b->a", "both")))
                if direction != "b->a":
                    deps[a].add(b)
                if direction != "a->b":
                    deps[b].add(a)
    return Graph(batches, {i: frozenset(d) for i, d in deps.items()})


def reachable(graph: Graph, start: InstanceId) -> set[InstanceId]:
    seen = {start}
    todo = [start]
    while todo:
        for dep in graph.deps[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def reference_components(graph: Graph) -> dict[InstanceId, frozenset[InstanceId]]:
    """SCCs by mutual reachability: quadratic, obviously right."""
    reach = {i: reachable(graph, i) for i in graph.ids}
    return {i: frozenset(j for j in reach[i] if i in reach[j]) for i in graph.ids}


class Executor:
    """Commits instances one by one and executes what `plan_execution` allows,
    retrying a blocked root when its witness commits (as Replica does)."""

    def __init__(self, graph: Graph, knows_uncommitted: bool) -> None:
        self.graph = graph
        self.instances: dict[InstanceId, Instance] = {}
        if knows_uncommitted:  # dependencies pre-accepted here, not yet committed
            for instance_id in graph.ids:
                instance = self.instances[instance_id] = Instance(instance_id)
                instance.phase = Phase.PREACCEPTED
        self.executed = ExecutedSet(OWNERS)
        self.order: list[InstanceId] = []
        self.blocked_on: dict[InstanceId, set[InstanceId]] = defaultdict(set)
        self.witnesses: dict[InstanceId, InstanceId] = {}

    def commit(self, instance_id: InstanceId) -> None:
        instance = self.instances.get(instance_id) or Instance(instance_id)
        self.instances[instance_id] = instance
        instance.commit(
            instance.ballot,
            self.graph.batches[instance_id],
            Deps(self.graph.deps[instance_id], (0,) * OWNERS),
        )
        roots = {instance_id} | self.blocked_on.pop(instance_id, set())
        order, _ = plan_execution(
            sorted(roots), self.instances.get, self.executed, self.witnesses
        )
        for ready in order:
            self.execute(ready)
        for root in roots:
            if root not in self.executed:
                witness = self.witnesses[root]
                assert witness not in self.instances or not self.instances[witness].committed
                self.blocked_on[witness].add(root)

    def execute(self, instance: Instance) -> None:
        instance_id = instance.instance_id
        assert not instance.executed and instance_id not in self.executed, "executed twice"
        uncommitted = [
            dep
            for dep in reachable(self.graph, instance_id)
            if dep not in self.instances or not self.instances[dep].committed
        ]
        assert not uncommitted, f"{instance_id} executed before {uncommitted} committed"
        instance.executed = True
        self.executed.add(instance_id)
        self.order.append(instance_id)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), graph=committed_graphs())
def test_every_executor_runs_each_instance_once_in_the_prescribed_order(
    data: st.DataObject, graph: Graph
) -> None:
    executors = []
    for _ in range(3):
        executor = Executor(graph, knows_uncommitted=data.draw(st.booleans()))
        for instance_id in data.draw(st.permutations(graph.ids)):
            executor.commit(instance_id)
        assert sorted(executor.order) == graph.ids
        executors.append(executor)

    components = reference_components(graph)
    for executor in executors:
        position = {instance_id: i for i, instance_id in enumerate(executor.order)}
        for instance_id in graph.ids:
            members = sorted(components[instance_id])
            # Components are contiguous and in instance-id order.
            first = position[members[0]]
            assert [executor.order[first + k] for k in range(len(members))] == members
            for dep in graph.deps[instance_id]:
                if dep not in components[instance_id]:
                    assert position[dep] < position[instance_id]  # dependencies first

    for position_a, a in enumerate(graph.ids):
        for b in graph.ids[position_a + 1 :]:
            if (
                graph.batches[a]
                and graph.batches[b]
                and conflicts(graph.batches[a], graph.batches[b])
            ):
                orders = {e.order.index(a) < e.order.index(b) for e in executors}
                assert len(orders) == 1, f"{a} and {b} run in different orders"


def chain(length: int, cycle: bool) -> dict[InstanceId, Instance]:
    """Committed instances 0.1 .. 0.length, each depending on the previous one; with
    `cycle`, the first depends on the last too."""
    instances: dict[InstanceId, Instance] = {}
    for slot in range(1, length + 1):
        previous = {InstanceId(0, slot - 1)} if slot > 1 else set()
        if cycle and slot == 1:
            previous = {InstanceId(0, length)}
        instance = instances[InstanceId(0, slot)] = Instance(InstanceId(0, slot))
        instance.commit(
            instance.ballot,
            batch_writing(f"c{slot}", frozenset({"k"})),
            Deps(frozenset(previous), (0,) * OWNERS),
        )
    return instances


def test_a_long_dependency_chain_executes_without_recursion_limits() -> None:
    """Iterative Tarjan (issue 3): 5,000 chained instances (five times Python's
    recursion limit) execute dependencies first."""
    instances = chain(5_000, cycle=False)
    order, blockers = plan_execution([InstanceId(0, 5_000)], instances.get, ExecutedSet(OWNERS))
    assert not blockers
    assert [i.instance_id.slot for i in order] == list(range(1, 5_001))


def test_a_long_cycle_is_one_component_in_instance_id_order() -> None:
    instances = chain(5_000, cycle=True)
    order, _ = plan_execution([InstanceId(0, 2_500)], instances.get, ExecutedSet(OWNERS))
    assert [i.instance_id.slot for i in order] == list(range(1, 5_001))


def test_dependencies_below_the_floor_or_already_executed_are_not_waited_for() -> None:
    """GC (messages.Deps): a dep covered by the floor may be unknown; an executed one
    need not be looked up."""
    executed = ExecutedSet(OWNERS, [InstanceId(1, 1)])
    instance = Instance(InstanceId(0, 1))
    instance.commit(
        instance.ballot,
        batch_writing("a", frozenset({"k"})),
        Deps(frozenset({InstanceId(1, 1), InstanceId(2, 3)}), (0, 0, 3)),
    )
    order, blockers = plan_execution(
        [instance.instance_id], {instance.instance_id: instance}.get, executed
    )
    assert order == [instance] and not blockers


def test_an_uncommitted_dependency_blocks_its_dependants_and_is_reported() -> None:
    instances = chain(3, cycle=False)
    del instances[InstanceId(0, 1)]
    order, blockers = plan_execution([InstanceId(0, 3)], instances.get, ExecutedSet(OWNERS))
    assert order == [] and blockers == {InstanceId(0, 1)}
