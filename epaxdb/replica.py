"""One EPaxos* replica as a pure state machine (sans-I/O).

Theory of operation
-------------------
Inputs: `propose` (a client command), `receive` (a peer's message), `tick` (the
driver's clock, in ms). Outputs accumulate in a `Ready` taken with `take_ready`:
records to make durable, then messages to send, then instances to execute. The
driver must finish step 1 before step 2, which is how every vote, decision and
ballot becomes durable before anyone can learn of it (EPaxos* §4.7 of the brief).

Protocol (Ryabinin, Gotsman, Sutra 2025, optimized rules, parameters (n, f, e)):
- Commands proposed between two `take_ready` calls become one instance (a batch).
  The owner pre-accepts it with the conflicting instances it knows (D0) and sends
  PreAccept to all. An acceptor adds what it knows; it pre-accepts only while it has
  joined no ballot above 0 (so a recovery can count on it never voting later).
- Thrifty mode (config.thrifty): the owner's PreAccept and Accept at ballot 0 go
  first only to the peers a quorum needs, best-ranked first (`set_peer_order`), and to
  every peer when the widening timer fires; peers that stayed silent then are ranked
  last until heard from. Who is asked never matters for safety, only for latency;
  recoveries always ask everyone.
- Fast path: n - e PreAcceptOk (the owner's own included) all reporting exactly D0 ->
  commit (c, D0) at ballot 0. Otherwise, with n - f replies and the fast path
  impossible or too slow: Accept the union at ballot 0, commit on n - f AcceptOk.
- Recovery (replica_recovery.py; its decisions in recovery.py) when an instance
  stays uncommitted: Recover / RecoverOk, possibly Validate / ValidateOk and Waiting;
  the only outcomes are the committed value, the highest accepted value, the owner's
  (c, D0), or NOP. A NOP'ed own instance's commands are proposed again.
- `ballot` (joined) and `accepted_ballot` (voted) are kept apart (Sutra's bug).
- Execution (execution.py): SCCs of the committed graph, dependencies first,
  instance-id order inside a component.
- Garbage collection (replica_gc.py): replicas gossip their executed prefixes; instances executed
  on every replica (slot <= floor) are dropped, and new dependency sets carry the
  floor so that a dropped instance counts as a dependency everywhere (messages.Deps).

Mutations (`MUTATIONS`) deliberately reintroduce published bugs; the regression tests
show the checks catch each one. They are never enabled outside tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from epaxdb.command import Batch, Command, Footprint
from epaxdb.config import ClusterConfig
from epaxdb.conflict_index import ConflictIndex
from epaxdb.errors import ConfigError, invariant
from epaxdb.execution import ExecutedSet, plan_execution
from epaxdb.ids import Ballot, InstanceId, ReplicaId
from epaxdb.instance import Instance
from epaxdb.messages import (
    Accept,
    AcceptOk,
    Commit,
    CommitQuery,
    Deps,
    Forward,
    Gossip,
    Message,
    Nack,
    Phase,
    PreAccept,
    PreAcceptOk,
    Recover,
    RecoverOk,
    Validate,
    ValidateOk,
    Waiting,
)
from epaxdb.records import (
    Execution,
    InstanceRecord,
    Outgoing,
    Ready,
    RestoredState,
)
from epaxdb.replica_gc import GossipRole
from epaxdb.replica_recovery import BACKOFF_MAX, RecoveryAttempt, RecoveryRole

MUTATIONS = frozenset(
    {
        "single_ballot",  # T6: RecoverOk reports the joined ballot as the vote ballot
        "fixed_threshold",  # T4(i): recovery threshold |Q| - 1 whatever e is
        "decide_after_join",  # T5: the owner decides at ballot 0 after joining a recovery
        "ignore_committed_invalidators",  # T7
        "exact_clause_at_least",  # T8: Lemma 11 applied with >= instead of =
        "abort_on_any_invalidator",  # T9
        "waiting_threshold_at_least",  # T10: Waiting(k) aborts with k >= n-f-e
        "unguarded_validate",  # T12: Validate overwrites an accepted value
        "wait_local_value",  # T13(i): after waiting, accept the recoverer's local value
        "preaccept_after_recover",  # T15: pre-accept after joining a higher ballot
    }
)


@dataclass(slots=True)
class ReplicaStats:
    commands_proposed: int = 0
    instances_proposed: int = 0
    fast_commits: int = 0
    slow_commits: int = 0
    recoveries_started: int = 0
    recovery_commits: int = 0
    nops_committed: int = 0
    commands_reproposed: int = 0
    instances_executed: int = 0
    commands_executed: int = 0


@dataclass(slots=True)
class _Leading:
    """The owner's bookkeeping for its instance at ballot 0 (volatile)."""

    replies: dict[ReplicaId, Deps] = field(default_factory=dict)
    fast_deadline_ms: float | None = None
    asked: tuple[ReplicaId, ...] = ()  # peers sent the PreAccept (fewer in thrifty mode)


