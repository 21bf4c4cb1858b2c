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
- Fast path: n - e PreAcceptOk (the owner's own included) all reporting exactly D0 ->
  commit (c, D0) at ballot 0. Otherwise, with n - f replies and the fast path
  impossible or too slow: Accept the union at ballot 0, commit on n - f AcceptOk.
- Recovery (recovery.py) when an instance stays uncommitted: Recover / RecoverOk,
  possibly Validate / ValidateOk and Waiting; the only outcomes are the committed
  value, the highest accepted value, the owner's (c, D0), or NOP. A NOP'ed own
  instance's commands are proposed again.
- `ballot` (joined) and `accepted_ballot` (voted) are kept apart (Sutra's bug).
- Execution (execution.py): SCCs of the committed graph, dependencies first,
  instance-id order inside a component.
- Garbage collection: replicas gossip their executed prefixes; instances executed
  on every replica (slot <= floor) are dropped, and new dependency sets carry the
  floor so that a dropped instance counts as a dependency everywhere (messages.Deps).

Mutations (`MUTATIONS`) deliberately reintroduce published bugs; the regression tests
show the checks catch each one. They are never enabled outside tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from epaxdb.command import NOP, Batch, Command, Footprint
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
from epaxdb.recovery import (
    InvalidatorState,
    Outcome,
    Verdict,
    decide_after_recover,
    decide_after_validation,
    decide_after_waiting,
)
from epaxdb.records import (
    Execution,
    FloorRecord,
    InstanceRecord,
    Outgoing,
    Ready,
    RestoredState,
)

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

# Catch-up from a gossip: query at most this many unknown instances at once, found by
# scanning at most this many slots per owner above the executed prefix.
_LEARN_BATCH_MAX = 256
_LEARN_SCAN_MAX = 4096
# Recovery timers double on every lost duel or foreign attempt, up to this factor.
_BACKOFF_MAX = 16.0


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


@dataclass(slots=True)
class _Recovery:
    """A recovery attempt at `ballot` (volatile: a restart starts a new attempt)."""

    ballot: Ballot
    stage: str = "recover"  # recover -> validate -> wait
    replies: dict[ReplicaId, RecoverOk] = field(default_factory=dict)
    quorum: frozenset[ReplicaId] = frozenset()
    candidate: tuple[Batch, Deps] | None = None
    matching: int = 0
    validations: dict[ReplicaId, ValidateOk] = field(default_factory=dict)
    invalidators: dict[InstanceId, Instance] = field(default_factory=dict)


class Replica:
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
        self._recoveries: dict[InstanceId, _Recovery] = {}
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
        footprint = Footprint.of(batch)
        deps = Deps(frozenset(self._conflicting(instance_id, footprint, self._floor)), self._floor)
        self._pre_accept(instance, batch, deps, deps, footprint)
        self._own_batches[instance_id] = batch
        self.last_proposed = instance_id
        self.stats.instances_proposed += 1
        leading = self._leading[instance_id] = _Leading()
        leading.replies[self.replica_id] = deps
        self._broadcast(PreAccept(instance_id, batch, deps))
        self._arm(instance, self.config.retransmit_ms)
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
        found = {
            nop_id
            for nop_id in self._open_nops
            if nop_id != instance_id and nop_id.slot > floor[nop_id.owner]
        } if self._open_nops else set()
        for candidate_id in self._index.candidates(footprint):
            if candidate_id == instance_id or candidate_id.slot <= floor[candidate_id.owner]:
                continue
            candidate = self._instances.get(candidate_id)
            # A dropped instance (executed everywhere) is known by its keys only.
            if candidate is None or candidate.conflicts_now(footprint):
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
        fast_possible = matching + (self._n - replied) >= self.config.fast_quorum
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
        self._broadcast(Accept(instance.instance_id, ballot, batch, deps))
        self._arm(instance, self.config.retransmit_ms)
        self._try_commit_accepted(instance)

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

    def _on_commit_query(self, sender: ReplicaId, message: CommitQuery) -> None:
        for instance_id in message.instance_ids:
            instance = self._instances.get(instance_id)
            if instance is not None and instance.committed:
                self._send_commit(sender, instance)

    # ------------------------------------------------------------------ recovery

    def _start_recovery(self, instance: Instance) -> None:
        self.stats.recoveries_started += 1
        ballot = Ballot(instance.ballot.round + 1, self.replica_id)
        attempt = _Recovery(ballot)
        self._abandon_lower(instance, ballot)
        self._recoveries[instance.instance_id] = attempt
        joined_before = instance.ballot
        instance.ballot = ballot
        self._touch(instance)
        self._broadcast(Recover(instance.instance_id, ballot))
        attempt.replies[self.replica_id] = self._recover_ok(instance, ballot, joined_before)
        self._arm(instance, self.config.recovery_timeout_ms)
        self._advance_recovery(instance, attempt)

    def _recover_ok(self, instance: Instance, ballot: Ballot, joined_before: Ballot) -> RecoverOk:
        vote = joined_before if "single_ballot" in self._mutations else instance.accepted_ballot
        return RecoverOk(
            instance.instance_id,
            ballot,
            vote,
            instance.phase,
            instance.batch,
            instance.deps,
            instance.initial_deps,
        )

    def _on_recover(self, sender: ReplicaId, message: Recover) -> None:
        instance_id = message.instance_id
        instance = self._undecided(sender, instance_id)
        if instance is None:
            return
        if message.ballot <= instance.ballot:
            self._send(sender, Nack(instance_id, instance.ballot))
            return
        joined_before = instance.ballot
        self._abandon_lower(instance, message.ballot)
        instance.ballot = message.ballot
        self._touch(instance)
        # Someone else is recovering it: give that attempt time before trying ourselves.
        instance.backoff = min(instance.backoff * 2, _BACKOFF_MAX)
        self._arm(instance, self.config.recovery_timeout_ms)
        self._send(sender, self._recover_ok(instance, message.ballot, joined_before))

    def _on_recover_ok(self, sender: ReplicaId, message: RecoverOk) -> None:
        attempt = self._recoveries.get(message.instance_id)
        if attempt is None or attempt.ballot != message.ballot:
            return
        instance = self._instances[message.instance_id]
        if attempt.stage == "recover":
            attempt.replies[sender] = message
            self._advance_recovery(instance, attempt)
        elif sender not in attempt.quorum:
            self._late_recover_ok(instance, attempt, sender, message)

    def _advance_recovery(self, instance: Instance, attempt: _Recovery) -> None:
        if len(attempt.replies) < self.config.slow_quorum:
            return
        decision = decide_after_recover(
            attempt.replies,
            instance.instance_id.owner,
            self.config.fast_failures,
            self._empty_deps(),
            fixed_threshold="fixed_threshold" in self._mutations,
        )
        if decision.outcome is Outcome.COMMIT:
            assert decision.deps is not None
            self._commit_and_broadcast(instance, attempt.ballot, decision.batch, decision.deps)
        elif decision.outcome is Outcome.ACCEPT:
            assert decision.deps is not None
            self._finish_recovery(instance, attempt, decision.batch, decision.deps)
        else:
            assert decision.deps is not None
            attempt.stage = "validate"
            attempt.quorum = frozenset(attempt.replies)
            attempt.candidate = (decision.batch, decision.deps)
            attempt.matching = decision.matching
            message = Validate(instance.instance_id, attempt.ballot, decision.batch, decision.deps)
            for member in sorted(attempt.quorum):
                if member != self.replica_id:
                    self._send(member, message)
            own = self._validate(instance, message)
            if own is not None:
                attempt.validations[self.replica_id] = own
                self._after_validation(instance, attempt)

    def _finish_recovery(
        self, instance: Instance, attempt: _Recovery, batch: Batch, deps: Deps
    ) -> None:
        """Accept the recovery's value at its ballot, if this attempt is still current."""
        if instance.committed or instance.ballot != attempt.ballot:
            return
        self._recoveries.pop(instance.instance_id, None)
        self._accept_and_broadcast(instance, attempt.ballot, batch, deps)

    def _late_recover_ok(
        self, instance: Instance, attempt: _Recovery, sender: ReplicaId, message: RecoverOk
    ) -> None:
        """l.76-79: a reply from outside Q during validation or waiting."""
        if message.phase is Phase.COMMITTED:
            assert message.batch is not None and message.deps is not None
            self._commit_and_broadcast(instance, attempt.ballot, message.batch, message.deps)
        elif message.phase is Phase.ACCEPTED:
            assert message.batch is not None and message.deps is not None
            self._finish_recovery(instance, attempt, message.batch, message.deps)
        elif sender == instance.instance_id.owner:
            self._finish_recovery(instance, attempt, NOP, self._empty_deps())

    def _on_validate(self, sender: ReplicaId, message: Validate) -> None:
        instance = self._undecided(sender, message.instance_id)
        if instance is None:
            return
        reply = self._validate(instance, message)
        if reply is not None:
            self._send(sender, reply)

    def _validate(self, instance: Instance, message: Validate) -> ValidateOk | None:
        """l.81-87: register (c, D) and report the potential invalidators I_q."""
        if instance.ballot != message.ballot:
            return None
        guarded = "unguarded_validate" not in self._mutations
        if guarded and instance.phase not in (Phase.INITIAL, Phase.PREACCEPTED):
            return None  # a late duplicate must not overwrite an accepted value (T12)
        instance_id = instance.instance_id
        # Register (c, D) so conflicting instances pre-accepted here from now on depend
        # on this one; phase, deps and the vote ballot stay untouched (l.84).
        instance.set_batch(message.batch)
        instance.initial_batch = message.batch
        instance.initial_deps = message.deps
        self._index_value(instance)
        self._touch(instance)
        footprint = Footprint.of(message.batch)
        found: list[tuple[InstanceId, Phase]] = []
        for other_id in sorted(self._index.candidates(footprint)):
            if other_id == instance_id or message.deps.covers(other_id):
                continue
            other = self._instances.get(other_id)
            if other is None:
                continue  # executed on every replica: it precedes this one everywhere
            if other.committed:
                assert other.deps is not None
                if other.is_nop or not other.footprint.conflicts(footprint):
                    continue
                if other.deps.covers(instance_id):
                    continue
            else:
                if other.initial_batch is None or other.initial_deps is None:
                    continue
                if not Footprint.of(other.initial_batch).conflicts(footprint):
                    continue
                if other.initial_deps.covers(instance_id):
                    continue
            found.append((other_id, other.phase))
        return ValidateOk(instance_id, message.ballot, tuple(found))

    def _on_validate_ok(self, sender: ReplicaId, message: ValidateOk) -> None:
        attempt = self._recoveries.get(message.instance_id)
        if attempt is None or attempt.ballot != message.ballot or attempt.stage != "validate":
            return
        if sender not in attempt.quorum:
            return
        attempt.validations[sender] = message
        self._after_validation(self._instances[message.instance_id], attempt)

    def _after_validation(self, instance: Instance, attempt: _Recovery) -> None:
        if len(attempt.validations) < len(attempt.quorum):
            return
        phases: dict[InstanceId, Phase] = {}
        for reply in attempt.validations.values():
            for other_id, phase in reply.invalidators:
                phases[other_id] = max(phase, phases.get(other_id, Phase.INITIAL))
        if "ignore_committed_invalidators" in self._mutations:  # T7
            phases = {i: p for i, p in phases.items() if p is not Phase.COMMITTED}
        verdict = decide_after_validation(
            list(phases.values()),
            any(other_id.owner not in attempt.quorum for other_id in phases),
            attempt.matching,
            len(attempt.quorum),
            self.config.fast_failures,
            exact_clause_at_least="exact_clause_at_least" in self._mutations,
            abort_on_any="abort_on_any_invalidator" in self._mutations,
        )
        if verdict is Verdict.WAIT:
            attempt.stage = "wait"
            for other_id in sorted(phases):
                if not self._is_collected(other_id):
                    other = attempt.invalidators[other_id] = self._instance(other_id)
                    if other.deadline_ms is None:
                        self._arm(other, self.config.recovery_timeout_ms)
            self._broadcast(Waiting(instance.instance_id, attempt.matching))
            self._check_wait(instance, attempt)
        else:
            self._resolve(instance, attempt, verdict)

    def _resolve(self, instance: Instance, attempt: _Recovery, verdict: Verdict) -> None:
        if verdict is Verdict.NOP:
            self._finish_recovery(instance, attempt, NOP, self._empty_deps())
            return
        if "wait_local_value" in self._mutations and attempt.stage == "wait":
            batch, deps = instance.batch, instance.deps
            assert batch is not None and deps is not None
        else:
            assert attempt.candidate is not None
            batch, deps = attempt.candidate
        self._finish_recovery(instance, attempt, batch, deps)

    def _check_wait(self, instance: Instance, attempt: _Recovery) -> None:
        states = [
            InvalidatorState(
                other.committed,
                other.is_nop,
                other.committed and other.deps is not None and other.deps.covers(instance.instance_id),
                self._waiting_seen.get(other_id, -1),
            )
            for other_id, other in sorted(attempt.invalidators.items())
        ]
        verdict = decide_after_waiting(
            states,
            self.config.waiting_abort_threshold,
            waiting_threshold_at_least="waiting_threshold_at_least" in self._mutations,
        )
        if verdict is not Verdict.WAIT:
            self._resolve(instance, attempt, verdict)

    def _recheck_waits(self, changed: InstanceId) -> None:
        for instance_id, attempt in list(self._recoveries.items()):
            if attempt.stage == "wait" and changed in attempt.invalidators:
                self._check_wait(self._instances[instance_id], attempt)

    def _on_waiting(self, sender: ReplicaId, message: Waiting) -> None:
        previous = self._waiting_seen.get(message.instance_id, -1)
        if message.matching > previous:
            self._waiting_seen[message.instance_id] = message.matching
            self._recheck_waits(message.instance_id)

    def _on_nack(self, sender: ReplicaId, message: Nack) -> None:
        instance = self._instances.get(message.instance_id)
        if instance is None or instance.committed or message.ballot <= instance.ballot:
            return
        # Someone joined a higher ballot: our attempt cannot finish. Remember the ballot
        # so a later attempt of ours goes above it; back off to let that one finish.
        self._abandon_lower(instance, message.ballot)
        instance.ballot = message.ballot
        instance.backoff = min(instance.backoff * 2, _BACKOFF_MAX)
        self._touch(instance)
        self._arm(instance, self.config.recovery_timeout_ms)

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
                self._retransmit_pre_accept(instance, leading)
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
        instance.backoff = min(instance.backoff * 2, _BACKOFF_MAX)
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
        order, blockers = plan_execution(roots, self._instances.get, self._executed)
        for instance in order:
            instance.executed = True
            self._executed.add(instance.instance_id)
            self.stats.instances_executed += 1
            if instance.batch:
                self.stats.commands_executed += len(instance.batch)
                self._ready.executions.append(Execution(instance.instance_id, instance.batch))
        executed_ids = {instance.instance_id for instance in order}
        for root in roots:
            if root in executed_ids or root in self._executed:
                continue
            for blocker in blockers:
                self._blocked_on.setdefault(blocker, set()).add(root)
        for blocker in sorted(blockers):
            if not self._is_collected(blocker):
                blocked = self._instance(blocker)
                if blocked.deadline_ms is None and not blocked.committed:
                    self._arm(blocked, self.config.recovery_timeout_ms)

    # ------------------------------------------------------------------ gossip and GC

    def _gossip(self) -> None:
        self._broadcast(
            Gossip(tuple(self._executed.prefix), tuple(self._highest_slot), self._floor)
        )
        self._peer_executed[self.replica_id] = list(self._executed.prefix)
        self._advance_floor()

    def _on_gossip(self, sender: ReplicaId, message: Gossip) -> None:
        if not len(message.executed_prefix) == len(message.highest_slot) == len(
            message.floor
        ) == self._n:
            return
        known = self._peer_executed[sender]
        for owner, prefix in enumerate(message.executed_prefix):
            if prefix > known[owner]:
                known[owner] = prefix
        floors = self._peer_floor[sender]
        for owner, floor in enumerate(message.floor):
            if floor > floors[owner]:
                floors[owner] = floor
        missing = []
        for owner, highest in enumerate(message.highest_slot):
            if owner == self.replica_id:
                continue  # our own slots are durable here before anyone hears of them
            # Holes count as much as slots beyond our highest: an instance nothing
            # depends on is learned only this way, and execution (and GC) needs all.
            first = self._executed.prefix[owner] + 1
            last = min(highest, first + _LEARN_SCAN_MAX - 1)
            for slot in range(first, last + 1):
                instance_id = InstanceId(owner, slot)
                if instance_id in self._instances or instance_id in self._executed:
                    continue
                instance = self._instance(instance_id)
                self._arm(instance, self.config.recovery_timeout_ms)
                missing.append(instance_id)
                if len(missing) >= _LEARN_BATCH_MAX:
                    break
        if missing:
            self._send(sender, CommitQuery(tuple(missing)))
        self._advance_floor()

    def _advance_floor(self) -> None:
        self._peer_executed[self.replica_id] = list(self._executed.prefix)
        floor = tuple(
            min(self._peer_executed[replica][owner] for replica in range(self._n))
            for owner in range(self._n)
        )
        if floor != self._floor:
            self._floor = floor
            self._ready.records.append(FloorRecord(floor))
            for owner in range(self._n):
                for slot in range(self._pruned_upto[owner] + 1, floor[owner] + 1):
                    instance_id = InstanceId(owner, slot)
                    instance = self._instances.pop(instance_id, None)
                    invariant(
                        instance is None or instance.executed,
                        f"garbage collecting unexecuted {instance_id}",
                    )
                    self._open_nops.discard(instance_id)
                    self._dirty.pop(instance_id, None)
                    self._waiting_seen.pop(instance_id, None)
                self._pruned_upto[owner] = max(self._pruned_upto[owner], floor[owner])
        self._peer_floor[self.replica_id] = list(self._floor)
        shared = tuple(
            min(self._peer_floor[replica][owner] for replica in range(self._n))
            for owner in range(self._n)
        )
        if shared == self._shared_floor:
            return
        self._shared_floor = shared
        for owner in range(self._n):
            for slot in range(self._index_pruned_upto[owner] + 1, shared[owner] + 1):
                self._index.remove(InstanceId(owner, slot))
            self._index_pruned_upto[owner] = max(self._index_pruned_upto[owner], shared[owner])

    def _is_collected(self, instance_id: InstanceId) -> bool:
        return instance_id.slot <= self._floor[instance_id.owner]

    # ------------------------------------------------------------------ helpers

    def _instance(self, instance_id: InstanceId) -> Instance:
        instance = self._instances.get(instance_id)
        if instance is None:
            instance = self._instances[instance_id] = Instance(instance_id)
            if instance_id.slot > self._highest_slot[instance_id.owner]:
                self._highest_slot[instance_id.owner] = instance_id.slot
        return instance

    def _touch(self, instance: Instance) -> None:
        self._dirty[instance.instance_id] = instance

    def _empty_deps(self) -> Deps:
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
}
