"""The performance targets of issue 7, judged from the figures one experiments run
measured (never from constants): PASS or FAIL with the numbers behind the verdict,
SKIP when a comparison could not run here (etcd not installed, not in the plan).

A point that failed to run makes its checks FAIL, naming the error: a target is only
met by a measurement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SQLITE_RATIO = 1.0  # cluster transfers/s >= single-node SQLite's
ETCD_RATIO = 2.0  # ... and >= twice etcd's puts/s at the same client count
ONE_CLIENT_P99_MS = 5.0
CONFLICT_KEEP = 0.5  # 100 % conflicts keep at least half of the 0 % throughput
EPAXOS_BEATS_MULTIPAXOS_UP_TO_PCT = 25.0
WAN_SLACK = 0.10  # each site's median within 10 % of its nearest fast quorum's round trip


@dataclass(frozen=True, slots=True)
class Check:
    target: str
    verdict: str  # "PASS", "FAIL" or "SKIP"
    detail: str

    def line(self) -> str:
        return f"{self.verdict:<4}  {self.target}: {self.detail}"


class _Missing(Exception):
    """A figure a check needs was not measured."""

    def __init__(self, reason: str, skip: bool = False) -> None:
        super().__init__(reason)
        self.skip = skip


def target_checks(results: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for target, judge in _CHECKS:
        try:
            checks += list(judge(results))
        except _Missing as missing:
            verdict = "SKIP" if missing.skip else "FAIL"
            checks.append(Check(target, verdict, f"not measured: {missing}"))
    return checks


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _measured(result: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The result, if it ran to the end."""
    if result is None:
        raise _Missing(f"{what} did not run")
    if "skipped" in result:
        raise _Missing(f"{what}: {result['skipped']}", skip=True)
    if "error" in result:
        raise _Missing(f"{what}: {result['error']}")
    return result


def _figure(result: dict[str, Any] | None, key: str, what: str) -> Any:
    value = _measured(result, what).get(key)
    if value is None:
        raise _Missing(f"{what} has no {key}")
    return value


# ---------------------------------------------------------------------- the targets


def _vs_sqlite(results: dict[str, Any]) -> Iterator[Check]:
    targets = results["targets"]
    cluster = _figure(targets["transfer"], "throughput_tps", "the transfer run")
    sqlite = _figure(targets["sqlite"], "throughput_tps", "the SQLite baseline")
    ratio = cluster / sqlite
    yield Check(
        _SQLITE_TARGET,
        _verdict(ratio >= SQLITE_RATIO),
        f"{cluster:,.0f} vs {sqlite:,.0f} tx/s, ratio {ratio:.2f} (needs >= {SQLITE_RATIO:g})",
    )


def _vs_etcd(results: dict[str, Any]) -> Iterator[Check]:
    targets = results["targets"]
    cluster = _figure(targets["transfer"], "throughput_tps", "the transfer run")
    etcd = _figure(targets["etcd"], "throughput_tps", "the etcd baseline")
    ratio = cluster / etcd
    yield Check(
        _ETCD_TARGET,
        _verdict(ratio >= ETCD_RATIO),
        f"{cluster:,.0f} tx/s vs {etcd:,.0f} puts/s, ratio {ratio:.2f} (needs >= {ETCD_RATIO:g})",
    )


def _one_client_p50(results: dict[str, Any]) -> Iterator[Check]:
    targets = results["targets"]
    ours = _figure(targets["one_client"], "p50_ms", "the one-client run")
    etcd = _figure(targets["etcd_one_client"], "p50_ms", "etcd with one client")
    yield Check(_P50_TARGET, _verdict(ours < etcd), f"p50 {ours:.2f} ms vs etcd's {etcd:.2f} ms")


def _one_client_p99(results: dict[str, Any]) -> Iterator[Check]:
    ours = _figure(results["targets"]["one_client"], "p99_ms", "the one-client run")
    yield Check(
        _P99_TARGET,
        _verdict(ours <= ONE_CLIENT_P99_MS),
        f"p99 {ours:.2f} ms (needs <= {ONE_CLIENT_P99_MS:g} ms)",
    )


_EPAXOS_MODES = ("epaxos", "epaxos thrifty")


