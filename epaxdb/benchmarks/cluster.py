"""A workload against a replicated cluster, and optionally a baseline beside it.

The cluster is either started here (`LocalCluster`: real `epaxdb serve` processes on
loopback, free ports, data in a temporary directory, protocol batching on or off,
EPaxos (optionally thrifty) or the Multi-Paxos baseline mode, optionally a WAN
profile) or given as replica URLs. `open_target` and `measure` are the parts the
other cluster benchmarks (availability, load curve, the experiments) reuse: one
cluster, several measured windows. The benchmark creates and fills
its own table, drives it from closed-loop clients spread over the replicas
(`loadgen`), and reads around the measured window: the replicas' CPU time (local
processes only, from /proc) and their fast/slow-path commit counters. After the
window, a `transfer` run checks on every replica that the total balance is unchanged
and that all replicas reached the same state hash.

A baseline runs after the cluster is stopped, so the two never compete for the
machine: `sqlite` (the same transactions on one apsw connection) or `etcd` (three
etcd members, puts of the same size as the epaxdb requests).

Everything shares this machine: replicas, load generator and baseline compete for
the same cores, so the figures describe this machine, not a deployment.
"""

from __future__ import annotations

import asyncio
import platform
import random
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import BrokenBarrierError
from typing import Any

import aiohttp

from epaxdb.benchmarks.errors import BenchmarkError
from epaxdb.benchmarks.etcd_baseline import find_etcd, run_etcd_baseline
from epaxdb.benchmarks.http_ops import REQUEST_TIMEOUT_MS, EpaxdbRequests, post_transaction
from epaxdb.benchmarks.loadgen import LoadPlan, Placement, Samples, run_load
from epaxdb.benchmarks.observe import (
    CommitCounters,
    ProgressLine,
    ReplicaProbe,
    WindowSampler,
    total_cpu_s,
)
from epaxdb.benchmarks.sqlite_baseline import run_sqlite_baseline
from epaxdb.benchmarks.stats import latency_summary, per_second
from epaxdb.benchmarks.workloads import TOTAL_QUERY, Workload
from epaxdb.config import ClusterConfig
from epaxdb.runtime.local_cluster import LocalCluster
from epaxdb.runtime.wan import WanProfile, wan_profile

BASELINES = ("sqlite", "etcd")
PROTOCOLS = ("epaxos", "multipaxos")
# Where the Multi-Paxos leader sits under a WAN profile unless told otherwise: the
# paper's choice (Moraru et al., SOSP 2013, the wide-area experiment).
DEFAULT_LEADER_SITE = "California"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_CONVERGE_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class BenchSettings:
    workload: Workload
    replicas: int = 3
    clients: int = 32
    duration_s: float = 10.0
    warmup_s: float = 2.0
    batch: bool = True
    wan: str | None = None
    urls: tuple[str, ...] = ()  # replicas to target instead of starting a cluster
    auth_token: str | None = None  # the bearer token of the --url replicas, if they need one
    baseline: str | None = None
    load_procs: int = 1
    seed: int = 1
    protocol: str = "epaxos"  # of the replicas started here
    leader: int | None = None  # multipaxos: None picks `default_leader`
    thrifty: bool = False
    request_timeout_s: float = REQUEST_TIMEOUT_MS / 1000

    def validate(self) -> WanProfile | None:
        if self.clients < 1 or self.load_procs < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise BenchmarkError(
                "--clients and --load-procs must be >= 1, --duration > 0, --warmup >= 0"
            )
        if not 0 < self.request_timeout_s <= REQUEST_TIMEOUT_MS / 1000:
            raise BenchmarkError(
                f"--request-timeout must be in (0, {REQUEST_TIMEOUT_MS / 1000:g}] seconds"
            )
        if self.protocol not in PROTOCOLS:
            raise BenchmarkError(f"unknown protocol {self.protocol!r}; known: {PROTOCOLS}")
        if self.leader is not None and self.protocol != "multipaxos":
            raise BenchmarkError("--leader is for --protocol multipaxos")
        if self.load_procs > self.clients:
            raise BenchmarkError(f"--load-procs {self.load_procs} exceeds --clients {self.clients}")
        if self.baseline not in (None, *BASELINES):
            raise BenchmarkError(f"unknown baseline {self.baseline!r}; known: {BASELINES}")
        if self.baseline == "etcd":
            find_etcd()  # before a cluster is started for nothing
        replicas = len(self.urls) or self.replicas
        profile = None if self.wan is None else wan_profile(self.wan)
        if profile is not None:
            profile.check_cluster_size(replicas)
        ClusterConfig.for_size(replicas, leader=self.ordering_leader)
        return profile

    @property
    def ordering_leader(self) -> int | None:
        """The Multi-Paxos leader's replica id; None under EPaxos."""
        if self.protocol != "multipaxos":
            return None
        return default_leader(self.wan) if self.leader is None else self.leader

    def serve_args(self) -> list[str]:
        """The `epaxdb serve` options of every replica started for this benchmark."""
        args = ["--batch-size", "100" if self.batch else "1"]
        if self.wan is not None:
            args += ["--wan-profile", self.wan]
        if self.protocol == "multipaxos":
            args += ["--protocol", "multipaxos", "--leader", str(self.ordering_leader)]
        if self.thrifty:
            args.append("--thrifty")
        return args


