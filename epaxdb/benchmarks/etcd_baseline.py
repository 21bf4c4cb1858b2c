"""The etcd baseline: three etcd members on loopback, loaded with puts of the same size
as the epaxdb requests, from the same number of clients, for the same window.

etcd is what users pick for a small replicated store; its Raft leader orders every
write. The members run from the `etcd` binary on PATH (Debian's `etcd-server`
package); nothing is downloaded. Clients use etcd's HTTP/JSON gateway
(`POST /v3/kv/put`) over keep-alive connections spread over the members, with the
same load generator (and so the same client overhead) as the epaxdb run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from epaxdb.benchmarks.errors import BaselineUnavailable, BenchmarkError
from epaxdb.benchmarks.http_ops import EtcdPuts
from epaxdb.benchmarks.loadgen import LoadPlan, Placement, run_load
from epaxdb.benchmarks.observe import ProgressLine, WindowSampler, total_cpu_s
from epaxdb.benchmarks.stats import latency_summary
from epaxdb.runtime.local_cluster import free_ports

MEMBERS = 3
_HEALTHY_TIMEOUT_S = 40.0
INSTALL_HINT = (
    "the etcd baseline needs the `etcd` server binary on PATH; on Debian or Ubuntu: "
    "`apt-get install etcd-server` (etcd 3.4 or newer, with its HTTP/JSON gateway)"
)


def find_etcd() -> str:
    """The etcd binary; BaselineUnavailable, naming how to install it, if missing."""
    binary = shutil.which("etcd")
    if binary is None:
        raise BaselineUnavailable(INSTALL_HINT)
    return binary


class EtcdCluster:
    """Three members on loopback with their data under `root`, stopped by PID."""

    def __init__(self, binary: str, root: Path, host: str = "127.0.0.1") -> None:
        self.binary = binary
        self.root = root
        self.host = host
        ports = free_ports(2 * MEMBERS, host)
        self.client_ports, self.peer_ports = ports[:MEMBERS], ports[MEMBERS:]
        self.processes: list[subprocess.Popen[bytes]] = []

    def url(self, member: int) -> str:
        return f"http://{self.host}:{self.client_ports[member]}"

    def command(self, member: int) -> list[str]:
        cluster = ",".join(
            f"m{i}=http://{self.host}:{port}" for i, port in enumerate(self.peer_ports)
        )
        return [
            self.binary,
            "--name",
            f"m{member}",
            "--data-dir",
            str(self.root / f"m{member}"),
            "--listen-client-urls",
            self.url(member),
            "--advertise-client-urls",
            self.url(member),
            "--listen-peer-urls",
            f"http://{self.host}:{self.peer_ports[member]}",
            "--initial-advertise-peer-urls",
            f"http://{self.host}:{self.peer_ports[member]}",
            "--initial-cluster",
            cluster,
            "--initial-cluster-token",
            "epaxdb-bench",
            "--initial-cluster-state",
            "new",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]

    def __enter__(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        for member in range(MEMBERS):
            with open(self.root / f"m{member}.log", "ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        self.command(member),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        # SIGKILL: the data is thrown away, and on SIGTERM the leader spends seconds
        # trying to hand its leadership to members that are stopping too.
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
        for process in self.processes:
            process.wait()
        self.processes = []

    def version(self) -> str:
        with urllib.request.urlopen(f"{self.url(0)}/version", timeout=5) as response:
            return str(json.load(response).get("etcdserver", "unknown"))

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + _HEALTHY_TIMEOUT_S
        pending = list(range(MEMBERS))
        while pending:
            member = pending[0]
            if self.processes[member].poll() is not None:
                raise BenchmarkError(
                    f"etcd member {member} exited; see {self.root / f'm{member}.log'}"
                )
            try:
                with urllib.request.urlopen(f"{self.url(member)}/health", timeout=2) as response:
                    if json.load(response).get("health") == "true":
                        pending.pop(0)
                        continue
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"etcd member {member} not healthy after "
                    f"{_HEALTHY_TIMEOUT_S:g} s; see {self.root}"
                )
            time.sleep(0.1)


def run_etcd_baseline(
    root: Path,
    clients: int,
    value_bytes: int,
    warmup_s: float,
    duration_s: float,
    load_procs: int = 1,
    seed: int = 1,
) -> dict[str, Any]:
    binary = find_etcd()
    with EtcdCluster(binary, root) as etcd:
        plan = LoadPlan(
            EtcdPuts(value_bytes),
            tuple(Placement(etcd.url(i % MEMBERS)) for i in range(clients)),
            warmup_s,
            duration_s,
            {},
            seed,
        )
        pids = [process.pid for process in etcd.processes]
        cpu = WindowSampler(lambda: total_cpu_s(pids), warmup_s, duration_s)
        counts = [0] * load_procs
        progress = ProgressLine("etcd puts", counts, warmup_s, duration_s)

        def on_start(start: float) -> None:
            cpu.start(start)
            progress.start(start)

        try:
            samples = run_load(plan, load_procs, counts, on_start)
        finally:
            progress.stop()
        cpu_before, cpu_after = cpu.result()
        version = etcd.version()
    figures = latency_summary([record.latency_ms for record in samples.records], duration_s)
    server_cpu_s = cpu_after - cpu_before
    count = figures["transactions"]
    figures.update(
        {
            "system": f"etcd {version}, {MEMBERS} members on loopback",
            "value_bytes": value_bytes,
            "errors": dict(samples.errors),
            "server_cpu_s": round(server_cpu_s, 3),
            "loadgen_cpu_s": round(samples.cpu_s, 3),
            "cpu_ms_per_tx": round((server_cpu_s + samples.cpu_s) * 1000 / count, 4)
            if count
            else None,
        }
    )
    return figures
