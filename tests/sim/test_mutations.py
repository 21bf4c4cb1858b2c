"""Each reintroduced bug (`epaxdb.replica.MUTATIONS`) is caught by random seeds.

For every mutation the sweep starts at seed 0 and stops at the first seed whose run
breaks an invariant; the test fails if none does within the bound, which would mean
the fault generators or the checkers have grown too weak to find that bug. Bounds
are a few times the seed at which the simulator first catches it today (since owners
rank silent peers last there are fewer recovery storms, and two bugs needed longer
runs: 40 commands per seed).

Two mutations are not in the table: `preaccept_after_recover` (T15) and
`waiting_threshold_at_least` (T10) need schedules too specific for random faults to
hit within hundreds of seeds; the scripted scenarios in tests/core pin them down.
"""

from __future__ import annotations

import pytest

from epaxdb.replica import MUTATIONS
from epaxdb.sim import SimSettings
from epaxdb.sim.sweep import Failure, run_one

CAUGHT = {  # mutation -> (replicas, commands per seed, seed bound)
    "single_ballot": (3, 40, 200),
    "fixed_threshold": (5, 20, 600),
    "decide_after_join": (3, 20, 200),
    "ignore_committed_invalidators": (5, 20, 400),
    "exact_clause_at_least": (5, 20, 600),
    "abort_on_any_invalidator": (3, 20, 300),
    "unguarded_validate": (5, 40, 300),
    "wait_local_value": (5, 20, 400),
}
NOT_CAUGHT_BY_RANDOM_SEEDS = {"preaccept_after_recover", "waiting_threshold_at_least"}


def test_the_table_names_every_mutation() -> None:
    assert set(CAUGHT) | NOT_CAUGHT_BY_RANDOM_SEEDS == MUTATIONS


@pytest.mark.slow
@pytest.mark.parametrize("mutation", sorted(CAUGHT))
def test_random_seeds_catch_the_reintroduced_bug(mutation: str) -> None:
    replicas, commands, bound = CAUGHT[mutation]
    settings = SimSettings(replicas=replicas, faults="heavy", commands=commands, mutation=mutation)
    for seed in range(bound):
        outcome = run_one(settings, seed)
        if isinstance(outcome, Failure):
            assert outcome.invariant != "simulator", outcome.report
            return
    pytest.fail(f"{mutation} survived seeds 0..{bound - 1} on {replicas} replicas")
