"""The markdown fragment of an experiments run, for docs/benchmarks.md: how it was run,
the target checks, one table per experiment, the command that reproduces each point,
and the charts (linked relative to the results directory's parent, where the
fragment is meant to be pasted: `docs/benchmarks-data/` -> `benchmarks-data/x.png`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epaxdb.benchmarks.availability import DEFAULT_REQUEST_TIMEOUT_S
from epaxdb.benchmarks.cluster import PROTOCOLS, BenchSettings
from epaxdb.benchmarks.report import ordering
from epaxdb.benchmarks.workloads import Workload

if TYPE_CHECKING:  # the runner imports this module: no import cycle at run time
    from epaxdb.benchmarks.experiments import Plan
    from epaxdb.benchmarks.targets import Check


def bench_command(
    target: str, settings: BenchSettings, *extra: str, clients: str | None = None
) -> str:
    """The `epaxdb bench` command line that runs `settings` (options at their
    default left out, except the load's size and length); `clients` replaces the
    client count (a load curve's list)."""
    workload = settings.workload
    default = BenchSettings(Workload(workload.name))
    parts = ["epaxdb bench", target]
    if settings.wan is not None:
        parts.append(f"--wan {settings.wan}")
    elif settings.replicas != default.replicas:
        parts.append(f"--replicas {settings.replicas}")
    if settings.protocol != default.protocol:
        parts.append(f"--protocol {settings.protocol}")
        if settings.leader is not None:
            parts.append(f"--leader {settings.leader}")
    if settings.thrifty:
        parts.append("--thrifty")
    if not settings.batch:
        parts.append("--batch off")
    if workload.conflict_pct:
        parts.append(f"--conflict {workload.conflict_pct:g}")
    if workload.rows != default.workload.rows:
        parts.append(f"--rows {workload.rows}")
    parts.append(f"--clients {clients or settings.clients}")
    parts.append(f"--duration {settings.duration_s:g} --warmup {settings.warmup_s:g}")
    if settings.request_timeout_s != default.request_timeout_s:
        parts.append(f"--request-timeout {settings.request_timeout_s:g}")
    return " ".join([*parts, *extra])


def write_markdown(
    path: Path,
    command: str,
    plan: Plan,
    results: dict[str, Any],
    summary: dict[str, Any],
    checks: Sequence[Check],
) -> None:
    link = path.parent.name
    machine = summary["machine"]
    runs = (
        "one run per point" if plan.repeats == 1 else f"the median of {plan.repeats} runs per point"
    )
    sections = [
        "## Experiments",
        "",
        (
            f"Measured with `{command}` (plan `{plan.name}`: {plan.duration_s:g} s measured "
            f"per point after {plan.warmup_s:g} s of warm-up, {runs}) on "
            f"{summary['started_utc']}: Python {machine['python']}, {machine['cpus']} CPUs, "
            f"load average {machine['load_average_start'][0]:g} at the start and "
            f"{machine['load_average_end'][0]:g} at the end; the run took "
            f"{summary['elapsed_s']['total']:,.0f} s. Replicas, load generator and baselines "
            f"share the machine. Raw results: `{link}/*.json`."
        ),
        "",
        "### Targets",
        "",
        "| target | verdict | measured |",
        "|---|---|---|",
        *(f"| {c.target} | {c.verdict} | {c.detail} |" for c in checks),
        "",
        *_targets(plan, results["targets"]),
        *_conflict(plan, results["experiment1-conflict"], link, summary),
        *_wan(plan, results["experiment2-wan"], link, summary),
        *_availability(plan, results["experiment3-availability"], link, summary),
        *_load_curve(plan, results["experiment4-load-curve"], link, summary),
    ]
    if summary["failures"]:
        sections += ["### Points that failed", "", *(f"- {f}" for f in summary["failures"]), ""]
    path.write_text("\n".join(sections))


def _targets(plan: Plan, targets: dict[str, Any]) -> list[str]:
    transfer = BenchSettings(
        Workload("transfer", plan.rows), clients=plan.clients,
        duration_s=plan.duration_s, warmup_s=plan.warmup_s,
    )  # fmt: skip
    one = BenchSettings(
        Workload("update", plan.rows), clients=1, duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
    )  # fmt: skip
    rows = [
        (f"epaxdb `transfer`, 3 replicas, {plan.clients} clients", targets["transfer"]),
        ("single-node SQLite (apsw, WAL, synchronous=FULL), same transactions", targets["sqlite"]),
        (f"etcd, 3 members, puts of the same size, {plan.clients} clients", targets["etcd"]),
        ("epaxdb `update`, 3 replicas, one client", targets["one_client"]),
        ("etcd, 3 members, one client", targets["etcd_one_client"]),
    ]
    return [
        "### Headline figures",
        "",
        "| run | throughput | p50 | p99 |",
        "|---|---|---|---|",
        *(
            f"| {name} | {_tps(r)} | {_latency(r, 'p50_ms')} | {_latency(r, 'p99_ms')} |"
            for name, r in rows
        ),
        "",
        "```sh",
        bench_command("transfer", transfer, "--baseline sqlite"),
        bench_command("transfer", transfer, "--baseline etcd"),
        bench_command("update", one, "--baseline etcd"),
        "```",
        "",
    ]


def _conflict(
    plan: Plan, experiment: dict[str, Any], link: str, summary: dict[str, Any]
) -> list[str]:
    conflicts = experiment["conflicts"]
    rows: dict[tuple[int, str, str], dict[float, dict[str, Any]]] = {}
    for point in experiment["points"]:
        key = (point["replicas"], ordering(point) if "protocol" in point else "?", point["batch"])
        rows.setdefault(key, {})[point["conflict_pct"]] = point
    header = " | ".join(f"{c:g} %" for c in conflicts)
    lines = [
        "### 1. Throughput against the conflict rate",
        "",
        (
            f"`update` transactions from {experiment['clients']} clients; each cell: "
            "transactions/s (p50 / p99 ms). One cluster per row; each cell is the same "
            "measurement as"
        ),
        "",
        "```sh",
        bench_command(
            "update",
            BenchSettings(
                Workload("update", plan.rows, 25), replicas=5, clients=plan.clients,
                duration_s=plan.duration_s, warmup_s=plan.warmup_s, batch=False,
                protocol="multipaxos",
            ),
        ) + "   # e.g. 5 replicas, Multi-Paxos, batching off, 25 %",
        "```",
        "",
        f"| replicas | ordering | batching | {header} |",
        "|---|---|---|" + "---|" * len(conflicts),
    ]  # fmt: skip
    for (replicas, mode, batch), cells in sorted(rows.items()):
        values = " | ".join(_cell(cells.get(c)) for c in conflicts)
        lines.append(f"| {replicas} | {mode} | {batch} | {values} |")
    sqlite = " | ".join(_cell(experiment["sqlite"].get(f"{c:g}")) for c in conflicts)
    lines += [f"| 1 | single-node SQLite | - | {sqlite} |", ""]
    return lines + _chart("experiment1-conflict.png", link, summary)


def _wan(plan: Plan, experiment: dict[str, Any], link: str, summary: dict[str, Any]) -> list[str]:
    runs = experiment["runs"]
    measured = [run for run in runs if "by_site" in run]
    lines = [
        f"### 2. Wide-area latency per site (`--wan {experiment['wan']}`)",
        "",
        (
            f"`update` at 0 % conflicts, {plan.wan_clients} clients spread over the sites; "
            "each cell: median / p99 commit latency at the client, in ms. The reference is "
            "the round trip to the site's nearest fast quorum plus the client's hop."
        ),
        "",
        "```sh",
    ]
    base = BenchSettings(
        Workload("update", plan.rows), clients=plan.wan_clients, wan=experiment["wan"],
        duration_s=plan.wan_duration_s, warmup_s=plan.wan_warmup_s,
    )  # fmt: skip
    lines.append(bench_command("update", base))
    if plan.wan_thrifty:
        lines.append(bench_command("update", base, "--thrifty"))
    lines += [bench_command("update", base, "--protocol multipaxos"), "```", ""]
    if not measured:
        return [*lines, "No run finished.", ""]
    sites = list(measured[0]["by_site"])
    lines += [
        "| site | reference | " + " | ".join(run["label"] for run in runs) + " |",
        "|---|---|" + "---|" * len(runs),
    ]
    for site in sites:
        figures = measured[0]["by_site"][site]
        reference = figures["nearest_fast_quorum_rtt_ms"] + figures["client_hop_rtt_ms"]
        cells = " | ".join(
            f"{_ms(run['by_site'][site]['p50_ms'])} / {_ms(run['by_site'][site]['p99_ms'])}"
            if "by_site" in run
            else "failed"
            for run in runs
        )
        lines.append(f"| {site} | {reference:g} | {cells} |")
    return [*lines, "", *_chart("experiment2-wan.png", link, summary)]


def _availability(
    plan: Plan, experiment: dict[str, Any], link: str, summary: dict[str, Any]
) -> list[str]:
    lines = [
        "### 3. Availability: one replica killed (kill -9) and restarted",
        "",
        (
            f"`update` from {plan.availability_clients} clients spread over 3 replicas; "
            f"kill at {plan.kill_at_s:g} s, restart at {plan.restart_at_s:g} s of a "
            f"{plan.availability_duration_s:g} s window. A gap is time without any commit "
            "acknowledged to the clients of the surviving replicas."
        ),
        "",
        "```sh",
        *(
            bench_command(
                "availability",
                BenchSettings(
                    Workload("update", plan.rows),
                    clients=plan.availability_clients,
                    duration_s=plan.availability_duration_s,
                    warmup_s=plan.availability_warmup_s,
                    protocol=protocol,
                    request_timeout_s=DEFAULT_REQUEST_TIMEOUT_S,
                ),
                f"--kill-at {plan.kill_at_s:g} --restart-at {plan.restart_at_s:g}",
            )
            for protocol in PROTOCOLS
        ),
        "```",
        "",
        (
            "| ordering | killed | longest gap | gap at the kill | longest gap before it "
            "| recovery timeout | surviving replicas' commits per second |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for run in experiment["runs"]:
        if "error" in run:
            lines.append(f"| {run['protocol']} | failed: {run['error']} | | | | | |")
            continue
        lines.append(
            f"| {ordering(run)} | replica {run['killed_replica']} | "
            f"{run['longest_gap_ms']:,.0f} ms | {run['gap_at_kill_ms']:,.0f} ms | "
            f"{run['longest_gap_before_kill_ms']:,.0f} ms | {run['recovery_timeout_ms']:g} ms | "
            + " ".join(str(count) for count in run["surviving_per_second_tps"])
            + " |"
        )
    return [*lines, "", *_chart("experiment3-availability.png", link, summary)]


def _load_curve(
    plan: Plan, result: dict[str, Any], link: str, summary: dict[str, Any]
) -> list[str]:
    lines = [
        "### 4. Latency against load",
        "",
        "```sh",
        bench_command(
            "load-curve update",
            BenchSettings(
                Workload("update", plan.rows),
                duration_s=plan.curve_duration_s,
                warmup_s=plan.curve_warmup_s,
            ),
            clients=",".join(map(str, plan.curve_clients)),
        ),
        "```",
        "",
    ]
    if "error" in result:
        return [*lines, f"Failed: {result['error']}", ""]
    lines += ["| clients | throughput | p50 | p99 |", "|---|---|---|---|"]
    lines += [
        f"| {step['clients']} | {_tps(step)} | {_latency(step, 'p50_ms')} | "
        f"{_latency(step, 'p99_ms')} |"
        for step in result["steps"]
    ]
    if result["stopped_early"]:
        lines += ["", f"Stopped early: {result['stopped_early']}."]
    return [*lines, "", *_chart("experiment4-load-curve.png", link, summary)]


def _chart(name: str, link: str, summary: dict[str, Any]) -> list[str]:
    if name not in summary.get("charts", ()):
        return []
    return [f"![{name.removesuffix('.png')}]({link}/{name})", ""]


def _cell(point: dict[str, Any] | None) -> str:
    if point is None:
        return "-"
    if "error" in point or "skipped" in point:
        return "failed" if "error" in point else "skipped"
    return f"{point['throughput_tps']:,.0f} ({_ms(point['p50_ms'])} / {_ms(point['p99_ms'])})"


def _tps(result: dict[str, Any] | None) -> str:
    if result is None or "error" in result:
        return "failed"
    if "skipped" in result:
        return "skipped"
    return f"{result['throughput_tps']:,.0f}/s"


def _latency(result: dict[str, Any] | None, key: str) -> str:
    if result is None or "error" in result or "skipped" in result:
        return ""
    return f"{_ms(result[key])} ms"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"
