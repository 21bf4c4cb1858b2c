"""`epaxdb bench experiments`: the experiments of docs/benchmarks.md, in one bounded run.

- targets: `transfer` on 3 replicas beside single-node SQLite and a 3-member etcd
  (same clients), and one client's latency beside etcd's one-client latency;
- experiment 1: `update` throughput at each conflict rate, for each cluster size,
  EPaxos (plain and thrifty) and the Multi-Paxos mode, protocol batching on and off,
  and the single-node SQLite baseline of the same transactions;
- experiment 2: per-site latency under a WAN profile, EPaxos (plain and thrifty) and
  Multi-Paxos with its leader in California;
- experiment 3: availability, EPaxos with replica 0 killed and Multi-Paxos with its
  leader killed, both restarted later;
- experiment 4: latency against load, clients doubling until throughput stops rising.

A `Plan` bounds every point (`full` for publication, `quick` for a few seconds per
point, `smoke` to check the pipeline). Points sharing a cluster configuration share
one cluster. A point that fails is recorded with its error and the run goes on; the
exit status says so. Results go to `out_dir`: one JSON file per experiment, PNG
charts, `summary.json` (plan, machine, timings, target checks) and `results.md`, the
markdown fragment for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from epaxdb.benchmarks.availability import (
    DEFAULT_REQUEST_TIMEOUT_S,
    AvailabilitySettings,
    run_availability_benchmark,
)
from epaxdb.benchmarks.cluster import (
    PROTOCOLS,
    BenchSettings,
    measure,
    open_target,
    run_baseline,
    run_workload_benchmark,
    working_directory,
)
from epaxdb.benchmarks.errors import BaselineUnavailable, BenchmarkError
from epaxdb.benchmarks.etcd_baseline import find_etcd
from epaxdb.benchmarks.experiment_report import write_markdown
from epaxdb.benchmarks.load_curve import LoadCurveSettings, run_load_curve
from epaxdb.benchmarks.targets import target_checks
from epaxdb.benchmarks.workloads import Workload
from epaxdb.runtime.wan import wan_profile


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    duration_s: float  # measured seconds per point (experiment 1, targets)
    warmup_s: float
    repeats: int  # runs per point; the run with the median throughput is reported
    clients: int = 32
    rows: int = 10_000
    conflicts: tuple[float, ...] = (0, 2, 25, 100)
    replica_counts: tuple[int, ...] = (3, 5)
    batching: tuple[bool, ...] = (True, False)
    conflict_thrifty: bool = True  # experiment 1 also runs EPaxos in thrifty mode
    etcd: bool = True  # the etcd baselines of the targets (skipped when not installed)
    wan: str = "paper5"
    wan_thrifty: bool = True  # experiment 2 also runs EPaxos in thrifty mode
    wan_clients: int = 50
    wan_duration_s: float = 10.0
    wan_warmup_s: float = 3.0
    availability_clients: int = 12
    availability_duration_s: float = 30.0
    availability_warmup_s: float = 2.0
    kill_at_s: float = 10.0
    restart_at_s: float = 20.0
    curve_clients: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    curve_duration_s: float = 5.0
    curve_warmup_s: float = 2.0


PLANS = {
    "full": Plan("full", duration_s=10.0, warmup_s=2.0, repeats=3),
    "quick": Plan(
        "quick", duration_s=3.0, warmup_s=1.0, repeats=1, wan_clients=10,
        wan_duration_s=4.0, wan_warmup_s=2.0, availability_duration_s=10.0,
        availability_warmup_s=1.0, kill_at_s=3.0, restart_at_s=6.0,
        curve_clients=(1, 2, 4, 8, 16, 32, 64), curve_duration_s=2.0, curve_warmup_s=1.0,
    ),
    # Checks the pipeline, not the system: every experiment, the smallest matrix.
    "smoke": Plan(
        "smoke", duration_s=0.4, warmup_s=0.2, repeats=1, clients=4, rows=200,
        conflicts=(0, 100), replica_counts=(3,), batching=(True,), conflict_thrifty=False,
        etcd=False, wan="paper3",
        wan_thrifty=False, wan_clients=3, wan_duration_s=0.8, wan_warmup_s=0.4,
        availability_clients=3, availability_duration_s=2.0, availability_warmup_s=0.2,
        kill_at_s=0.4, restart_at_s=1.0, curve_clients=(1, 2), curve_duration_s=0.4,
        curve_warmup_s=0.2,
    ),
}  # fmt: skip


Progress = Callable[[str], None]


def run_experiments(
    plan: Plan,
    out_dir: Path,
    *,
    charts: bool = True,
    command: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every experiment of `plan`, write the results to `out_dir`; the summary.
    `command` is how the run was started, quoted in the markdown."""
    note = progress or _note
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    summary: dict[str, Any] = {
        "plan": asdict(plan),
        "machine": _machine(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": {},
        "failures": [],
    }
    results: dict[str, Any] = {}
    for name, experiment in EXPERIMENTS.items():
        note(f"== {name}")
        began = time.monotonic()
        results[name] = experiment(plan, note)
        summary["elapsed_s"][name] = round(time.monotonic() - began, 1)
        summary["failures"] += [f"{name}: {error}" for error in _errors(results[name])]
        (out_dir / f"{name}.json").write_text(json.dumps(results[name], indent=1, sort_keys=True))
    if charts:
        summary["charts"] = _draw(results, out_dir, note)
    checks = target_checks(results)
    summary["checks"] = [asdict(check) for check in checks]
    summary["elapsed_s"]["total"] = round(time.monotonic() - started, 1)
    summary["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    if command is None:
        quick = {"full": "", "quick": " --quick", "smoke": " --quick --quick"}[plan.name]
        command = f"epaxdb bench experiments --out {out_dir}{quick}"
    write_markdown(out_dir / "results.md", command, plan, results, summary, checks)
    return summary


# ---------------------------------------------------------------------- the experiments


def _targets(plan: Plan, note: Progress) -> dict[str, Any]:
    """The issue's headline figures: transfers at `plan.clients` beside SQLite and
    etcd, one client's update latency beside etcd's."""
    transfer = _settings(plan, Workload("transfer", plan.rows))
    one_client = _settings(plan, Workload("update", plan.rows), clients=1)
    result: dict[str, Any] = {"transfer": None, "one_client": None}
    try:
        with working_directory() as root, open_target(transfer, root) as target:
            note(f"targets: transfer, 3 replicas, {plan.clients} clients")
            result["transfer"] = _median_run(plan, lambda first: measure(
                transfer, None, target, setup=first))  # fmt: skip
            note("targets: update, one client")
            result["one_client"] = _median_run(plan, lambda first: measure(
                one_client, None, target, setup=first))  # fmt: skip
    except BenchmarkError as error:
        for run in ("transfer", "one_client"):
            result[run] = result[run] or {"error": str(error)}
    result["sqlite"] = _baseline("sqlite", transfer)
    result["etcd"] = _baseline("etcd", transfer) if plan.etcd else _skipped("not in this plan")
    result["etcd_one_client"] = (
        _baseline("etcd", one_client) if plan.etcd else _skipped("not in this plan")
    )
    return result


def _throughput_vs_conflict(plan: Plan, note: Progress) -> dict[str, Any]:
    points: list[dict[str, Any]] = []
    orderings = [("epaxos", False)]
    if plan.conflict_thrifty:
        orderings.append(("epaxos", True))
    orderings += [(protocol, False) for protocol in PROTOCOLS if protocol != "epaxos"]
    for replicas in plan.replica_counts:
        for protocol, thrifty in orderings:
            for batch in plan.batching:
                group = _settings(plan, Workload("update", plan.rows), replicas=replicas,
                                  protocol=protocol, batch=batch, thrifty=thrifty)  # fmt: skip
                points += _conflict_group(plan, group, note)
    sqlite = {}
    for conflict in plan.conflicts:
        note(f"experiment 1: SQLite baseline, {conflict:g} % conflicts")
        workload = Workload("update", plan.rows, conflict)
        sqlite[f"{conflict:g}"] = _baseline("sqlite", _settings(plan, workload))
    return {
        "workload": "update",
        "clients": plan.clients,
        "conflicts": list(plan.conflicts),
        "points": points,
        "sqlite": sqlite,
    }


def _conflict_group(plan: Plan, group: BenchSettings, note: Progress) -> list[dict[str, Any]]:
    """Every conflict rate on one cluster configuration (one cluster)."""
    points: list[dict[str, Any]] = []
    key = {"replicas": group.replicas, "protocol": group.protocol,
           "leader": group.ordering_leader, "thrifty": group.thrifty,
           "batch": "on" if group.batch else "off"}  # fmt: skip
    try:
        with working_directory() as root, open_target(group, root) as target:
            for index, conflict in enumerate(plan.conflicts):
                settings = replace(group, workload=Workload("update", plan.rows, conflict))
                note(
                    f"experiment 1: {group.replicas} replicas, {group.protocol}"
                    f"{' thrifty' if group.thrifty else ''}, batching "
                    f"{key['batch']}, {conflict:g} % conflicts"
                )
                run = _median_run(plan, lambda first, s=settings, i=index: measure(
                    s, None, target, setup=first and i == 0))  # fmt: skip
                points.append({**key, **run})
    except BenchmarkError as error:
        done = {point["conflict_pct"] for point in points}
        points += [
            {**key, "conflict_pct": conflict, "error": str(error)}
            for conflict in plan.conflicts
            if conflict not in done
        ]
    return points


def _wan_latency(plan: Plan, note: Progress) -> dict[str, Any]:
    profile = wan_profile(plan.wan)
    base = _settings(
        plan, Workload("update", plan.rows), wan=plan.wan, replicas=len(profile.sites),
        clients=plan.wan_clients, duration_s=plan.wan_duration_s, warmup_s=plan.wan_warmup_s,
    )  # fmt: skip
    configurations = [("EPaxos", base)]
    if plan.wan_thrifty:
        configurations.append(("EPaxos thrifty", replace(base, thrifty=True)))
    leader = replace(base, protocol="multipaxos")
    site = profile.sites[leader.ordering_leader or 0]
    configurations.append((f"Multi-Paxos (leader {site})", leader))
    runs = []
    for label, settings in configurations:
        note(f"experiment 2: WAN {plan.wan}, {label}, {settings.clients} clients")
        runs.append({"label": label, **_attempt(lambda s=settings: run_workload_benchmark(s))})
    return {"wan": plan.wan, "runs": runs}


def _availability(plan: Plan, note: Progress) -> dict[str, Any]:
    runs = []
    for protocol in PROTOCOLS:
        bench = _settings(
            plan, Workload("update", plan.rows), protocol=protocol,
            clients=plan.availability_clients, duration_s=plan.availability_duration_s,
            warmup_s=plan.availability_warmup_s, request_timeout_s=DEFAULT_REQUEST_TIMEOUT_S,
        )  # fmt: skip
        settings = AvailabilitySettings(bench, plan.kill_at_s, plan.restart_at_s)
        note(f"experiment 3: availability, {protocol}, replica {settings.victim} killed")
        runs.append({"protocol": protocol,
                     **_attempt(lambda s=settings: run_availability_benchmark(s))})  # fmt: skip
    return {"runs": runs}


def _load_curve(plan: Plan, note: Progress) -> dict[str, Any]:
    bench = _settings(plan, Workload("update", plan.rows), duration_s=plan.curve_duration_s,
                      warmup_s=plan.curve_warmup_s)  # fmt: skip
    note(f"experiment 4: load curve, clients {', '.join(map(str, plan.curve_clients))}")
    return _attempt(lambda: run_load_curve(LoadCurveSettings(bench, plan.curve_clients)))


EXPERIMENTS: dict[str, Callable[[Plan, Progress], dict[str, Any]]] = {
    "targets": _targets,
    "experiment1-conflict": _throughput_vs_conflict,
    "experiment2-wan": _wan_latency,
    "experiment3-availability": _availability,
    "experiment4-load-curve": _load_curve,
}


# ---------------------------------------------------------------------- helpers


def _settings(plan: Plan, workload: Workload, **changes: Any) -> BenchSettings:
    settings = BenchSettings(
        workload, clients=plan.clients, duration_s=plan.duration_s, warmup_s=plan.warmup_s
    )
    return replace(settings, **changes)


def _median_run(plan: Plan, run: Callable[[bool], dict[str, Any]]) -> dict[str, Any]:
    """`plan.repeats` runs (`run(first)`); the one with the median throughput, with
    every run's throughput beside it."""
    runs = [run(index == 0) for index in range(plan.repeats)]
    ranked = sorted(runs, key=lambda result: result["throughput_tps"])
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    chosen["runs_tps"] = [result["throughput_tps"] for result in runs]
    chosen["median_tps"] = statistics.median(chosen["runs_tps"])
    return chosen


def _baseline(name: str, settings: BenchSettings) -> dict[str, Any]:
    try:
        if name == "etcd":
            find_etcd()
        with working_directory() as root:
            return run_baseline(name, settings, root)
    except BaselineUnavailable as error:
        return _skipped(str(error))
    except BenchmarkError as error:
        return {"name": name, "error": str(error)}


def _skipped(reason: str) -> dict[str, Any]:
    return {"skipped": reason}


def _attempt(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return run()
    except BenchmarkError as error:
        return {"error": str(error)}


def _errors(result: Any) -> list[str]:
    """Every recorded "error" of a point, anywhere in an experiment's result."""
    if isinstance(result, dict):
        found = [str(result["error"])] if "error" in result else []
        return found + [e for key, value in result.items() if key != "error"
                        for e in _errors(value)]  # fmt: skip
    if isinstance(result, list):
        return [error for item in result for error in _errors(item)]
    return []


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def _draw(results: dict[str, Any], out_dir: Path, note: Progress) -> list[str]:
    """The PNG charts of whatever was measured; their file names."""
    from epaxdb.benchmarks.charts import (
        plot_availability,
        plot_conflict,
        plot_load_curve,
        plot_wan,
    )

    drawn = []
    charts = {
        "experiment1-conflict.png": (plot_conflict, results["experiment1-conflict"]),
        "experiment2-wan.png": (plot_wan, results["experiment2-wan"]),
        "experiment3-availability.png": (
            plot_availability,
            [r for r in results["experiment3-availability"]["runs"] if "error" not in r],
        ),
        "experiment4-load-curve.png": (
            plot_load_curve,
            [] if "error" in results["experiment4-load-curve"]
            else [results["experiment4-load-curve"]],
        ),
    }  # fmt: skip
    for name, (draw, data) in charts.items():
        if not data:
            continue
        draw(data, out_dir / name)
        if (out_dir / name).exists():
            drawn.append(name)
            note(f"chart {out_dir / name}")
    return drawn


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
