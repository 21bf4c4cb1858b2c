"""Many seeded runs and their summary (what `epaxdb sim` prints).

Runs are independent, so with `jobs > 1` they are spread over worker processes;
results come back in seed order either way, so output does not depend on `jobs`.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from epaxdb.sim.simulator import SeedResult, SimSettings, SimulationFailure, run_seed


@dataclass(frozen=True, slots=True)
class Failure:
    seed: int
    invariant: str
    replay: str
    report: str


@dataclass(slots=True)
class SweepSummary:
    seeds: int = 0
    commands: int = 0
    answered: int = 0
    fast_commits: int = 0
    slow_commits: int = 0
    recoveries: int = 0
    nops: int = 0
    crashes: int = 0
    partitions: int = 0
    virtual_ms: float = 0.0
    messages: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def fast_path_share(self) -> float:
        decided = self.fast_commits + self.slow_commits
        return self.fast_commits / decided if decided else 0.0

    def add(self, outcome: SeedResult | Failure) -> None:
        self.seeds += 1
        if isinstance(outcome, Failure):
            self.failures.append(outcome)
            return
        self.commands += outcome.commands
        self.answered += outcome.answered
        self.fast_commits += outcome.fast_commits
        self.slow_commits += outcome.slow_commits
        self.recoveries += outcome.recoveries
        self.nops += outcome.nops
        self.crashes += outcome.crashes
        self.partitions += outcome.partitions
        self.virtual_ms += outcome.virtual_ms
        self.messages.update(outcome.messages)


def run_one(settings: SimSettings, seed: int) -> SeedResult | Failure:
    try:
        return run_seed(settings, seed)
    except SimulationFailure as failure:
        return Failure(seed, failure.invariant, failure.replay, str(failure))


def _run_star(args: tuple[SimSettings, int]) -> SeedResult | Failure:
    return run_one(*args)


def outcomes(
    settings: SimSettings, seeds: Iterable[int], jobs: int = 1
) -> Iterator[SeedResult | Failure]:
    if jobs <= 1:
        for seed in seeds:
            yield run_one(settings, seed)
        return
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap(_run_star, ((settings, seed) for seed in seeds), chunksize=4)


def run_seeds(
    settings: SimSettings,
    seeds: Iterable[int],
    jobs: int = 1,
    progress: Callable[[SweepSummary], None] | None = None,
) -> SweepSummary:
    summary = SweepSummary()
    started = time.perf_counter()
    for outcome in outcomes(settings, seeds, jobs):
        summary.add(outcome)
        summary.wall_s = time.perf_counter() - started
        if progress is not None:
            progress(summary)
    return summary
