"""What a backup costs the replica it is taken from, and how long import and backup take.

An application database of about `size_mb` MB (a table of 1 KB blobs beside a
`bench` table of `rows` small rows) is imported into a new local cluster of real
replica processes (`epaxdb.migration.seeding`). Then `clients` HTTP clients send
point updates (`UPDATE bench SET v = v + 1 WHERE id = ?`) spread over the replicas,
first for `baseline_s` seconds alone, then while `GET /v1/backup` downloads a backup
of replica 0 (counted, not stored). Latencies are measured at the client; "during" counts the updates
sent and answered while the backup request was open.

Everything shares this machine, so the figures describe this machine.
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

from epaxdb.migration.seeding import seed_cluster
from epaxdb.runtime.local_cluster import LocalCluster, submit

_UPDATE = "UPDATE bench SET v = v + 1 WHERE id = ?"
_BLOB_BYTES = 1000


def run_backup_benchmark(
    size_mb: int = 50,
    replicas: int = 3,
    clients: int = 8,
    baseline_s: float = 3.0,
    rows: int = 10_000,
    seed: int = 1,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="epaxdb-bench-") as root:
        app_db = Path(root) / "app.db"
        _make_app_db(app_db, size_mb, rows)
        database_bytes = app_db.stat().st_size
        started = time.perf_counter()
        seed_cluster(app_db, Path(root) / "cluster", replicas)
        import_s = time.perf_counter() - started
        with LocalCluster(Path(root) / "cluster", replicas, log_level="warning") as cluster:
            cluster.start_all()
            cluster.wait_ready()
            figures = asyncio.run(_drive(cluster, replicas, clients, baseline_s, rows, seed))
            cluster.stop_all()
    return {
        "benchmark": "backup_under_load",
        "database_bytes": database_bytes,
        "replicas": replicas,
        "clients": clients,
        "import_s": round(import_s, 3),
        **figures,
    }


def _make_app_db(path: Path, size_mb: int, rows: int) -> None:
    db = apsw.Connection(str(path))
    try:
        db.execute("CREATE TABLE bench(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        db.execute("CREATE TABLE payload(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        with db:
            db.executemany("INSERT INTO bench VALUES (?, 0)", ((i,) for i in range(rows)))
            db.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO payload SELECT i, randomblob(?) FROM n",
                (size_mb * 1_000_000 // (_BLOB_BYTES + 50), _BLOB_BYTES),
            )
    finally:
        db.close()


async def _drive(
    cluster: LocalCluster, replicas: int, clients: int, baseline_s: float, rows: int,
    seed: int,
) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    latencies: list[tuple[float, float]] = []  # (sent, answered), perf_counter seconds
    errors: dict[str, int] = {}
    stop = asyncio.Event()

    async with aiohttp.ClientSession() as session:

        async def client(replica_id: int) -> None:
            while not stop.is_set():
                sent = time.perf_counter()
                status, body = await submit(session, cluster.url(replica_id),
                                            [(_UPDATE, [rng.randrange(rows)])])  # fmt: skip
                if status == 200:
                    latencies.append((sent, time.perf_counter()))
                else:
                    errors[body["error"]["code"]] = errors.get(body["error"]["code"], 0) + 1

        workers = [asyncio.ensure_future(client(i % replicas)) for i in range(clients)]
        await asyncio.sleep(0.5)  # warm-up, not measured
        baseline_from = time.perf_counter()
        await asyncio.sleep(baseline_s)
        backup_from = time.perf_counter()
        async with session.get(f"{cluster.url(0)}/v1/backup") as response:
            response.raise_for_status()
            written = 0  # the bytes are counted, not kept
            async for chunk in response.content.iter_chunked(1 << 20):
                written += len(chunk)
            executed_count = int(response.headers["Epaxdb-Executed-Count"])
        backup_to = time.perf_counter()
        stop.set()
        await asyncio.gather(*workers)

    def window(start: float, end: float) -> dict[str, Any]:
        inside = [(a - s) * 1000 for s, a in latencies if start <= s and a <= end]
        return _summary(inside, end - start)

    return {
        "backup_s": round(backup_to - backup_from, 3),
        "backup_bytes": written,
        "backup_executed_count": executed_count,
        "updates_baseline": window(baseline_from, backup_from),
        "updates_during_backup": window(backup_from, backup_to),
        "errors": errors,
    }


def _summary(latencies_ms: list[float], seconds: float) -> dict[str, Any]:
    if len(latencies_ms) < 2:
        return {"transactions": len(latencies_ms)}
    percentiles = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {
        "transactions": len(latencies_ms),
        "throughput_tps": round(len(latencies_ms) / seconds, 1),
        "p50_ms": round(statistics.median(latencies_ms), 2),
        "p99_ms": round(percentiles[98], 2),
        "max_ms": round(max(latencies_ms), 2),
    }
