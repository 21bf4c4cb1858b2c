"""`epaxdb bench availability`: throughput over time while a replica crashes and returns.

Closed-loop clients on every replica send point updates. At `kill_at_s` (seconds into
the measured window) one replica is killed with SIGKILL by its pid (EPaxos: replica
0; Multi-Paxos: the leader, which has no successor); at `restart_at_s` it is started
again from its data directory. The clients of the killed replica get connection
errors while it is down: they count as errors, never as commits.

Reported: commits per 1 s bucket, in total, of the clients of the surviving replicas,
and per replica; errors per bucket and replica; and the longest gap, the longest time
in which no commit was acknowledged to any client of a surviving replica, beside the
recovery timeout every replica runs with (`ClusterConfig`'s default: an instance its
owner left uncommitted is recovered by another replica after it). Requests carry a
short timeout (`request_timeout_s`) so that a client whose request was lost with the
killed replica asks again soon instead of waiting out the default 10 s.

After the window every running replica must reach the same state hash: the restarted
replica has caught up.
"""

from __future__ import annotations

import bisect
import itertools
import sys
import threading
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from epaxdb.benchmarks.cluster import (
    BenchSettings,
    converged_hashes,
    describe_cluster,
    load_plan,
    open_target,
    setup_table,
    working_directory,
)
from epaxdb.benchmarks.errors import BenchmarkError
from epaxdb.benchmarks.loadgen import Failure, Record, run_load
from epaxdb.benchmarks.observe import ProgressLine
from epaxdb.benchmarks.stats import latency_summary, per_second
from epaxdb.config import ClusterConfig
from epaxdb.runtime.local_cluster import LocalCluster
from epaxdb.runtime.wan import WanProfile

# Short enough that a client whose request was lost with the killed replica (Multi-Paxos:
# forwarded to the dead leader) asks again soon; long enough for any commit here.
DEFAULT_REQUEST_TIMEOUT_S = 2.0
_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class AvailabilitySettings:
    bench: BenchSettings  # the cluster and the load (an `update` workload)
    kill_at_s: float
    restart_at_s: float | None  # None: the killed replica stays down

    @property
    def victim(self) -> int:
        """The replica killed: the Multi-Paxos leader, else replica 0."""
        leader = self.bench.ordering_leader
        return 0 if leader is None else leader

    def validate(self) -> WanProfile | None:
        bench = self.bench
        if bench.urls or bench.baseline is not None:
            raise BenchmarkError(
                "the availability benchmark kills and restarts replicas it started itself: "
                "no --url, no --baseline"
            )
        profile = bench.validate()
        if not 0 <= self.kill_at_s < bench.duration_s:
            raise BenchmarkError(
                f"--kill-at must be inside the measured window [0, {bench.duration_s:g}) s"
            )
        if self.restart_at_s is not None and not (
            self.kill_at_s < self.restart_at_s < bench.duration_s
        ):
            raise BenchmarkError(
                f"--restart-at must be after --kill-at and before the window ends "
                f"({bench.duration_s:g} s)"
            )
        return profile


def run_availability_benchmark(settings: AvailabilitySettings) -> dict[str, Any]:
    profile = settings.validate()
    bench = settings.bench
    with working_directory() as root, open_target(bench, root) as target:
        assert target.cluster is not None  # validate() refused --url
        setup_table(target.probe, bench.workload)
        plan = load_plan(bench, profile, target.probe)
        faults = FaultSchedule(target.cluster, settings, bench.warmup_s)
        counts = [0] * bench.load_procs
        progress = ProgressLine(
            f"availability, replica {settings.victim} killed at {settings.kill_at_s:g} s",
            counts,
            bench.warmup_s,
            bench.duration_s,
        )

        def on_start(start: float) -> None:
            faults.start(start)
            progress.start(start)

        try:
            samples = run_load(plan, bench.load_procs, counts, on_start)
        except BaseException:
            faults.cancel()  # a failed run must not restart a replica after the teardown
            raise
        finally:
            progress.stop()
        events = faults.result()
        running = sorted(target.cluster.processes)
        _note(f"availability: waiting for replicas {running} to reach the same state")
        hashes = converged_hashes(target.probe, running)
    timeline = availability_timeline(
        samples.records,
        samples.failures,
        bench.duration_s,
        bench.replicas,
        settings.victim,
        events["killed_at_s"],
        events.get("restarted_at_s"),
    )
    config = ClusterConfig.for_size(bench.replicas, leader=bench.ordering_leader)
    latencies = [record.latency_ms for record in samples.records]
    return {
        "benchmark": "availability",
        "workload": bench.workload.name,
        "replicas": bench.replicas,
        "clients": bench.clients,
        "duration_s": bench.duration_s,
        "warmup_s": bench.warmup_s,
        "rows": bench.workload.rows,
        "conflict_pct": bench.workload.conflict_pct,
        **describe_cluster(bench),
        "request_timeout_s": bench.request_timeout_s,
        "killed_replica": settings.victim,
        "kill_at_s": settings.kill_at_s,
        "restart_at_s": settings.restart_at_s,
        **events,
        "recovery_timeout_ms": config.recovery_timeout_ms,
        **latency_summary(latencies, bench.duration_s),
        "errors": dict(samples.errors),
        **timeline,
        "check": {
            "replicas": running,
            "state_hashes": hashes,
            "ok": len(set(hashes.values())) == 1,
        },
    }


