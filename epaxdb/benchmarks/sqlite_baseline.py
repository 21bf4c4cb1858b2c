"""The single-node baseline: the same transactions the way a one-process app runs them.

One apsw connection on a file in WAL mode with `synchronous=FULL` (every commit
fsynced, as the replicas' state databases), one transaction per operation
(`BEGIN IMMEDIATE` for writes, `BEGIN` for reads, then `COMMIT`), and as many threads
as the cluster run has clients, sharing the connection under a lock, for the same
warm-up and window. A latency includes the wait for the lock, as an application's
request would. For `transfer`, the total balance is checked at the end.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import apsw

from epaxdb.benchmarks.errors import BenchmarkError
from epaxdb.benchmarks.observe import WindowSampler
from epaxdb.benchmarks.stats import latency_summary
from epaxdb.benchmarks.workloads import TOTAL_QUERY, Workload

_MAX_TRANSACTIONS_PER_THREAD = 10_000_000


def run_sqlite_baseline(
    workload: Workload,
    path: Path,
    clients: int,
    warmup_s: float,
    duration_s: float,
    seed: int = 1,
) -> dict[str, Any]:
    db = apsw.Connection(str(path))
    try:
        mode = db.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        if mode != "wal":
            raise BenchmarkError(f"{path}: SQLite refused WAL mode (journal_mode={mode})")
        db.execute("PRAGMA synchronous = FULL")
        for transaction in workload.setup():
            with db:
                for sql, params in transaction:
                    db.execute(sql, params)
        figures = _drive(db, workload, clients, warmup_s, duration_s, seed)
        if workload.name == "transfer":
            count, total = db.execute(TOTAL_QUERY).fetchall()[0]
            figures["check"] = {
                "accounts": count,
                "total": total,
                "expected_total": workload.expected_total,
                "ok": count == workload.rows and total == workload.expected_total,
            }
    finally:
        db.close()
    return figures


def _drive(
    db: apsw.Connection,
    workload: Workload,
    clients: int,
    warmup_s: float,
    duration_s: float,
    seed: int,
) -> dict[str, Any]:
    lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = time.monotonic()
    window_start, window_end = start + warmup_s, start + warmup_s + duration_s
    failures: list[Exception] = []

    def client(index: int) -> None:
        rng = random.Random(seed * 1_000_003 + index)
        cursor = db.cursor()
        mine = latencies[index]
        try:
            for _ in range(_MAX_TRANSACTIONS_PER_THREAD):
                if time.monotonic() >= window_end:
                    return
                operation = workload.next_operation(rng)
                sent = time.monotonic()
                with lock:
                    cursor.execute("BEGIN" if operation.read_only else "BEGIN IMMEDIATE")
                    for sql, params in operation.statements:
                        cursor.execute(sql, params).fetchall()
                    cursor.execute("COMMIT")
                done = time.monotonic()
                if sent >= window_start and done <= window_end:
                    mine.append((done - sent) * 1000)
        except Exception as error:  # noqa: BLE001 -- re-raised after the run, not lost
            failures.append(error)

    cpu = WindowSampler(time.process_time, warmup_s, duration_s)
    cpu.start(start)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_before, cpu_after = cpu.result()
    if failures:
        raise BenchmarkError(f"the SQLite baseline failed: {failures[0]!r}") from failures[0]
    merged = [latency for mine in latencies for latency in mine]
    figures = latency_summary(merged, duration_s)
    figures["cpu_ms_per_tx"] = (
        round((cpu_after - cpu_before) * 1000 / len(merged), 4) if merged else None
    )
    return figures
