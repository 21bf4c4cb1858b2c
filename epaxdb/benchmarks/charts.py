"""PNG charts of the availability, load-curve and experiment results (matplotlib, the
optional extra `epaxdb[plot]`, imported only when a chart is drawn)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from epaxdb.benchmarks.report import ordering, pyplot


def plot_availability(results: Sequence[dict[str, Any]], path: Path) -> None:
    """Commits per second over the window, one panel per run: the surviving replicas'
    clients, each replica's clients, the killed replica's errors; kill and restart
    marked."""
    plt = pyplot()
    figure, axes = plt.subplots(
        1, len(results), figsize=(6 * len(results), 4), sharey=True, squeeze=False
    )
    for ax, result in zip(axes[0], results, strict=True):
        # Bucket i holds [i, i + 1) s: drawn at its middle, on the same axis as the
        # kill and restart instants.
        seconds = [i + 0.5 for i in range(len(result["per_second_tps"]))]
        ax.plot(seconds, result["surviving_per_second_tps"], marker="o", linewidth=2,
                label="clients of surviving replicas")  # fmt: skip
        for replica, series in result["per_replica_tps"].items():
            ax.plot(seconds, series, linewidth=1, alpha=0.7, label=f"replica {replica}")
        victim = str(result["killed_replica"])
        ax.bar(seconds, result["per_replica_errors_per_second"][victim], width=0.9,
               color="tab:red", alpha=0.3, label=f"errors at replica {victim}")  # fmt: skip
        ax.axvline(result["killed_at_s"], color="black", linestyle="--", label="kill -9")
        if result.get("restarted_at_s") is not None:
            ax.axvline(result["restarted_at_s"], color="gray", linestyle=":", label="restart")
        ax.set(
            xlabel="seconds into the window (1 s buckets)",
            xlim=(0, len(seconds)),
            ylabel="commits/s",
            ylim=(0, None),
            title=(
                f"{ordering(result)}: replica {victim} killed; longest gap "
                f"{result['longest_gap_ms']:,.0f} ms (recovery timeout "
                f"{result['recovery_timeout_ms']:g} ms)"
            ),
        )
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_load_curve(results: Sequence[dict[str, Any]], path: Path) -> None:
    """Throughput against clients, and p50/p99 against throughput, one line per run."""
    plt = pyplot()
    figure, (rate, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for result in results:
        steps = result["steps"]
        label = f"{ordering(result)}, {result['replicas']} replicas"
        clients = [step["clients"] for step in steps]
        throughput = [step["throughput_tps"] for step in steps]
        rate.plot(clients, throughput, marker="o", label=label)
        for key, style in (("p50_ms", "-o"), ("p99_ms", "--s")):
            latency.plot(throughput, [step[key] or 0 for step in steps], style,
                         label=f"{key.removesuffix('_ms')}, {label}")  # fmt: skip
        for step in steps:
            latency.annotate(str(step["clients"]), (step["throughput_tps"], step["p99_ms"] or 0),
                             fontsize=7, textcoords="offset points", xytext=(3, 3))  # fmt: skip
    rate.set(xscale="log", xlabel="clients", ylabel="transactions/s", ylim=(0, None),
             title=f"{results[0]['workload']}: throughput")  # fmt: skip
    latency.set(yscale="log", xlabel="transactions/s", ylabel="latency (ms)",
                title="latency against load (labels: clients)")  # fmt: skip
    rate.legend(fontsize=7)
    latency.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_conflict(experiment: dict[str, Any], path: Path) -> None:
    """Experiment 1: throughput against the conflict rate, one panel per cluster size,
    one line per ordering mode and batching setting, the SQLite baseline dashed."""
    plt = pyplot()
    sizes = sorted({point["replicas"] for point in experiment["points"]})
    figure, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4), squeeze=False)
    conflicts = experiment["conflicts"]
    positions = range(len(conflicts))
    for ax, size in zip(axes[0], sizes, strict=True):
        lines: dict[str, list[float]] = {}
        for point in experiment["points"]:
            if point["replicas"] != size:
                continue
            label = f"{ordering(point)}, batching {point['batch']}"
            series = lines.setdefault(label, [float("nan")] * len(conflicts))
            series[conflicts.index(point["conflict_pct"])] = point.get("throughput_tps", 0.0)
        for label, series in lines.items():
            ax.plot(positions, series, marker="o", label=label)
        baseline = [experiment["sqlite"].get(str(c), {}).get("throughput_tps") for c in conflicts]
        if any(value is not None for value in baseline):
            ax.plot(positions, [float("nan") if v is None else v for v in baseline], "k--",
                    label="SQLite, one node")  # fmt: skip
        ax.set_xticks(list(positions), [f"{c:g} %" for c in conflicts])
        ax.set(xlabel="conflict rate", ylabel="transactions/s", ylim=(0, None),
               title=f"{size} replicas, {experiment['clients']} clients")  # fmt: skip
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_wan(experiment: dict[str, Any], path: Path) -> None:
    """Experiment 2: median and p99 commit latency per site, one bar group per site,
    with each site's nearest fast quorum round trip marked."""
    plt = pyplot()
    runs = [run for run in experiment["runs"] if "by_site" in run]
    if not runs:
        return
    sites = list(runs[0]["by_site"])
    figure, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(runs)
    for index, run in enumerate(runs):
        positions = [i + (index - (len(runs) - 1) / 2) * width for i in range(len(sites))]
        medians = [run["by_site"][site]["p50_ms"] or 0 for site in sites]
        p99s = [run["by_site"][site]["p99_ms"] or 0 for site in sites]
        bars = ax.bar(positions, medians, width, label=f"{run['label']} p50")
        ax.errorbar(positions, medians, yerr=[[0] * len(sites),
                    [max(p - m, 0) for p, m in zip(p99s, medians, strict=True)]],
                    fmt="none", ecolor=bars.patches[0].get_facecolor(), capsize=3)  # fmt: skip
    for index, site in enumerate(sites):
        figures = runs[0]["by_site"][site]
        reference = figures["nearest_fast_quorum_rtt_ms"] + figures["client_hop_rtt_ms"]
        ax.hlines(reference, index - 0.45, index + 0.45, colors="black", linestyles="dashed",
                  zorder=3, label="nearest fast quorum RTT + client hop" if index == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(sites)), sites)
    ax.set(ylabel="commit latency (ms), bar p50, whisker p99",
           title=f"WAN {experiment['wan']}: latency per site")  # fmt: skip
    ax.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