def _mode(point: dict[str, Any]) -> str:
    """The row of experiment 1 a point belongs to: "epaxos", "epaxos thrifty" or
    "multipaxos"."""
    return point["protocol"] + (" thrifty" if point.get("thrifty") else "")


def _points(results: dict[str, Any]) -> dict[tuple[int, str, str, float], dict[str, Any]]:
    experiment = results["experiment1-conflict"]
    return {
        (p["replicas"], _mode(p), p["batch"], p["conflict_pct"]): p for p in experiment["points"]
    }


def _labelled(mode: str, label: str) -> str:
    return f"{label}, thrifty" if mode.endswith("thrifty") else label


def _conflict_keeps_throughput(results: dict[str, Any]) -> Iterator[Check]:
    points = _points(results)
    groups = sorted({(m, r, b) for r, m, b, _ in points if m in _EPAXOS_MODES})
    if not groups or not {0, 100} <= {c for *_, c in points}:
        raise _Missing("the plan has no EPaxos points at 0 % and 100 %", skip=True)
    for mode, replicas, batch in groups:
        label = _labelled(mode, f"{replicas} replicas, batching {batch}")
        try:
            at_0 = _figure(points.get((replicas, mode, batch, 0)), "throughput_tps", "0 %")
            at_100 = _figure(points.get((replicas, mode, batch, 100)), "throughput_tps", "100 %")
        except _Missing as missing:
            yield Check(f"{_CONFLICT_TARGET} ({label})", "FAIL", f"not measured: {missing}")
            continue
        share = at_100 / at_0 if at_0 else 0.0
        yield Check(
            f"{_CONFLICT_TARGET} ({label})",
            _verdict(share >= CONFLICT_KEEP),
            f"{at_100:,.0f} vs {at_0:,.0f} tx/s, {share:.0%} (needs >= {CONFLICT_KEEP:.0%})",
        )


def _epaxos_beats_multipaxos(results: dict[str, Any]) -> Iterator[Check]:
    points = _points(results)
    keys = sorted(
        (m, r, b, c) for r, m, b, c in points
        if m in _EPAXOS_MODES and c <= EPAXOS_BEATS_MULTIPAXOS_UP_TO_PCT
    )  # fmt: skip
    if not keys:
        raise _Missing("the plan has no points at <= 25 % conflicts", skip=True)
    for mode, replicas, batch, conflict in keys:
        label = _labelled(mode, f"{replicas} replicas, batching {batch}, {conflict:g} %")
        try:
            ours = _figure(points[(replicas, mode, batch, conflict)], "throughput_tps", "EPaxos")
            theirs = _figure(
                points.get((replicas, "multipaxos", batch, conflict)),
                "throughput_tps",
                "Multi-Paxos",
            )
        except _Missing as missing:
            yield Check(f"{_MULTIPAXOS_TARGET} ({label})", "FAIL", f"not measured: {missing}")
            continue
        yield Check(
            f"{_MULTIPAXOS_TARGET} ({label})",
            _verdict(ours > theirs),
            f"{ours:,.0f} vs {theirs:,.0f} tx/s",
        )


def _wan_nearest_quorum(results: dict[str, Any]) -> Iterator[Check]:
    for run in results["experiment2-wan"]["runs"]:
        if not run["label"].startswith("EPaxos"):
            continue
        target = f"{_WAN_TARGET} ({run['label']})"
        try:
            sites = _figure(run, "by_site", run["label"])
        except _Missing as missing:
            yield Check(target, "FAIL", f"not measured: {missing}")
            continue
        parts, passed = [], True
        for site, figures in sites.items():
            reference = figures["nearest_fast_quorum_rtt_ms"] + figures["client_hop_rtt_ms"]
            median = figures["p50_ms"]
            ok = median is not None and median <= reference * (1 + WAN_SLACK)
            passed &= ok
            shown = "n/a" if median is None else f"{median:.0f}"
            parts.append(f"{site} {shown}/{reference:g} ms{'' if ok else ' (over)'}")
        yield Check(target, _verdict(passed), "median/nearest quorum: " + ", ".join(parts))


