"""A cluster of real `epaxdb serve` processes on loopback, for tests and benchmarks.

Each replica is a child process with its own data directory under `root` and its
log (JSON lines) appended to `root/replica-N.log`, so a restarted replica's history
stays in one file. Ports are ephemeral ones chosen when the cluster is created and
kept across restarts, since peers address each other by them. Processes are
stopped by PID only: `stop` sends SIGTERM (a clean shutdown), `kill` SIGKILL (a
crash). `submit` is a minimal asynchronous client of `POST /v1/tx`. A cluster
secret file (replica connections) and an auth token file (HTTP clients) are passed
to every replica as given.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import aiohttp

import epaxdb
from epaxdb.runtime.datadir import replica_directory

_SOURCE_ROOT = Path(epaxdb.__file__).resolve().parent.parent


# Ports for listeners are drawn below Linux's ephemeral range (32768 and up): there,
# an outgoing connection of another process cannot take a port between our probe and
# the replica's bind (seen as flaky cluster tests on a busy machine).
_LISTEN_PORTS = range(10_000, 31_000)


def free_port(host: str = "127.0.0.1") -> int:
    return free_base_port(1, host, spacing=0)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports, each free now. (Drawn one by one they may repeat: two
    replicas given one port made a cluster test time out, 1 run in ~1,000.)"""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def free_base_port(size: int = 3, host: str = "127.0.0.1", *, spacing: int = 1000) -> int:
    """A `--base-port` whose HTTP ports (base + i) and peer ports (base + spacing + i)
    are all free now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(_LISTEN_PORTS.start, _LISTEN_PORTS.stop)
        ports = {base + i for i in range(size)} | {base + spacing + i for i in range(size)}
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind((host, port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free range of ports for a local cluster")


class LocalCluster:
    def __init__(
        self,
        root: Path,
        size: int,
        *,
        cluster_id: str = "local",
        log_level: str = "info",
        host: str = "127.0.0.1",
        base_port: int | None = None,
        secret_file: Path | None = None,
        auth_token_file: Path | None = None,
        serve_args: Sequence[str] = (),
    ) -> None:
        """Ports are ephemeral unless `base_port` is given: then replica i serves HTTP
        on `base_port + i` and talks to its peers on `base_port + 1000 + i`, the same
        on every start, so a cluster restarts from its data directory."""
        self.root = root
        self.size = size
        self.cluster_id = cluster_id
        self.log_level = log_level
        self.host = host
        if base_port is None:
            ports = free_ports(2 * size, host)
            self.peer_ports, self.http_ports = ports[:size], ports[size:]
        else:
            self.http_ports = [base_port + i for i in range(size)]
            self.peer_ports = [base_port + 1000 + i for i in range(size)]
        self.secret_file = secret_file
        self.auth_token_file = auth_token_file
        self.serve_args = tuple(serve_args)  # more `epaxdb serve` options, every replica
        self.auth_token = auth_token_file.read_text().strip() if auth_token_file else None
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        for replica_id in list(self.processes):
            self.kill(replica_id)

    # ------------------------------------------------------------------ processes

    def url(self, replica_id: int) -> str:
        return f"http://{self.host}:{self.http_ports[replica_id]}"

    def data_dir(self, replica_id: int) -> Path:
        return replica_directory(self.root, replica_id)

    def log_path(self, replica_id: int) -> Path:
        return self.root / f"replica-{replica_id}.log"

    def command(self, replica_id: int) -> list[str]:
        peers = ",".join(f"{i}={self.host}:{port}" for i, port in enumerate(self.peer_ports))
        command = [
            sys.executable, "-m", "epaxdb", "serve", "--id", str(replica_id),
            "--peers", peers, "--http", f"{self.host}:{self.http_ports[replica_id]}",
            "--data", str(self.data_dir(replica_id)), "--cluster-id", self.cluster_id,
            "--log-level", self.log_level,
        ]  # fmt: skip
        if self.secret_file is not None:
            command += ["--secret-file", str(self.secret_file)]
        if self.auth_token_file is not None:
            command += ["--auth-token-file", str(self.auth_token_file)]
        return command + list(self.serve_args)

    def headers(self) -> dict[str, str]:
        """What a client of this cluster sends with every request (the bearer token)."""
        return {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}

    def start(self, replica_id: int) -> None:
        if replica_id in self.processes and self.processes[replica_id].poll() is None:
            raise RuntimeError(f"replica {replica_id} is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_SOURCE_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        with open(self.log_path(replica_id), "ab") as log:
            self.processes[replica_id] = subprocess.Popen(
                self.command(replica_id), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                # Own session: a terminal's Ctrl-C reaches only the parent, which then
                # stops each replica by its pid, in order.
                env=env, start_new_session=True,
            )  # fmt: skip

    def start_all(self) -> None:
        for replica_id in range(self.size):
            self.start(replica_id)

    def kill(self, replica_id: int) -> None:
        """SIGKILL, as a crash: nothing is flushed, nothing is closed."""
        process = self.processes.pop(replica_id, None)
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self, replica_id: int, timeout_s: float = 20.0) -> int:
        """SIGTERM and wait for a clean exit; return the exit status."""
        process = self.processes.pop(replica_id)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            raise

    def stop_all(self) -> dict[int, int]:
        return {replica_id: self.stop(replica_id) for replica_id in list(self.processes)}

    # ------------------------------------------------------------------ observation

    def status(self, replica_id: int, timeout_s: float = 5.0) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url(replica_id)}/v1/status", headers=self.headers()
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as r:
            return dict(json.load(r))

    def wait_ready(self, replica_ids: list[int] | None = None, timeout_s: float = 30.0) -> None:
        """Until every given replica answers its status with every peer connected."""
        pending = list(range(self.size) if replica_ids is None else replica_ids)
        deadline = time.monotonic() + timeout_s
        while pending:
            replica_id = pending[0]
            process = self.processes.get(replica_id)
            if process is None or process.poll() is not None:
                raise RuntimeError(
                    f"replica {replica_id} is not running; see {self.log_path(replica_id)}"
                )
            try:
                status = self.status(replica_id, timeout_s=2.0)
                if all(p["outbound_connected"] for p in status["peers"]
                       if p["replica_id"] in self.processes):  # fmt: skip
                    pending.pop(0)
                    continue
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"replica {replica_id} not ready after {timeout_s} s")
            time.sleep(0.05)

    def state_hashes(self, replica_ids: list[int] | None = None) -> dict[int, str]:
        ids = list(self.processes) if replica_ids is None else replica_ids
        return {replica_id: self.status(replica_id)["state_hash"] for replica_id in ids}

    def wait_converged(self, timeout_s: float = 30.0) -> str:
        """Until every running replica reports the same state hash; return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            hashes = self.state_hashes()
            if len(set(hashes.values())) == 1:
                return next(iter(hashes.values()))
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas did not converge: {hashes}")
            time.sleep(0.1)


async def submit(
    session: aiohttp.ClientSession,
    url: str,
    statements: Sequence[tuple[str, Sequence[Any]]],
    *,
    request_id: str | None = None,
    timeout_ms: int = 10_000,
) -> tuple[int, dict[str, Any]]:
    """POST one transaction; (HTTP status, JSON body). Connection failures raise
    aiohttp.ClientError."""
    body: dict[str, Any] = {
        "statements": [{"sql": sql, "params": list(params)} for sql, params in statements],
        "timeout_ms": timeout_ms,
    }
    if request_id is not None:
        body["request_id"] = request_id
    timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000 + 5)
    async with session.post(f"{url}/v1/tx", json=body, timeout=timeout) as response:
        return response.status, await response.json()
