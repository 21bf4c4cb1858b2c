"""Point updates against a local cluster of `epaxdb serve` processes, and the same
transactions on one apsw connection with the same durability settings.

The cluster: `replicas` processes on loopback (LocalCluster), a table of `rows`
rows, and `clients` concurrent HTTP clients spread over the replicas, each sending
`UPDATE bench SET v = v + 1 WHERE id = ?` for a uniformly random id, one request
after the other. Latency is measured at the client, from sending the request to
reading the answer; throughput counts answers completed in the measurement window
(after `warmup_s`).

The baseline: one apsw connection on a file in WAL mode with synchronous=FULL (as
the state database), each update in its own BEGIN IMMEDIATE ... COMMIT, back to back.
It is the best a single SQLite process does with every commit durable; the cluster
additionally replicates, makes the protocol's records durable and goes through HTTP.

Everything shares this machine: replicas, clients and the baseline compete for the
same cores, so the figures describe this machine, not a deployment.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import apsw

from epaxdb.runtime.local_cluster import LocalCluster, submit

_UPDATE = "UPDATE bench SET v = v + 1 WHERE id = ?"


def run_update_benchmark(
    replicas: int = 3,
    clients: int = 32,
    duration_s: float = 5.0,
    warmup_s: float = 1.0,
    rows: int = 10_000,
    seed: int = 1,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="epaxdb-bench-") as root:
        cluster_figures = _cluster(Path(root) / "cluster", replicas, clients, duration_s,
                                   warmup_s, rows, seed)  # fmt: skip
        single_figures = _single_connection(Path(root) / "single.db", duration_s, rows, seed)
    return {
        "benchmark": "point_updates",
        "replicas": replicas,
        "clients": clients,
        "rows": rows,
        "duration_s": duration_s,
        "cluster": cluster_figures,
        "single_apsw": single_figures,
        "throughput_ratio": round(
            cluster_figures["throughput_tps"] / single_figures["throughput_tps"], 4
        ),
    }


def _cluster(
    root: Path, replicas: int, clients: int, duration_s: float, warmup_s: float, rows: int,
    seed: int,
) -> dict[str, Any]:  # fmt: skip
    with LocalCluster(root, replicas, log_level="warning") as cluster:
        cluster.start_all()
        cluster.wait_ready()
        figures = asyncio.run(
            _drive(cluster, replicas, clients, duration_s, warmup_s, rows, seed)
        )
        statuses = [cluster.status(replica_id) for replica_id in range(replicas)]
        figures["fast_commits"] = sum(s["stats"]["fast_commits"] for s in statuses)
        figures["slow_commits"] = sum(s["stats"]["slow_commits"] for s in statuses)
        figures["log_syncs"] = sum(s["log_syncs"] for s in statuses)
        cluster.stop_all()
    return figures


async def _drive(
    cluster: LocalCluster, replicas: int, clients: int, duration_s: float, warmup_s: float,
    rows: int, seed: int,
) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=clients * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        schema = [("CREATE TABLE bench(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)", [])]
        status, body = await submit(session, cluster.url(0), schema)
        if status != 200:
            raise RuntimeError(f"creating the table failed: {body}")
        for start in range(0, rows, 500):
            values = ",".join(f"({i}, 0)" for i in range(start, min(rows, start + 500)))
            await submit(session, cluster.url(0), [(f"INSERT INTO bench VALUES {values}", [])])
        started = time.perf_counter()
        measure_from, measure_to = started + warmup_s, started + warmup_s + duration_s
        latencies_ms: list[float] = []
        errors: dict[str, int] = {}

        async def client(replica_id: int) -> None:
            url = cluster.url(replica_id)
            while time.perf_counter() < measure_to:
                sent = time.perf_counter()
                status, body = await submit(session, url, [(_UPDATE, [rng.randrange(rows)])])
                done = time.perf_counter()
                if status != 200:
                    code = body["error"]["code"]
                    errors[code] = errors.get(code, 0) + 1
                elif measure_from <= sent and done <= measure_to:
                    latencies_ms.append((done - sent) * 1000)

        await asyncio.gather(*(client(i % replicas) for i in range(clients)))
    return {**_summary(latencies_ms, duration_s), "errors": errors}


def _single_connection(path: Path, duration_s: float, rows: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    db = apsw.Connection(str(path))
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE bench(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        with db:
            db.executemany("INSERT INTO bench VALUES (?, 0)", ((i,) for i in range(rows)))
        latencies_ms = []
        deadline = time.perf_counter() + duration_s
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute(_UPDATE, (rng.randrange(rows),))
            db.execute("COMMIT")
            latencies_ms.append((time.perf_counter() - started) * 1000)
    finally:
        db.close()
    return _summary(latencies_ms, duration_s)


def _summary(latencies_ms: list[float], duration_s: float) -> dict[str, Any]:
    if not latencies_ms:
        return {"transactions": 0, "throughput_tps": 0.0, "p50_ms": None, "p99_ms": None}
    percentiles = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {
        "transactions": len(latencies_ms),
        "throughput_tps": round(len(latencies_ms) / duration_s, 1),
        "p50_ms": round(statistics.median(latencies_ms), 3),
        "p99_ms": round(percentiles[98], 3),
    }