def default_leader(wan: str | None) -> int:
    """Replica 0, or under a WAN profile the replica at DEFAULT_LEADER_SITE."""
    if wan is None:
        return 0
    sites = wan_profile(wan).sites
    return sites.index(DEFAULT_LEADER_SITE) if DEFAULT_LEADER_SITE in sites else 0


@dataclass(frozen=True, slots=True)
class Target:
    """The replicas a benchmark drives: their probe, their pids when they are local
    processes (for CPU time), and the cluster when it was started here."""

    probe: ReplicaProbe
    pids: list[int] | None
    cluster: LocalCluster | None = None


@contextmanager
def working_directory() -> Iterator[Path]:
    """A temporary directory for replica data, logs and baseline files: removed after
    success, kept after a failure (which becomes a BenchmarkError naming it)."""
    root = Path(tempfile.mkdtemp(prefix="epaxdb-bench-"))
    try:
        yield root
    except (
        BenchmarkError, OSError, aiohttp.ClientError, RuntimeError, BrokenBarrierError
    ) as error:  # fmt: skip
        kept = any(root.iterdir())
        if not kept:
            root.rmdir()
        where = f" (replica logs and data kept in {root})" if kept else ""
        raise BenchmarkError(f"{error}{where}") from error
    shutil.rmtree(root, ignore_errors=True)


@contextmanager
def open_target(settings: BenchSettings, root: Path) -> Iterator[Target]:
    """The given replicas, or a cluster started under `root` (stopped afterwards)."""
    if settings.urls:
        token = settings.auth_token
        probe = ReplicaProbe(settings.urls, {"Authorization": f"Bearer {token}"} if token else {})
        yield Target(probe, _local_pids(probe))
        return
    with LocalCluster(
        root / "cluster", settings.replicas, log_level="warning", serve_args=settings.serve_args()
    ) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        probe = ReplicaProbe([cluster.url(i) for i in range(settings.replicas)], {})
        yield Target(probe, [cluster.processes[i].pid for i in range(settings.replicas)], cluster)
        cluster.stop_all()


def run_workload_benchmark(settings: BenchSettings) -> dict[str, Any]:
    """Run the workload (and the baseline, if any); the result as one JSON-able dict.

    The working directory (replica data and logs, baseline files) is removed after a
    successful run and kept, named in the BenchmarkError, after a failed one."""
    profile = settings.validate()
    with working_directory() as root:
        with open_target(settings, root) as target:
            result = measure(settings, profile, target)
        if settings.baseline is not None:
            attach_baseline(result, run_baseline(settings.baseline, settings, root))
    return result