def _wan_below_multipaxos(results: dict[str, Any]) -> Iterator[Check]:
    runs = results["experiment2-wan"]["runs"]
    leader_run = _measured(
        next((run for run in runs if run["label"].startswith("Multi-Paxos")), None),
        "the Multi-Paxos WAN run",
    )
    theirs_by_site = leader_run["by_site"]
    leader_site = list(theirs_by_site)[leader_run["leader"]]
    for run in runs:
        if not run["label"].startswith("EPaxos"):
            continue
        target = f"{_WAN_MULTIPAXOS_TARGET} ({run['label']})"
        try:
            sites = _figure(run, "by_site", run["label"])
        except _Missing as missing:
            yield Check(target, "FAIL", f"not measured: {missing}")
            continue
        parts, passed = [], True
        for site, figures in sites.items():
            ours, theirs = figures["p50_ms"], theirs_by_site[site]["p50_ms"]
            if site == leader_site:
                ok = True
            else:
                ok = ours is not None and theirs is not None and ours < theirs
            passed &= ok
            parts.append(f"{site} {_ms(ours)} vs {_ms(theirs)} ms"
                         + (" (leader)" if site == leader_site else ""))  # fmt: skip
        yield Check(target, _verdict(passed), ", ".join(parts))


def _availability_runs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["protocol"]: run for run in results["experiment3-availability"]["runs"]}


def _availability_gap(results: dict[str, Any]) -> Iterator[Check]:
    run = _measured(_availability_runs(results).get("epaxos"), "the EPaxos availability run")
    gap, timeout = run["longest_gap_ms"], run["recovery_timeout_ms"]
    yield Check(
        _AVAILABILITY_TARGET,
        _verdict(gap <= timeout),
        f"longest gap {gap:,.0f} ms with replica {run['killed_replica']} killed "
        f"(recovery timeout {timeout:g} ms)",
    )


def _multipaxos_stalls(results: dict[str, Any]) -> Iterator[Check]:
    run = _measured(
        _availability_runs(results).get("multipaxos"), "the Multi-Paxos availability run"
    )
    gap, timeout = run["longest_gap_ms"], run["recovery_timeout_ms"]
    restarted = run.get("restarted_at_s")
    down = (
        f"the leader down {(restarted - run['killed_at_s']) * 1000:,.0f} ms"
        if restarted is not None
        else "the leader not restarted"
    )
    yield Check(
        _STALL_TARGET,
        _verdict(gap > timeout),
        f"longest gap {gap:,.0f} ms with {down} (recovery timeout {timeout:g} ms)",
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


_SQLITE_TARGET = "transfer, 3 replicas, 0 % conflicts: cluster >= single-node SQLite"
_ETCD_TARGET = "transfer, 3 replicas: cluster >= 2x etcd (3 members, same clients)"
_P50_TARGET = "one client: p50 below etcd's one-client p50"
_P99_TARGET = "one client: p99 <= 5 ms"
_CONFLICT_TARGET = "EPaxos at 100 % conflicts >= 50 % of 0 %"
_MULTIPAXOS_TARGET = "EPaxos above Multi-Paxos at <= 25 % conflicts"
_WAN_TARGET = "WAN: every site's median within 10 % of its nearest fast quorum RTT"
_WAN_MULTIPAXOS_TARGET = "WAN: median below Multi-Paxos's at every site but the leader's"
_AVAILABILITY_TARGET = "availability: gap at the surviving replicas <= recovery timeout"
_STALL_TARGET = "availability: Multi-Paxos with its leader killed stalls (gap > recovery timeout)"

_CHECKS = (
    (_SQLITE_TARGET, _vs_sqlite),
    (_ETCD_TARGET, _vs_etcd),
    (_P50_TARGET, _one_client_p50),
    (_P99_TARGET, _one_client_p99),
    (_CONFLICT_TARGET, _conflict_keeps_throughput),
    (_MULTIPAXOS_TARGET, _epaxos_beats_multipaxos),
    (_WAN_TARGET, _wan_nearest_quorum),
    (_WAN_MULTIPAXOS_TARGET, _wan_below_multipaxos),
    (_AVAILABILITY_TARGET, _availability_gap),
    (_STALL_TARGET, _multipaxos_stalls),
)