class FaultSchedule:
    """Kills the victim at `kill_at_s` and restarts it at `restart_at_s` (seconds into
    the window), on its own thread; records when each happened and when the restarted
    replica served again. `cancel` ends the schedule where it is (a run that failed)."""

    def __init__(self, cluster: LocalCluster, settings: AvailabilitySettings, warmup_s: float):
        self._cluster = cluster
        self._settings = settings
        self._warmup_s = warmup_s
        self._events: dict[str, float | None] = {}
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()

    def start(self, start: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Skip the steps still due, and wait for the one under way to end."""
        self._cancelled.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> dict[str, float | None]:
        """`killed_at_s`, and with a restart `restarted_at_s` and `serving_again_at_s`
        (None if it was not ready in time); re-raises what the schedule raised."""
        assert self._thread is not None, "start() was not called"
        self._thread.join()
        if self._error is not None:
            raise self._error
        return dict(self._events)

    def _run(self, start: float) -> None:
        window_start = start + self._warmup_s
        victim = self._settings.victim

        def since_window() -> float:
            return round(time.monotonic() - window_start, 4)

        def cancelled_before(at_s: float) -> bool:
            return self._cancelled.wait(max(0.0, window_start + at_s - time.monotonic()))

        try:
            if cancelled_before(self._settings.kill_at_s):
                raise BenchmarkError("the availability run ended before the kill")
            self._cluster.kill(victim)
            self._events["killed_at_s"] = since_window()
            restart_at_s = self._settings.restart_at_s
            if restart_at_s is None:
                return
            if cancelled_before(restart_at_s):
                raise BenchmarkError("the availability run ended before the restart")
            self._cluster.start(victim)
            self._events["restarted_at_s"] = since_window()
            try:
                self._cluster.wait_ready([victim], timeout_s=_READY_TIMEOUT_S)
                self._events["serving_again_at_s"] = since_window()
            except (TimeoutError, urllib.error.URLError):
                self._events["serving_again_at_s"] = None
        except Exception as error:  # noqa: BLE001 -- re-raised by result()
            self._error = error


def availability_timeline(
    records: Sequence[Record],
    failures: Sequence[Failure],
    duration_s: float,
    replicas: int,
    victim: int,
    killed_at_s: float,
    restarted_at_s: float | None,
) -> dict[str, Any]:
    """Commits and errors per 1 s bucket (total, surviving replicas' clients, per
    replica) and the gaps seen by the clients of the surviving replicas.

    A gap is the time between two consecutive commits acknowledged to those clients,
    or from the last one to the window's end (a stall that lasts to the end counts).
    The window's start is not an edge: requests sent during the warm-up are not
    recorded, so the first commits of the window arrive one latency late."""
    survivors = sorted(set(range(replicas)) - {victim})
    by_replica = {
        str(r): per_second((x.answered_s for x in records if x.site == r), duration_s)
        for r in range(replicas)
    }
    errors_by_replica = {
        str(r): per_second((f.at_s for f in failures if f.site == r), duration_s)
        for r in range(replicas)
    }
    acknowledged = sorted(x.answered_s for x in records if x.site != victim)
    gaps = _gaps(acknowledged, duration_s)
    longest = max(gaps, default=(0.0, duration_s), key=lambda gap: gap[1] - gap[0])
    before_kill = [gap for gap in gaps if gap[1] <= killed_at_s]
    at_kill = _gap_at(acknowledged, killed_at_s, duration_s)
    return {
        "surviving_replicas": survivors,
        "per_second_tps": per_second((x.answered_s for x in records), duration_s),
        "surviving_per_second_tps": per_second(acknowledged, duration_s),
        "per_replica_tps": by_replica,
        "per_replica_errors_per_second": errors_by_replica,
        "errors_while_down": _errors_between(
            failures, victim, killed_at_s, duration_s if restarted_at_s is None else restarted_at_s
        ),
        "longest_gap_ms": _ms(longest[1] - longest[0]),
        "longest_gap_from_s": round(longest[0], 4),
        "longest_gap_to_s": round(longest[1], 4),
        "gap_at_kill_ms": _ms(at_kill[1] - at_kill[0]),
        "longest_gap_before_kill_ms": _ms(
            max((end - begin for begin, end in before_kill), default=0.0)
        ),
    }


def _gaps(times: Sequence[float], duration_s: float) -> list[tuple[float, float]]:
    if not times:
        return [(0.0, duration_s)]
    edges = [*times, max(duration_s, times[-1])]
    return list(itertools.pairwise(edges))


def _gap_at(times: Sequence[float], at_s: float, duration_s: float) -> tuple[float, float]:
    """The gap around `at_s`: from the last acknowledgement at or before it to the
    first one after it (or the window's end)."""
    index = bisect.bisect_right(times, at_s)
    begin = times[index - 1] if index else 0.0
    end = times[index] if index < len(times) else max(duration_s, at_s)
    return begin, end


def _errors_between(
    failures: Sequence[Failure], replica: int, begin_s: float, end_s: float
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for failure in failures:
        if failure.site == replica and begin_s <= failure.at_s < end_s:
            counts[failure.error] = counts.get(failure.error, 0) + 1
    return counts


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