class Replica(RecoveryRole, GossipRole):
    def __init__(
        self,
        config: ClusterConfig,
        replica_id: ReplicaId,
        rng: random.Random,
        restored: RestoredState | None = None,
        mutations: frozenset[str] = frozenset(),
    ) -> None:
        config.validate()
        if not 0 <= replica_id < config.replica_count:
            raise ConfigError(f"replica id {replica_id} outside 0..{config.replica_count - 1}")
        unknown = mutations - MUTATIONS
        if unknown:
            raise ConfigError(f"unknown mutations: {sorted(unknown)}")
        self.config = config
        self.replica_id = replica_id
        self.stats = ReplicaStats()
        self._n = config.replica_count
        self._peer_ids = tuple(r for r in range(config.replica_count) if r != replica_id)
        # Thrifty mode asks the first peers of this ranking; until the driver ranks them
        # by latency, each replica starts with its successors (spreads the load).
        self._peer_order = tuple((replica_id + k) % self._n for k in range(1, self._n))
        self._widen_ms = config.thrifty_widen_ms
        self._silent: set[ReplicaId] = set()  # see _note_silent
        self._rng = rng
        self._mutations = mutations
        self._now_ms = 0.0
        self._next_gossip_ms = 0.0
        self._instances: dict[InstanceId, Instance] = {}
        self._index = ConflictIndex()
        self._uncommitted: dict[InstanceId, Instance] = {}
        self._open_nops: set[InstanceId] = set()
        self._leading: dict[InstanceId, _Leading] = {}
        self._accepts: dict[InstanceId, tuple[Ballot, set[ReplicaId]]] = {}
        self._recoveries: dict[InstanceId, RecoveryAttempt] = {}
        self._waiting_seen: dict[InstanceId, int] = {}
        self._own_batches: dict[InstanceId, Batch] = {}
        self._queue: list[Command] = []
        self._next_slot = 1
        self.last_proposed: InstanceId | None = None
        self._highest_slot = [0] * self._n
        self._floor = (0,) * self._n
        self._pruned_upto = [0] * self._n
        self._peer_executed = [[0] * self._n for _ in range(self._n)]
        # Floors the replicas announced; below their minimum everyone has dropped the
        # instances, so the conflict index may forget them too (see _on_pre_accept).
        self._peer_floor = [[0] * self._n for _ in range(self._n)]
        self._shared_floor = (0,) * self._n
        self._index_pruned_upto = [0] * self._n
        self._executed = ExecutedSet(self._n)
        self._blocked_on: dict[InstanceId, set[InstanceId]] = {}
        self._witnesses: dict[InstanceId, InstanceId] = {}  # see plan_execution
        self._to_execute: set[InstanceId] = set()
        self._ready = Ready()
        self._dirty: dict[InstanceId, Instance] = {}
        if restored is not None:
            self._restore(restored)

    # ------------------------------------------------------------------ inputs

    def propose(self, command: Command) -> None:
        self.stats.commands_proposed += 1
        self._queue.append(command)

    def receive(self, sender: ReplicaId, message: Message) -> None:
        if not 0 <= sender < self._n or sender == self.replica_id:
            return
        if self._silent:
            self._silent.discard(sender)
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            handler(self, sender, message)

    def tick(self, now_ms: float) -> None:
        self._now_ms = now_ms
        for instance in list(self._uncommitted.values()):
            if instance.deadline_ms is None:
                self._arm(instance, self.config.recovery_timeout_ms)
            elif now_ms >= instance.deadline_ms:
                self._on_timeout(instance)
        if now_ms >= self._next_gossip_ms:
            self._next_gossip_ms = now_ms + self.config.gossip_interval_ms
            self._gossip()

    def take_ready(self) -> Ready:
        if self._queue:
            self._admit()
        if self._to_execute:
            self._execute()
        ready = self._ready
        if self._dirty:
            ready.records.extend([instance.to_record() for instance in self._dirty.values()])
            self._dirty = {}
        self._ready = Ready()
        return ready

    def recover(self, instance_id: InstanceId) -> None:
        """Start recovering `instance_id` now instead of waiting for its timer (for a
        driver or operator that knows its owner is gone, and for scenario tests)."""
        if self._is_collected(instance_id):
            return
        instance = self._instance(instance_id)
        if not instance.committed:
            self._recoveries.pop(instance_id, None)
            self._start_recovery(instance)

    def set_peer_order(self, peers: Sequence[ReplicaId], widen_ms: float | None = None) -> None:
        """Rank the peers, the one expected to answer first first, and optionally set
        how long thrifty mode waits before asking the others (the driver measures round
        trips; the core has no clock of its own)."""
        order = tuple(peers)
        if sorted(order) != list(self._peer_ids):
            raise ConfigError(f"peer order {order} is not a permutation of {self._peer_ids}")
        if widen_ms is not None and not widen_ms > 0:
            raise ConfigError(f"widen_ms must be positive, got {widen_ms}")
        self._peer_order = order
        if widen_ms is not None:
            self._widen_ms = widen_ms

    # ------------------------------------------------------------------ queries

    def record_of(self, instance_id: InstanceId) -> InstanceRecord | None:
        instance = self._instances.get(instance_id)
        return None if instance is None else instance.to_record()

    @property
    def floor(self) -> tuple[int, ...]:
        return self._floor

    @property
    def executed_prefix(self) -> tuple[int, ...]:
        return tuple(self._executed.prefix)

    @property
    def instance_count(self) -> int:
        return len(self._instances)

    @property
    def pending_commands(self) -> int:
        return len(self._queue) + sum(len(batch) for batch in self._own_batches.values())

    # ------------------------------------------------------------------ proposing

    def _admit(self) -> None:
        leader = self.config.leader
        if leader is not None and leader != self.replica_id:
            # Multi-Paxos baseline: the leader orders everything. What it loses in a
            # crash is lost (the client sees a timeout): no failover, by design.
            size = self.config.batch_size_max
            for start in range(0, len(self._queue), size):
                self._send(leader, Forward(tuple(self._queue[start : start + size])))
            self._queue = []
            return
        inflight = len(self._own_batches)
        while self._queue and inflight < self.config.max_inflight:
            size = self.config.batch_size_max
            batch, self._queue = tuple(self._queue[:size]), self._queue[size:]
            self._start_instance(batch)
            inflight += 1

    def _start_instance(self, batch: Batch) -> None:
        self._next_slot = max(self._next_slot, self._highest_slot[self.replica_id] + 1)
        instance_id = InstanceId(self.replica_id, self._next_slot)
        self._next_slot += 1
        instance = self._instance(instance_id)
        self._own_batches[instance_id] = batch
        self.last_proposed = instance_id
        self.stats.instances_proposed += 1
        if self.config.leader is not None:
            # Multi-Paxos: each instance follows the leader's previous one (a chain, so
            # execution is in slot order) and goes straight to phase 2 at ballot 0,
            # which the leader owns: phase 1 is implicit, as with a stable leader.
            # The previous slot, not the last proposal: a restarted leader has none, and
            # an orphaned slot nobody knows is recovered as a NOP by whoever needs it.
            previous = InstanceId(self.replica_id, instance_id.slot - 1)
            chain = () if self._is_collected(previous) else (previous,)
            deps = Deps(frozenset(chain), self._floor)
            self._accept_and_broadcast(instance, instance.ballot, batch, deps)
            return
        footprint = Footprint.of(batch)
        deps = Deps(frozenset(self._conflicting(instance_id, footprint, self._floor)), self._floor)
        self._pre_accept(instance, batch, deps, deps, footprint)
        leading = self._leading[instance_id] = _Leading()
        leading.replies[self.replica_id] = deps
        asked = self._send_to_quorum(PreAccept(instance_id, batch, deps), self.config.fast_quorum)
        leading.asked = asked
        self._arm(instance, self._first_retransmit_ms(asked))
        self._try_decide(instance, leading)

    def _pre_accept(
        self,
        instance: Instance,
        batch: Batch,
        deps: Deps,
        initial_deps: Deps,
        footprint: Footprint,
    ) -> None:
        """l.11-18: `deps` is this replica's view; `initial_deps` the owner's D0, kept
        apart so recovery can tell replies that added nothing (R_max) from the rest."""
        instance.set_value(batch, deps, footprint)
        instance.initial_batch = batch
        instance.initial_deps = initial_deps
        instance.phase = Phase.PREACCEPTED
        self._index_value(instance)
        self._touch(instance)

    def _index_value(self, instance: Instance) -> None:
        """Keep the index and the set of open NOPs in step with an instance's value."""
        instance_id = instance.instance_id
        if instance.batch:
            self._index.add(instance_id, instance.footprint)
        if instance.is_nop and not instance.committed:
            self._open_nops.add(instance_id)
        else:
            self._open_nops.discard(instance_id)

    def _conflicting(
        self, instance_id: InstanceId, footprint: Footprint, floor: tuple[int, ...]
    ) -> set[InstanceId]:
        found = (
            {
                nop_id
                for nop_id in self._open_nops
                if nop_id != instance_id and nop_id.slot > floor[nop_id.owner]
            }
            if self._open_nops
            else set()
        )
        for candidate_id in self._index.candidates(footprint):
            if candidate_id == instance_id or candidate_id.slot <= floor[candidate_id.owner]:
                continue
            candidate = self._instances.get(candidate_id)
            # A dropped instance (executed everywhere) is known by its keys only.
            if (
                candidate is None
                or candidate.conflicts_now(footprint)
                or candidate.was_conflicting_nop(footprint)
            ):
                found.add(candidate_id)
        return found

    # ------------------------------------------------------------------ phase 1

    def _on_pre_accept(self, sender: ReplicaId, message: PreAccept) -> None:
        instance_id = message.instance_id
        if sender != instance_id.owner:
            return
        instance = self._undecided(sender, instance_id)
        if instance is None:
            return
        joined_recovery = not instance.ballot.is_initial
        if joined_recovery and "preaccept_after_recover" not in self._mutations:
            return  # never vote at ballot 0 after promising a recovery ballot
        if instance.phase is Phase.INITIAL:
            footprint = Footprint.of(message.batch)
            floor = message.deps.floor
            if any(map(int.__lt__, floor, self._shared_floor)):
                # The proposer's floor predates instances this replica has forgotten the
                # keys of: cover them by raising the floor (they ran everywhere).
                floor = tuple(map(max, floor, self._shared_floor))
            local = self._conflicting(instance_id, footprint, floor)
            deps = Deps(message.deps.ids | local, floor)
            self._pre_accept(instance, message.batch, deps, message.deps, footprint)
            self._arm(instance, self.config.recovery_timeout_ms)
        if instance.phase is Phase.PREACCEPTED:
            assert instance.deps is not None
            self._send(sender, PreAcceptOk(instance_id, instance.deps))

    def _on_pre_accept_ok(self, sender: ReplicaId, message: PreAcceptOk) -> None:
        leading = self._leading.get(message.instance_id)
        if leading is None:
            return
        instance = self._instances[message.instance_id]
        leading.replies[sender] = message.deps
        self._try_decide(instance, leading)

    def _try_decide(self, instance: Instance, leading: _Leading, timed_out: bool = False) -> None:
        """The owner's one decision at ballot 0: fast commit, slow Accept, or wait."""
        may_decide = instance.ballot.is_initial or "decide_after_join" in self._mutations
        if instance.phase is not Phase.PREACCEPTED or not may_decide:
            return
        initial = instance.initial_deps
        assert initial is not None and instance.batch is not None
        matching = sum(1 for deps in leading.replies.values() if deps == initial)
        if matching >= self.config.fast_quorum:
            del self._leading[instance.instance_id]
            self.stats.fast_commits += 1
            self._commit_and_broadcast(instance, instance.ballot, instance.batch, initial)
            return
        replied = len(leading.replies)
        if replied < self.config.slow_quorum:
            return
        fast_possible = matching + (len(leading.asked) + 1 - replied) >= self.config.fast_quorum
        if fast_possible and not timed_out:
            if leading.fast_deadline_ms is None:
                leading.fast_deadline_ms = self._now_ms + self.config.fast_path_wait_ms
                if instance.deadline_ms is None or instance.deadline_ms > leading.fast_deadline_ms:
                    instance.deadline_ms = leading.fast_deadline_ms
            return
        del self._leading[instance.instance_id]
        union = initial
        for deps in leading.replies.values():
            union = union.union(deps)
        self._accept_and_broadcast(instance, instance.ballot, instance.batch, union)

    # ------------------------------------------------------------------ phase 2

    def _accept_and_broadcast(
        self, instance: Instance, ballot: Ballot, batch: Batch, deps: Deps
    ) -> None:
        instance.accept(ballot, batch, deps)
        self._index_value(instance)
        self._touch(instance)
        self._accepts[instance.instance_id] = (ballot, {self.replica_id})
        message = Accept(instance.instance_id, ballot, batch, deps)
        if ballot.is_initial:
            asked = self._send_to_quorum(message, self.config.slow_quorum)
        else:
            # A recovery is never thrifty: waiting to widen while another replica's
            # recovery timer runs only invites a duel (seen as a livelock in simulation).
            self._broadcast(message)
            asked = self._peer_ids
        self._arm(instance, self._first_retransmit_ms(asked))
        self._try_commit_accepted(instance)

    def _send_to_quorum(self, message: Message, quorum: int) -> tuple[ReplicaId, ...]:
        """Send a vote request to every peer, or in thrifty mode to the `quorum - 1`
        best-ranked ones that have not gone silent (the rest are asked when the first
        timer fires). Returns the peers asked."""
        if not self.config.thrifty:
            self._broadcast(message)
            return self._peer_ids
        order = self._peer_order
        if self._silent:
            order = tuple(p for p in order if p not in self._silent) + tuple(
                p for p in order if p in self._silent
            )
        chosen = order[: quorum - 1]
        for peer in chosen:
            self._send(peer, message)
        return chosen

    def _note_silent(self, asked: Sequence[ReplicaId], replied: Iterable[ReplicaId]) -> None:
        """Thrifty mode had to widen: the peers asked that did not answer are ranked
        last until they are heard from again. The driver's ranking (round-trip times)
        learns nothing from a peer that is down, and re-asking it first made every new
        instance wait out the widening timer, while other replicas' recovery timers
        turned those instances into NOPs (a near-livelock in simulation: 5 replicas,
        two down, seed 1087)."""
        answered = set(replied)
        self._silent.update(peer for peer in asked if peer not in answered)

    def _first_retransmit_ms(self, asked: Sequence[ReplicaId]) -> float:
        if len(asked) < len(self._peer_ids):
            return min(self._widen_ms, self.config.retransmit_ms)
        return self.config.retransmit_ms

    def _undecided(self, sender: ReplicaId, instance_id: InstanceId) -> Instance | None:
        """The instance a vote-asking message is about, or None when there is nothing to
        vote on: garbage collected, or committed (then the sender gets the Commit, so
        its attempt finishes: brief §4.6.1)."""
        if self._is_collected(instance_id):
            return None
        instance = self._instance(instance_id)
        if instance.committed:
            self._send_commit(sender, instance)
            return None
        return instance

    def _on_accept(self, sender: ReplicaId, message: Accept) -> None:
        instance_id = message.instance_id
        instance = self._undecided(sender, instance_id)
        if instance is None:
            return
        if message.ballot < instance.ballot:
            self._send(sender, Nack(instance_id, instance.ballot))
            return
        self._abandon_lower(instance, message.ballot)
        instance.accept(message.ballot, message.batch, message.deps)
        self._index_value(instance)
        self._touch(instance)
        self._arm(instance, self.config.recovery_timeout_ms)
        self._send(sender, AcceptOk(instance_id, message.ballot))

    def _on_accept_ok(self, sender: ReplicaId, message: AcceptOk) -> None:
        tally = self._accepts.get(message.instance_id)
        if tally is None or tally[0] != message.ballot:
            return
        tally[1].add(sender)
        self._try_commit_accepted(self._instances[message.instance_id])

    def _try_commit_accepted(self, instance: Instance) -> None:
        ballot, voters = self._accepts[instance.instance_id]
        if len(voters) < self.config.slow_quorum:
            return
        if instance.ballot != ballot or instance.phase is not Phase.ACCEPTED:
            return
        del self._accepts[instance.instance_id]
        assert instance.batch is not None and instance.deps is not None
        if ballot.is_initial:
            self.stats.slow_commits += 1
        else:
            self.stats.recovery_commits += 1
        self._commit_and_broadcast(instance, ballot, instance.batch, instance.deps)

    # ------------------------------------------------------------------ commit

    def _commit_and_broadcast(
        self, instance: Instance, ballot: Ballot, batch: Batch, deps: Deps
    ) -> None:
        self._commit(instance, ballot, batch, deps)
        self._broadcast(Commit(instance.instance_id, ballot, batch, deps))

    def _on_commit(self, sender: ReplicaId, message: Commit) -> None:
        if self._is_collected(message.instance_id):
            return
        instance = self._instance(message.instance_id)
        self._commit(instance, message.ballot, message.batch, message.deps)

    def _commit(self, instance: Instance, ballot: Ballot, batch: Batch, deps: Deps) -> None:
        if instance.committed:
            invariant(
                instance.batch == batch and instance.deps == deps,
                f"agreement violated on {instance.instance_id}",
            )
            return
        instance_id = instance.instance_id
        instance.commit(ballot, batch, deps)
        self._index_value(instance)
        self._touch(instance)
        self._uncommitted.pop(instance_id, None)
        self._leading.pop(instance_id, None)
        self._accepts.pop(instance_id, None)
        self._recoveries.pop(instance_id, None)
        own = self._own_batches.pop(instance_id, None)
        if not batch:
            self.stats.nops_committed += 1
            if own:
                # Recovery aborted our instance: its commands must still run, once.
                self.stats.commands_reproposed += len(own)
                self._queue[:0] = own
        self._to_execute.add(instance_id)
        for waiter in self._blocked_on.pop(instance_id, ()):
            self._to_execute.add(waiter)
        self._recheck_waits(instance_id)

    def _send_commit(self, to: ReplicaId, instance: Instance) -> None:
        assert instance.batch is not None and instance.deps is not None
        self._send(
            to,
            Commit(instance.instance_id, instance.accepted_ballot, instance.batch, instance.deps),
        )

    def _on_forward(self, sender: ReplicaId, message: Forward) -> None:
        if self.config.leader == self.replica_id:
            self._queue.extend(message.batch)

    def _on_commit_query(self, sender: ReplicaId, message: CommitQuery) -> None:
        for instance_id in message.instance_ids:
            instance = self._instances.get(instance_id)
            if instance is not None and instance.committed:
                self._send_commit(sender, instance)

    # ------------------------------------------------------------------ ballots

    def _abandon_lower(self, instance: Instance, ballot: Ballot) -> None:
        """Drop our own attempts at ballots below `ballot` for this instance."""
        instance_id = instance.instance_id
        attempt = self._recoveries.get(instance_id)
        if attempt is not None and attempt.ballot < ballot:
            del self._recoveries[instance_id]
        tally = self._accepts.get(instance_id)
        if tally is not None and tally[0] < ballot:
            del self._accepts[instance_id]
        if not ballot.is_initial and "decide_after_join" not in self._mutations:
            self._leading.pop(instance_id, None)

    # ------------------------------------------------------------------ timers

    def _arm(self, instance: Instance, delay_ms: float) -> None:
        if instance.committed:
            return
        jitter = 1.0 + self._rng.random()
        instance.deadline_ms = self._now_ms + delay_ms * instance.backoff * jitter
        self._uncommitted[instance.instance_id] = instance

    def _on_timeout(self, instance: Instance) -> None:
        instance_id = instance.instance_id
        leading = self._leading.get(instance_id)
        if leading is not None:
            if leading.fast_deadline_ms is not None and self._now_ms >= leading.fast_deadline_ms:
                # Deciding sends the Accept (or Commit) and arms its own timer.
                self._try_decide(instance, leading, timed_out=True)
            if instance_id in self._leading:
                if len(leading.asked) < len(self._peer_ids):
                    self._note_silent(leading.asked, leading.replies)
                self._retransmit_pre_accept(instance, leading)
                leading.asked = self._peer_ids  # widened, if thrifty
                self._arm(instance, self.config.retransmit_ms)
            return
        tally = self._accepts.get(instance_id)
        if tally is not None and not instance.committed:
            assert instance.batch is not None and instance.deps is not None
            message = Accept(instance_id, tally[0], instance.batch, instance.deps)
            for peer in self._peers():
                if peer not in tally[1]:
                    self._send(peer, message)
            self._arm(instance, self.config.retransmit_ms)
            return
        if instance.committed:
            return
        if instance.timer_stage == 0:
            # Cheap first: someone may simply have the commit we missed. Then recover,
            # the owner's successors first: replicas ranked later wait longer, so they
            # rarely duel over one instance.
            instance.timer_stage = 1
            self._broadcast(CommitQuery((instance_id,)))
            rank = (self.replica_id - instance_id.owner - 1) % self._n
            self._arm(instance, self.config.recovery_timeout_ms * (1 + rank))
            return
        attempt = self._recoveries.get(instance_id)
        if attempt is not None:
            # A stuck attempt: the same ballot can no longer gather its quorum.
            del self._recoveries[instance_id]
        instance.backoff = min(instance.backoff * 2, BACKOFF_MAX)
        self._start_recovery(instance)

    def _retransmit_pre_accept(self, instance: Instance, leading: _Leading) -> None:
        assert instance.initial_batch is not None and instance.initial_deps is not None
        message = PreAccept(instance.instance_id, instance.initial_batch, instance.initial_deps)
        for peer in self._peers():
            if peer not in leading.replies:
                self._send(peer, message)

    # ------------------------------------------------------------------ execution

    def _execute(self) -> None:
        roots = sorted(self._to_execute)
        self._to_execute = set()
        order, blockers = plan_execution(
            roots, self._instances.get, self._executed, self._witnesses
        )
        for instance in order:
            instance.executed = True
            self._executed.add(instance.instance_id)
            self.stats.instances_executed += 1
            if instance.batch:
                self.stats.commands_executed += len(instance.batch)
                self._ready.executions.append(Execution(instance.instance_id, instance.batch))
        for root in roots:
            if root in self._executed:
                continue
            witness = self._witnesses.get(root)
            invariant(witness is not None, f"blocked root {root} without a witness")
            assert witness is not None
            self._blocked_on.setdefault(witness, set()).add(root)
        for blocker in sorted(blockers):
            if not self._is_collected(blocker):
                blocked = self._instance(blocker)
                if blocked.deadline_ms is None and not blocked.committed:
                    self._arm(blocked, self.config.recovery_timeout_ms)

    # ------------------------------------------------------------------ helpers

    def _instance(self, instance_id: InstanceId) -> Instance:
        instance = self._instances.get(instance_id)
        if instance is None:
            instance = self._instances[instance_id] = Instance(instance_id)
            self._highest_slot[instance_id.owner] = max(
                self._highest_slot[instance_id.owner], instance_id.slot
            )
        return instance

    def _touch(self, instance: Instance) -> None:
        self._dirty[instance.instance_id] = instance

    def _nop_deps(self, instance_id: InstanceId) -> Deps:
        """The deps a recovery gives a NOP. Empty, except in Multi-Paxos mode, where
        a NOP keeps its place in the leader's chain: the instance after it depends on it
        alone, so it must pass the order on (seen as diverging orders in simulation)."""
        if self.config.leader is not None and instance_id.owner == self.config.leader:
            previous = InstanceId(instance_id.owner, instance_id.slot - 1)
            if not self._is_collected(previous):
                return Deps(frozenset((previous,)), (0,) * self._n)
        return Deps(frozenset(), (0,) * self._n)

    def _peers(self) -> tuple[ReplicaId, ...]:
        return self._peer_ids

    def _send(self, to: ReplicaId, message: Message) -> None:
        self._ready.messages.append(Outgoing(to, message))

    def _broadcast(self, message: Message) -> None:
        self._ready.messages.extend([Outgoing(peer, message) for peer in self._peer_ids])

    def _restore(self, restored: RestoredState) -> None:
        if restored.floor is not None:
            # The keys of instances below the floor are gone with their records: treat
            # the floor as shared, so late proposals below it get their floor raised.
            self._floor = self._shared_floor = restored.floor
            self._pruned_upto = list(restored.floor)
            self._index_pruned_upto = list(restored.floor)
            for replica in range(self._n):
                self._peer_executed[replica] = list(restored.floor)
                self._peer_floor[replica] = list(restored.floor)
        self._executed = ExecutedSet(self._n, restored.executed)
        for owner in range(self._n):
            self._executed.advance_prefix(owner, self._floor[owner])
        for record in restored.records:
            if self._is_collected(record.instance_id):
                continue
            instance = Instance.from_record(record)
            self._instances[record.instance_id] = instance
            if instance.initial_batch:
                self._index.add(record.instance_id, Footprint.of(instance.initial_batch))
            self._index_value(instance)
            owner, slot = record.instance_id.owner, record.instance_id.slot
            self._highest_slot[owner] = max(self._highest_slot[owner], slot)
            if record.instance_id in self._executed:
                instance.executed = True
            elif instance.committed:
                self._to_execute.add(record.instance_id)
            else:
                self._uncommitted[record.instance_id] = instance
        self._highest_slot = [
            max(highest, self._floor[owner]) for owner, highest in enumerate(self._highest_slot)
        ]
        # Never reuse a slot: every slot anyone voted for is durable here first.
        self._next_slot = self._highest_slot[self.replica_id] + 1


_HANDLERS = {
    PreAccept: Replica._on_pre_accept,
    PreAcceptOk: Replica._on_pre_accept_ok,
    Accept: Replica._on_accept,
    AcceptOk: Replica._on_accept_ok,
    Commit: Replica._on_commit,
    Recover: Replica._on_recover,
    RecoverOk: Replica._on_recover_ok,
    Validate: Replica._on_validate,
    ValidateOk: Replica._on_validate_ok,
    Waiting: Replica._on_waiting,
    Nack: Replica._on_nack,
    CommitQuery: Replica._on_commit_query,
    Gossip: Replica._on_gossip,
    Forward: Replica._on_forward,
}