def measure(
    settings: BenchSettings, profile: WanProfile | None, target: Target, *, setup: bool = True
) -> dict[str, Any]:
    """One measured window of the workload against `target`; with `setup`, the
    workload's table is (re)created and filled first."""
    workload = settings.workload
    probe, pids = target.probe, target.pids
    urls = probe.urls
    if setup:
        setup_table(probe, workload)
    plan = load_plan(settings, profile, probe)

    def sample() -> tuple[float | None, CommitCounters]:
        return (None if pids is None else total_cpu_s(pids)), probe.commit_counters()

    window = WindowSampler(sample, settings.warmup_s, settings.duration_s)
    counts = [0] * settings.load_procs
    progress = ProgressLine(
        f"{workload.name} on {len(urls)} replicas", counts, settings.warmup_s, settings.duration_s
    )

    def on_start(start: float) -> None:
        window.start(start)
        progress.start(start)

    try:
        samples = run_load(plan, settings.load_procs, counts, on_start)
    finally:
        progress.stop()
    (cpu_before, counters_before), (cpu_after, counters_after) = window.result()
    result = _describe(settings, profile, len(urls), samples)
    commits = counters_after - counters_before
    result.update(
        fast_path_ratio=commits.fast_ratio, fast_commits=commits.fast, slow_commits=commits.slow
    )
    count = result["transactions"]
    if cpu_before is not None and cpu_after is not None:
        replica_cpu_s = cpu_after - cpu_before
        result["replica_cpu_s"] = round(replica_cpu_s, 3)
        result["cpu_ms_per_tx"] = (
            round((replica_cpu_s + samples.cpu_s) * 1000 / count, 4) if count else None
        )
    else:  # replicas on other machines: their CPU is not ours to read
        result["replica_cpu_s"] = result["cpu_ms_per_tx"] = None
    result["loadgen_cpu_s"] = round(samples.cpu_s, 3)
    if workload.name == "transfer":
        _note("transfer: checking the total balance and the state hash on every replica")
        result["check"] = check_transfer(probe, workload)
    return result


def setup_table(probe: ReplicaProbe, workload: Workload) -> None:
    _note(f"{workload.name}: creating and filling {workload.table} ({workload.rows:,} rows)")
    asyncio.run(_setup(probe.urls[0], probe.headers, workload))


def load_plan(settings: BenchSettings, profile: WanProfile | None, probe: ReplicaProbe) -> LoadPlan:
    """The closed-loop clients of `settings`, client i on replica i mod n."""
    urls = probe.urls
    placements = tuple(_placement(i, urls, profile) for i in range(settings.clients))
    requests = EpaxdbRequests(settings.workload, round(settings.request_timeout_s * 1000))
    return LoadPlan(
        requests, placements, settings.warmup_s, settings.duration_s, probe.headers, settings.seed
    )


def describe_cluster(settings: BenchSettings) -> dict[str, Any]:
    """How the replicas were configured (None where they were given as URLs)."""
    local = not settings.urls
    return {
        "batch": ("on" if settings.batch else "off") if local else None,
        "wan": settings.wan,
        "protocol": settings.protocol if local else None,
        "leader": settings.ordering_leader if local else None,
        "thrifty": settings.thrifty if local else None,
    }


def _describe(
    settings: BenchSettings, profile: WanProfile | None, replicas: int, samples: Samples
) -> dict[str, Any]:
    workload = settings.workload
    latencies = [record.latency_ms for record in samples.records]
    result: dict[str, Any] = {
        "benchmark": "workload",
        "workload": workload.name,
        "replicas": replicas,
        "target": "urls" if settings.urls else "local cluster",
        "clients": settings.clients,
        "load_procs": settings.load_procs,
        "duration_s": settings.duration_s,
        "warmup_s": settings.warmup_s,
        "rows": workload.rows,
        "conflict_pct": workload.conflict_pct,
        **describe_cluster(settings),
        "request_timeout_s": settings.request_timeout_s,
        **latency_summary(latencies, settings.duration_s),
        "errors": dict(samples.errors),
        "per_second_tps": per_second(
            (record.answered_s for record in samples.records), settings.duration_s
        ),
        "python": platform.python_version(),
    }
    if workload.name == "mixed":
        result["read_pct"] = workload.read_pct
        result["by_kind"] = {
            kind: latency_summary(
                [r.latency_ms for r in samples.records if r.kind == kind], settings.duration_s
            )
            for kind in sorted({record.kind for record in samples.records})
        }
    if profile is not None:
        fast_quorum = ClusterConfig.for_size(replicas).fast_quorum
        result["by_site"] = {
            name: {
                **latency_summary(
                    [r.latency_ms for r in samples.records if r.site == site], settings.duration_s
                ),
                "nearest_fast_quorum_rtt_ms": profile.fast_quorum_rtt_ms(site, fast_quorum),
                "client_hop_rtt_ms": profile.rtt_ms[site][site],
            }
            for site, name in enumerate(profile.sites)
        }
    return result


