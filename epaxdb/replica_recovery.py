"""The recovery role of a replica: EPaxos* recovery (Recover, Validate, Waiting).

A mixin of `epaxdb.replica.Replica`, split out so each file has one job; it shares the
replica's state and helpers (`_instances`, `_recoveries`, `_waiting_seen`, `_send`,
`_broadcast`, `_arm`, `_commit_and_broadcast`, `_accept_and_broadcast`, ...), which
`Replica` defines. The decisions themselves are pure functions in `recovery.py`; this
module gathers their inputs from messages and carries their verdicts out.

Recovery starts when an instance stays uncommitted past its timer (or on
`Replica.recover`): a higher ballot, Recover to all, a decision on n - f RecoverOk
(commit, accept a value, accept NOP, or validate the owner's (c, D0) at the quorum and
possibly wait for the invalidators). Duelling attempts back off exponentially.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from epaxdb.command import NOP, Batch, Footprint
from epaxdb.ids import Ballot, InstanceId, ReplicaId
from epaxdb.instance import Instance
from epaxdb.messages import (
    Deps,
    Nack,
    Phase,
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

# Recovery timers double on every lost duel or foreign attempt, up to this factor.
BACKOFF_MAX = 16.0


@dataclass(slots=True)
class RecoveryAttempt:
    """A recovery attempt at `ballot` (volatile: a restart starts a new attempt)."""

    ballot: Ballot
    stage: str = "recover"  # recover -> validate -> wait
    replies: dict[ReplicaId, RecoverOk] = field(default_factory=dict)
    quorum: frozenset[ReplicaId] = frozenset()
    candidate: tuple[Batch, Deps] | None = None
    matching: int = 0
    validations: dict[ReplicaId, ValidateOk] = field(default_factory=dict)
    invalidators: dict[InstanceId, Instance] = field(default_factory=dict)


class RecoveryRole:
    def _start_recovery(self, instance: Instance) -> None:
        self.stats.recoveries_started += 1
        ballot = Ballot(instance.ballot.round + 1, self.replica_id)
        attempt = RecoveryAttempt(ballot)
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
        instance.backoff = min(instance.backoff * 2, BACKOFF_MAX)
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

    def _advance_recovery(self, instance: Instance, attempt: RecoveryAttempt) -> None:
        if len(attempt.replies) < self.config.slow_quorum:
            return
        decision = decide_after_recover(
            attempt.replies,
            instance.instance_id.owner,
            self.config.fast_failures,
            self._nop_deps(instance.instance_id),
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
        self, instance: Instance, attempt: RecoveryAttempt, batch: Batch, deps: Deps
    ) -> None:
        """Accept the recovery's value at its ballot, if this attempt is still current."""
        if instance.committed or instance.ballot != attempt.ballot:
            return
        self._recoveries.pop(instance.instance_id, None)
        self._accept_and_broadcast(instance, attempt.ballot, batch, deps)

    def _late_recover_ok(
        self, instance: Instance, attempt: RecoveryAttempt, sender: ReplicaId, message: RecoverOk
    ) -> None:
        """l.76-79: a reply from outside Q during validation or waiting."""
        if message.phase is Phase.COMMITTED:
            assert message.batch is not None and message.deps is not None
            self._commit_and_broadcast(instance, attempt.ballot, message.batch, message.deps)
        elif message.phase is Phase.ACCEPTED:
            assert message.batch is not None and message.deps is not None
            self._finish_recovery(instance, attempt, message.batch, message.deps)
        elif sender == instance.instance_id.owner:
            self._finish_recovery(instance, attempt, NOP, self._nop_deps(instance.instance_id))

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

    def _after_validation(self, instance: Instance, attempt: RecoveryAttempt) -> None:
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

    def _resolve(self, instance: Instance, attempt: RecoveryAttempt, verdict: Verdict) -> None:
        if verdict is Verdict.NOP:
            self._finish_recovery(instance, attempt, NOP, self._nop_deps(instance.instance_id))
            return
        if "wait_local_value" in self._mutations and attempt.stage == "wait":
            batch, deps = instance.batch, instance.deps
            assert batch is not None and deps is not None
        else:
            assert attempt.candidate is not None
            batch, deps = attempt.candidate
        self._finish_recovery(instance, attempt, batch, deps)

    def _check_wait(self, instance: Instance, attempt: RecoveryAttempt) -> None:
        states = [
            InvalidatorState(
                other.committed,
                other.is_nop,
                other.committed
                and other.deps is not None
                and other.deps.covers(instance.instance_id),
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
        instance.backoff = min(instance.backoff * 2, BACKOFF_MAX)
        self._touch(instance)
        self._arm(instance, self.config.recovery_timeout_ms)
