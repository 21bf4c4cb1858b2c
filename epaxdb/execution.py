"""Execution order: strongly connected components of the committed dependency graph.

Theory of operation (EPaxos* Fig. 1, no `seq`): an instance may execute once it and
everything it transitively depends on is committed. The graph over committed,
not yet executed instances is cut into strongly connected components with an
iterative Tarjan (no recursion limit). Tarjan emits components sinks first, i.e.
dependencies before dependants, which is the execution order; inside a component
instances run in instance-id order, a total order every replica shares. A component
that reaches an uncommitted instance is *blocked*, and so is every component that
depends on a blocked one; blocked work is retried when the blocker commits.

Dependencies that are already executed, or covered by an instance's deps floor
(executed on every replica), are not edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from epaxdb.errors import invariant
from epaxdb.ids import InstanceId
from epaxdb.instance import Instance


class ExecutedSet:
    """Executed instance ids, compactly: a contiguous prefix per owner plus the rest."""

    def __init__(self, replica_count: int, executed: Iterable[InstanceId] = ()) -> None:
        self.prefix = [0] * replica_count
        self._above: list[set[int]] = [set() for _ in range(replica_count)]
        for instance_id in executed:
            self.add(instance_id)

    def __contains__(self, instance_id: InstanceId) -> bool:
        return (
            instance_id.slot <= self.prefix[instance_id.owner]
            or instance_id.slot in self._above[instance_id.owner]
        )

    def advance_prefix(self, owner: int, slot: int) -> None:
        """Everything of `owner` up to `slot` is executed (known from the GC floor)."""
        if slot > self.prefix[owner]:
            self.prefix[owner] = slot
            self._above[owner] = {s for s in self._above[owner] if s > slot}
            self.add(InstanceId(owner, slot))

    def add(self, instance_id: InstanceId) -> None:
        owner, slot = instance_id.owner, instance_id.slot
        if slot <= self.prefix[owner]:
            return
        above = self._above[owner]
        above.add(slot)
        prefix = self.prefix[owner]
        while prefix + 1 in above:
            prefix += 1
            above.discard(prefix)
        self.prefix[owner] = prefix


def plan_execution(
    roots: Iterable[InstanceId],
    lookup: Callable[[InstanceId], Instance | None],
    executed: ExecutedSet,
    witnesses: dict[InstanceId, InstanceId] | None = None,
) -> tuple[list[Instance], set[InstanceId]]:
    """Return (instances to execute now, in order; uncommitted instances found blocking).

    `roots` are committed, unexecuted instances to try. The result never contains an
    instance with an uncommitted transitive dependency.

    `witnesses` maps each committed instance found blocked to one uncommitted instance
    it reaches; the caller keeps it between calls and retries a blocked root when its
    witness commits. While a witness stays uncommitted its instance is not walked
    again: nothing on the path to an uncommitted instance can execute, and committed
    deps never change, so the path persists. Without this, every commit re-walked the
    whole blocked region (with replicas down for long, the GC floor stalls, dependency
    sets grow, and the walks dominated: 94% of a slow simulated run)."""
    if witnesses is None:
        witnesses = {}
    roots = list(roots)
    if len(roots) == 1:
        # The common case without conflicts: a single root with nothing left to wait
        # for runs alone, without the graph walk.
        alone = lookup(roots[0])
        if (
            alone is not None
            and alone.committed
            and not alone.executed
            and alone.deps is not None
            and all(d in executed or d.slot <= alone.deps.floor[d.owner] for d in alone.deps.ids)
        ):
            witnesses.pop(alone.instance_id, None)
            return [alone], set()

    def uncommitted(instance_id: InstanceId) -> bool:
        if instance_id in executed:
            return False
        instance = lookup(instance_id)
        return instance is None or not instance.committed

    def live_witness(instance_id: InstanceId) -> InstanceId | None:
        witness = witnesses.get(instance_id)
        if witness is None:
            return None
        if uncommitted(witness):
            return witness
        del witnesses[instance_id]
        return None

    def edges(instance: Instance) -> list[InstanceId]:
        deps = instance.deps
        assert deps is not None
        return [d for d in deps.ids if d not in executed and d.slot > deps.floor[d.owner]]

    index_of: dict[InstanceId, int] = {}
    lowlink: dict[InstanceId, int] = {}
    on_stack: set[InstanceId] = set()
    stack: list[InstanceId] = []
    done: set[InstanceId] = set()  # members of components finished in this call
    blockers: set[InstanceId] = set()
    order: list[Instance] = []
    counter = 0

    for root in roots:
        if root in index_of or root in executed:
            continue
        root_instance = lookup(root)
        if root_instance is None or not root_instance.committed or root_instance.executed:
            continue
        if live_witness(root) is not None:
            continue
        # Each frame: (instance, its pending edges, [a witness it reaches, or None]).
        index_of[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        frames: list[tuple[Instance, list[InstanceId], list[InstanceId | None]]] = [
            (root_instance, edges(root_instance), [None])
        ]
        while frames:
            instance, pending, witness = frames[-1]
            node = instance.instance_id
            if pending:
                successor = pending.pop()
                if successor in index_of:
                    if successor in on_stack:
                        lowlink[node] = min(lowlink[node], index_of[successor])
                    elif witness[0] is None and successor in done:
                        witness[0] = witnesses.get(successor)
                    continue
                successor_instance = lookup(successor)
                if successor_instance is None or not successor_instance.committed:
                    blockers.add(successor)
                    if witness[0] is None:
                        witness[0] = successor
                    continue
                known = live_witness(successor)
                if known is not None:
                    if witness[0] is None:
                        witness[0] = known
                    continue
                index_of[successor] = lowlink[successor] = counter
                counter += 1
                stack.append(successor)
                on_stack.add(successor)
                frames.append((successor_instance, edges(successor_instance), [None]))
                continue
            frames.pop()
            if frames:
                parent = frames[-1][0]
                parent_id = parent.instance_id
                lowlink[parent_id] = min(lowlink[parent_id], lowlink[node])
            if lowlink[node] != index_of[node]:
                # Not a component root: pass the witness up to the component root.
                if witness[0] is not None and frames and frames[-1][2][0] is None:
                    frames[-1][2][0] = witness[0]
                continue
            component: list[InstanceId] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            done.update(component)
            if witness[0] is not None:
                for member in component:
                    witnesses[member] = witness[0]
                if frames and frames[-1][2][0] is None:
                    frames[-1][2][0] = witness[0]
                continue
            for member in sorted(component):
                member_instance = lookup(member)
                invariant(
                    member_instance is not None and member_instance.committed,
                    f"execution of uncommitted {member}",
                )
                assert member_instance is not None
                witnesses.pop(member, None)
                order.append(member_instance)
    return order, blockers
