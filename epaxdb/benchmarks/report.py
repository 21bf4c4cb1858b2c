"""A workload benchmark's result for people: a few lines of text, or a PNG plot.

Plotting needs matplotlib, an optional extra (`pip install 'epaxdb[plot]'`); it is
imported only when a plot is asked for, and `require_plotting` says so up front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from epaxdb.benchmarks.errors import PlotUnavailable


def format_text(result: dict[str, Any]) -> str:
    setup = f"{result['replicas']} replicas ({result['target']})"
    if result.get("protocol"):
        setup += f", {ordering(result)}"
    if result.get("batch"):
        setup += f", batching {result['batch']}"
    if result.get("wan"):
        setup += f", WAN {result['wan']}"
    lines = [
        (
            f"{result['workload']}: {setup}, {result['clients']} clients, "
            f"{result['conflict_pct']:g} % conflicts, {result['duration_s']:g} s measured"
        ),
        "  " + _figures(result),
        (
            f"  fast path {_percent(result['fast_path_ratio'])} of {result['fast_commits']} + "
            f"{result['slow_commits']} instances; CPU {_number(result['cpu_ms_per_tx'])} ms "
            f"per transaction (replicas {_number(result['replica_cpu_s'])} s, load generator "
            f"{result['loadgen_cpu_s']} s)"
        ),
    ]
    if result["errors"]:
        lines.append(f"  errors: {result['errors']}")
    for kind, figures in result.get("by_kind", {}).items():
        lines.append(f"  {kind}: {_figures(figures)}")
    for site, figures in result.get("by_site", {}).items():
        lines.append(
            f"  {site}: {_figures(figures)}; nearest fast quorum "
            f"{figures['nearest_fast_quorum_rtt_ms']:g} ms + client hop "
            f"{figures['client_hop_rtt_ms']:g} ms"
        )
    check = result.get("check")
    if check is not None:
        verdict = "OK" if check["ok"] else "FAILED"
        totals = ", ".join(f"replica {r}: {v['total']}" for r, v in check["replicas"].items())
        lines.append(
            f"  check {verdict}: expected total {check['expected_total']} ({totals}); "
            f"state hashes {'agree' if check['state_hashes_agree'] else 'DIFFER'}"
        )
    baseline = result.get("baseline")
    if baseline is not None:
        lines.append(f"  baseline {baseline['system']}: {_figures(baseline)}")
        lines.append(f"  ratio {result['baseline_ratio']} (cluster / baseline throughput)")
    return "\n".join(lines)


def format_availability(result: dict[str, Any]) -> str:
    down = "not restarted"
    if result.get("restarted_at_s") is not None:
        serving = result["serving_again_at_s"]
        down = f"restarted at {result['restarted_at_s']:g} s, " + (
            f"serving again at {serving:g} s" if serving is not None else "NOT serving again"
        )
    lines = [
        (
            f"availability: {result['replicas']} replicas, {ordering(result)}, "
            f"{result['clients']} clients, replica {result['killed_replica']} killed at "
            f"{result['killed_at_s']:g} s, {down}, {result['duration_s']:g} s measured"
        ),
        (
            f"  longest gap at the surviving replicas {result['longest_gap_ms']:,.1f} ms "
            f"({result['longest_gap_from_s']:g}-{result['longest_gap_to_s']:g} s; "
            f"{result['gap_at_kill_ms']:,.1f} ms around the kill, at most "
            f"{result['longest_gap_before_kill_ms']:,.1f} ms before it); recovery timeout "
            f"{result['recovery_timeout_ms']:g} ms"
        ),
        "  commits per second, surviving replicas' clients: "
        + " ".join(str(count) for count in result["surviving_per_second_tps"]),
    ]
    for replica, series in result["per_replica_tps"].items():
        errors = result["per_replica_errors_per_second"][replica]
        lines.append(
            f"  replica {replica}: commits/s {' '.join(map(str, series))}; "
            f"errors/s {' '.join(map(str, errors))}"
        )
    if result["errors"]:
        lines.append(f"  errors: {result['errors']}")
    check = result["check"]
    lines.append(
        f"  state hashes of replicas {check['replicas']} "
        + ("agree" if check["ok"] else f"DIFFER: {check['state_hashes']}")
    )
    return "\n".join(lines)


def format_load_curve(result: dict[str, Any]) -> str:
    lines = [
        (
            f"load curve: {result['workload']}, {result['replicas']} replicas "
            f"({result['target']}), {result['conflict_pct']:g} % conflicts, "
            f"{result['duration_s']:g} s per step"
        )
    ]
    lines += [f"  {step['clients']:>4} clients: {_figures(step)}" for step in result["steps"]]
    if result["stopped_early"]:
        lines.append(f"  stopped early: {result['stopped_early']}")
    return "\n".join(lines)


def ordering(result: dict[str, Any]) -> str:
    """The ordering mode for people: "EPaxos", "EPaxos thrifty", "Multi-Paxos (leader 1)"."""
    if result["protocol"] == "multipaxos":
        text = f"Multi-Paxos (leader {result['leader']})"
    else:
        text = "EPaxos"
    return text + (" thrifty" if result.get("thrifty") else "")


def _figures(figures: dict[str, Any]) -> str:
    return (
        f"{figures['throughput_tps']:,.1f} tx/s, p50 {_number(figures['p50_ms'])} ms, "
        f"p95 {_number(figures['p95_ms'])} ms, p99 {_number(figures['p99_ms'])} ms "
        f"({figures['transactions']:,} transactions)"
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.1f} %"


def require_plotting() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(
            "--plot needs matplotlib, an optional extra: pip install 'epaxdb[plot]'"
        ) from None


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(result: dict[str, Any], path: Path) -> None:
    """Throughput per second of the window, and p50/p95/p99 (per site under a WAN
    profile), beside the baseline's when there is one."""
    plt = pyplot()
    figure, (timeline, latencies) = plt.subplots(1, 2, figsize=(11, 4))
    per_second = result["per_second_tps"]
    timeline.plot(range(1, len(per_second) + 1), per_second, marker="o", label="epaxdb")
    if result.get("baseline"):
        timeline.axhline(
            result["baseline_tps"],
            linestyle="--",
            color="gray",
            label=f"{result['baseline']['name']} (mean)",
        )
    timeline.set(
        xlabel="second of the window",
        ylabel="transactions/s",
        ylim=(0, None),
        title=f"{result['workload']}: throughput",
    )
    timeline.legend()

    groups = {"epaxdb": result}
    if result.get("by_site"):
        groups = dict(result["by_site"])
    if result.get("baseline"):
        groups[result["baseline"]["name"]] = result["baseline"]
    names = list(groups)
    width = 0.25
    for offset, key in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        values = [groups[name][key] or 0 for name in names]
        positions = [i + (offset - 1) * width for i in range(len(names))]
        latencies.bar(positions, values, width, label=key.removesuffix("_ms"))
    latencies.set_xticks(range(len(names)), names)
    latencies.set(ylabel="latency (ms)", title="latency")
    latencies.legend()
    figure.suptitle(
        f"{result['replicas']} replicas, {result['clients']} clients, "
        f"{result['conflict_pct']:g} % conflicts"
        + (f", WAN {result['wan']}" if result.get("wan") else "")
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
