"""Recovery decisions of EPaxos* (Fig. 5, optimized rules), as pure functions.

The recoverer collects RecoverOk from a quorum Q (|Q| >= n - f), then:
  1. a reply with the highest vote ballot is COMMITTED      -> commit its value;
  2. ... or ACCEPTED                                        -> accept its value;
  3. the initial coordinator is in Q (it can no longer decide at ballot 0, and had
     not decided)                                           -> accept NOP;
  4. R_max = replies PREACCEPTED with deps == initial deps;
     |R_max| >= |Q| - e  -> Validate (c, D) at Q, then `after_validation`;
     otherwise no fast commit can have happened             -> accept NOP.
After validation (I = potential invalidators: conflicting instances that may commit
without this one): none -> accept (c, D); a committed one, or |R_max| = |Q| - e with
an invalidator whose coordinator is outside Q (Lemma 11; equality only!) -> NOP;
otherwise wait (see `after_waiting`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from epaxdb.command import NOP, Batch
from epaxdb.ids import ReplicaId
from epaxdb.messages import Deps, Phase, RecoverOk


class Outcome(enum.Enum):
    COMMIT = "commit"
    ACCEPT = "accept"
    VALIDATE = "validate"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    batch: Batch = NOP
    deps: Deps | None = None
    matching: int = 0  # |R_max|, for VALIDATE and WAIT


def decide_after_recover(
    replies: Mapping[ReplicaId, RecoverOk],
    owner: ReplicaId,
    fast_failures: int,
    empty: Deps,
    *,
    fixed_threshold: bool = False,
) -> Decision:
    """Cases 1-4 of the recovery (l.52-60, l.80). `replies` is the quorum Q."""
    top = max(reply.accepted_ballot for reply in replies.values())
    highest = [replies[q] for q in sorted(replies) if replies[q].accepted_ballot == top]
    for reply in highest:
        if reply.phase is Phase.COMMITTED:
            assert reply.batch is not None and reply.deps is not None
            return Decision(Outcome.COMMIT, reply.batch, reply.deps)
    for reply in highest:
        if reply.phase is Phase.ACCEPTED:
            assert reply.batch is not None and reply.deps is not None
            return Decision(Outcome.ACCEPT, reply.batch, reply.deps)
    if owner in replies:
        return Decision(Outcome.ACCEPT, NOP, empty)
    matching = [
        reply
        for reply in highest
        if reply.phase is Phase.PREACCEPTED and reply.deps == reply.initial_deps
    ]
    # Mutation T4(i): a threshold fixed as if e = 1 aborts commands that were fast.
    threshold = len(replies) - (1 if fixed_threshold else fast_failures)
    if matching and len(matching) >= threshold:
        candidate = matching[0]
        assert candidate.batch is not None and candidate.deps is not None
        return Decision(Outcome.VALIDATE, candidate.batch, candidate.deps, len(matching))
    return Decision(Outcome.ACCEPT, NOP, empty)


class Verdict(enum.Enum):
    VALUE = "accept the validated value"
    NOP = "accept NOP"
    WAIT = "wait for the invalidators"


def decide_after_validation(
    invalidator_phases: list[Phase],
    some_owner_outside_quorum: bool,
    matching: int,
    quorum_size: int,
    fast_failures: int,
    *,
    exact_clause_at_least: bool = False,
    abort_on_any: bool = False,
) -> Verdict:
    """l.63-67, given the phases of the invalidators I (as reported) and whether some
    invalidator's initial coordinator is outside Q."""
    if not invalidator_phases:
        return Verdict.VALUE
    if abort_on_any:  # Mutation T9: aborting on any invalidator loses fast commits.
        return Verdict.NOP
    if Phase.COMMITTED in invalidator_phases:
        return Verdict.NOP
    at_threshold = quorum_size - fast_failures
    # Lemma 11 needs |R_max| = |Q| - e exactly (T8 shows ">=" is unsafe).
    exact = matching >= at_threshold if exact_clause_at_least else matching == at_threshold
    if exact and some_owner_outside_quorum:
        return Verdict.NOP
    return Verdict.WAIT


@dataclass(frozen=True, slots=True)
class InvalidatorState:
    """The recoverer's *current local* view of one invalidator (never the phase it was
    reported with: the TLA+ transcription bug `bug.bug`)."""

    committed: bool
    is_nop: bool
    includes_recovered: bool  # the recovered instance is in its committed deps
    waiting_matching: int  # largest k of Waiting(invalidator, k) received, or -1


def decide_after_waiting(
    invalidators: list[InvalidatorState],
    waiting_abort_threshold: int,
    *,
    waiting_threshold_at_least: bool = False,
) -> Verdict:
    """l.69-75: resolve a wait, or keep waiting (Verdict.WAIT)."""
    for state in invalidators:
        if state.committed and not state.is_nop and not state.includes_recovered:
            return Verdict.NOP
    if all(state.committed for state in invalidators):
        return Verdict.VALUE
    for state in invalidators:
        k = state.waiting_matching
        if k > waiting_abort_threshold or (
            waiting_threshold_at_least and k >= waiting_abort_threshold and k >= 0
        ):
            return Verdict.NOP
    return Verdict.WAIT
