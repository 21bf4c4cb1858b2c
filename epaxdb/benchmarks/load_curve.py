"""`epaxdb bench load-curve WORKLOAD`: latency against load, client count by client count.

One cluster (started here, or given as URLs) runs the workload once per client count,
in the order given; the table is filled once. Each step is a full measured window
(warm-up, then duration) and reports throughput and p50/p95/p99. The curve stops
early once throughput stops rising: when `patience` steps in a row each gain less than
`min_gain` over the best throughput seen before them (5 % twice by default), more
clients would only queue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from epaxdb.benchmarks.cluster import (
    BenchSettings,
    describe_cluster,
    measure,
    open_target,
    working_directory,
)
from epaxdb.benchmarks.errors import BenchmarkError

DEFAULT_CLIENT_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128)
_STEP_FIELDS = (
    "clients", "throughput_tps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "transactions",
    "errors", "fast_path_ratio", "cpu_ms_per_tx",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoadCurveSettings:
    bench: BenchSettings  # everything but the client count
    client_counts: tuple[int, ...] = DEFAULT_CLIENT_COUNTS
    min_gain: float = 0.05
    patience: int = 2

    def validate(self) -> None:
        if not self.client_counts or any(count < 1 for count in self.client_counts):
            raise BenchmarkError("--clients needs one or more client counts, each >= 1")
        if self.bench.baseline is not None:
            raise BenchmarkError("the load curve has no baseline: run one point with --baseline")
        if self.patience < 1 or self.min_gain < 0:
            raise BenchmarkError("patience must be >= 1 and the minimum gain >= 0")
        for count in self.client_counts:
            self.step(count).validate()

    def step(self, clients: int) -> BenchSettings:
        """The settings of one step (no more load processes than clients)."""
        return replace(self.bench, clients=clients, load_procs=min(self.bench.load_procs, clients))


class Plateau:
    """Tells when throughput stopped rising: `patience` steps in a row, each less than
    `min_gain` above the best throughput of the steps before it."""

    def __init__(self, min_gain: float, patience: int) -> None:
        self.min_gain = min_gain
        self.patience = patience
        self.best = 0.0
        self.flat = 0

    def reached(self, throughput: float) -> bool:
        """Record one step's throughput; whether the curve has flattened."""
        rising = throughput >= self.best * (1 + self.min_gain) and throughput > 0
        self.flat = 0 if rising else self.flat + 1
        self.best = max(self.best, throughput)
        return self.flat >= self.patience

    def reason(self) -> str:
        return (
            f"throughput rose less than {self.min_gain:.0%} over the best so far "
            f"({self.best:,.1f} tx/s) in {self.flat} steps in a row"
        )


def run_load_curve(settings: LoadCurveSettings) -> dict[str, Any]:
    settings.validate()
    bench = settings.bench
    profile = bench.validate()
    steps: list[dict[str, Any]] = []
    stop_reason = None
    plateau = Plateau(settings.min_gain, settings.patience)
    with working_directory() as root, open_target(bench, root) as target:
        for index, clients in enumerate(settings.client_counts):
            result = measure(settings.step(clients), profile, target, setup=index == 0)
            steps.append({name: result[name] for name in _STEP_FIELDS})
            last = index == len(settings.client_counts) - 1
            if plateau.reached(result["throughput_tps"]) and not last:
                stop_reason = plateau.reason()
                break
    return {
        "benchmark": "load-curve",
        "workload": bench.workload.name,
        "replicas": len(bench.urls) or bench.replicas,
        "target": "urls" if bench.urls else "local cluster",
        "duration_s": bench.duration_s,
        "warmup_s": bench.warmup_s,
        "rows": bench.workload.rows,
        "conflict_pct": bench.workload.conflict_pct,
        **describe_cluster(bench),
        "client_counts": list(settings.client_counts),
        "min_gain": settings.min_gain,
        "patience": settings.patience,
        "steps": steps,
        "stopped_early": stop_reason,
        "peak": max(steps, key=lambda step: step["throughput_tps"]),
    }