def _placement(client: int, urls: tuple[str, ...], profile: WanProfile | None) -> Placement:
    """Client i talks to replica i mod n; under a WAN profile it sits at that replica's
    site and pays the hop to it."""
    replica = client % len(urls)
    if profile is None:
        return Placement(urls[replica], replica)
    return Placement(urls[replica], replica, profile.one_way_s(replica, replica))


async def _setup(url: str, headers: dict[str, str], workload: Workload) -> None:
    async with aiohttp.ClientSession(headers=headers) as session:
        for transaction in workload.setup():
            await post_transaction(session, url, transaction)


def check_transfer(probe: ReplicaProbe, workload: Workload) -> dict[str, Any]:
    """Every replica's account count and total (each read executed on that replica),
    then whether all replicas reach the same state hash."""

    async def totals() -> dict[str, Any]:
        async with aiohttp.ClientSession(headers=probe.headers) as session:
            found = {}
            for replica, url in enumerate(probe.urls):
                [answer] = await post_transaction(session, url, ((TOTAL_QUERY, ()),))
                count, total = answer["rows"][0]
                found[str(replica)] = {"accounts": count, "total": total}
            return found

    per_replica = asyncio.run(totals())
    hashes = converged_hashes(probe)
    totals_ok = all(
        found == {"accounts": workload.rows, "total": workload.expected_total}
        for found in per_replica.values()
    )
    agree = len(set(hashes.values())) == 1
    return {
        "expected_total": workload.expected_total,
        "replicas": per_replica,
        "state_hashes": hashes,
        "state_hashes_agree": agree,
        "ok": totals_ok and agree,
    }


def converged_hashes(probe: ReplicaProbe, replicas: Iterable[int] | None = None) -> dict[str, str]:
    """The state hashes of the given replicas (default all) once they agree, or as
    they are after the timeout."""
    ids = list(range(len(probe.urls)) if replicas is None else replicas)
    deadline = time.monotonic() + _CONVERGE_TIMEOUT_S
    while True:
        hashes = {str(i): probe.status(i)["state_hash"] for i in ids}
        if len(set(hashes.values())) == 1 or time.monotonic() > deadline:
            return hashes
        time.sleep(0.1)


def _local_pids(probe: ReplicaProbe) -> list[int] | None:
    """The replicas' pids when all of them run on this machine, else None."""
    if any(urllib.parse.urlsplit(url).hostname not in _LOCAL_HOSTS for url in probe.urls):
        return None
    return [int(probe.status(i)["pid"]) for i in range(len(probe.urls))]


def run_baseline(name: str, settings: BenchSettings, root: Path) -> dict[str, Any]:
    """The same load against what users would otherwise run: `sqlite` (the same
    transactions on one apsw connection) or `etcd` (puts of the same size); its
    figures with `name` and `system`."""
    workload = settings.workload
    if name == "sqlite":
        _note(
            f"baseline: the same {workload.name} transactions on one apsw connection, "
            f"{settings.clients} threads"
        )
        figures = run_sqlite_baseline(
            workload,
            root / "baseline.db",
            settings.clients,
            settings.warmup_s,
            settings.duration_s,
            settings.seed,
        )
        figures["system"] = "SQLite (apsw), one connection, WAL, synchronous=FULL"
    elif name == "etcd":
        request = EpaxdbRequests(workload).next_request(random.Random(settings.seed))
        _note(
            f"baseline: puts of {len(request.body)} bytes to 3 etcd members, "
            f"{settings.clients} clients"
        )
        figures = run_etcd_baseline(
            root / "etcd",
            settings.clients,
            len(request.body),
            settings.warmup_s,
            settings.duration_s,
            settings.load_procs,
            settings.seed,
        )
    else:
        raise BenchmarkError(f"unknown baseline {name!r}; known: {BASELINES}")
    return {"name": name, **figures}


def attach_baseline(result: dict[str, Any], baseline: dict[str, Any]) -> None:
    result["baseline"] = baseline
    result["baseline_tps"] = baseline["throughput_tps"]
    result["baseline_ratio"] = (
        round(result["throughput_tps"] / baseline["throughput_tps"], 4)
        if baseline["throughput_tps"]
        else None
    )


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
