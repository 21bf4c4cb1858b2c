"""CI's seed sweep: hundreds of seeded runs with faults must break no invariant.

330 seeds over 3-, 5- and 7-replica clusters, mostly with heavy faults, in chunks so a
failure names its configuration. A failing chunk prints the first failure in full
(seed, replay command, trace) and the replay command of every failing seed.
"""

from __future__ import annotations

import pytest

from epaxdb.sim import SimSettings
from epaxdb.sim.sweep import run_seeds

COMMANDS = 40
CHUNK = 40
SWEEPS = [  # (replicas, faults, seeds)
    (3, "heavy", 160),
    (5, "heavy", 120),
    (3, "light", 20),
    (5, "light", 20),
    (7, "heavy", 10),
]
CASES = [
    (replicas, faults, start, min(start + CHUNK, seeds))
    for replicas, faults, seeds in SWEEPS
    for start in range(0, seeds, CHUNK)
]


@pytest.mark.parametrize(
    "replicas,faults,first,stop", CASES, ids=[f"n{r}-{f}-{a}..{b - 1}" for r, f, a, b in CASES]
)
def test_seeded_runs_break_no_invariant(replicas: int, faults: str, first: int, stop: int) -> None:
    settings = SimSettings(replicas=replicas, faults=faults, commands=COMMANDS)
    summary = run_seeds(settings, range(first, stop))
    assert summary.seeds == stop - first
    if summary.failures:
        lines = [f"seed {f.seed} ({f.invariant}): {f.replay}" for f in summary.failures]
        pytest.fail(
            f"{len(summary.failures)} of {summary.seeds} seeds failed:\n"
            + "\n".join(lines)
            + "\n\nfirst failure:\n"
            + summary.failures[0].report,
            pytrace=False,
        )
    assert summary.answered > 0 and summary.fast_commits > 0


@pytest.mark.parametrize("replicas,faults,seeds", [(3, "heavy", 40), (5, "light", 20)])
def test_the_multipaxos_baseline_mode_breaks_no_invariant(
    replicas: int, faults: str, seeds: int
) -> None:
    settings = SimSettings(
        replicas=replicas, faults=faults, commands=COMMANDS, protocol="multipaxos"
    )
    summary = run_seeds(settings, range(seeds))
    assert not summary.failures, "\n".join(f.replay for f in summary.failures)
    assert summary.fast_commits == 0 and summary.slow_commits > 0
    assert "PreAccept" not in summary.messages and summary.messages["Forward"] > 0
