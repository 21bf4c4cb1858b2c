"""Real `epaxdb serve` processes on loopback: convergence, crashes, deterministic errors.

Every load loop is bounded twice: a number of transactions per client and a
deadline. Processes are stopped by PID (LocalCluster). On a failure, the replica
logs are in the test's temporary directory (replica-N.log).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from epaxdb.runtime.local_cluster import LocalCluster, submit
from epaxdb.storage import StateDatabase, TransactionSpec

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

ACCOUNTS = 10
SCHEMA = [
    ("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)", []),
    ("CREATE TABLE acked(id TEXT PRIMARY KEY, replica INTEGER NOT NULL)", []),
    *[("INSERT INTO accounts VALUES (?, 0)", [i]) for i in range(ACCOUNTS)],
]


def one(
    cluster: LocalCluster, replica_id: int, statements: Sequence[tuple[str, Sequence[Any]]]
) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            status, body = await submit(session, cluster.url(replica_id), statements)
            assert status == 200, body
            return body

    return asyncio.run(go())


class Load:
    """Clients at several replicas: each transaction adds 1 to a random account and
    records its own id in `acked`. Only transactions answered 200 count as acked."""

    def __init__(self, cluster: LocalCluster, seed: int) -> None:
        self.cluster = cluster
        self.random = random.Random(seed)
        self.ids = itertools.count()
        self.acked: dict[str, int] = {}  # request id -> replica that answered
        self.failures: dict[str, int] = {}
        self.stopped = False

    async def client(
        self, session: aiohttp.ClientSession, replica_id: int, count: int, deadline: float
    ) -> None:
        for _ in range(count):
            if self.stopped or time.monotonic() > deadline:
                return
            request_id = f"r{replica_id}-{next(self.ids)}"
            account = self.random.randrange(ACCOUNTS)
            statements = [
                ("UPDATE accounts SET balance = balance + 1 WHERE id = ?", [account]),
                ("INSERT INTO acked VALUES (?, ?)", [request_id, replica_id]),
            ]
            try:
                status, body = await submit(
                    session, self.cluster.url(replica_id), statements,
                    request_id=request_id, timeout_ms=5_000,
                )  # fmt: skip
            except (TimeoutError, aiohttp.ClientError):
                self.failures["connection"] = self.failures.get("connection", 0) + 1
                await asyncio.sleep(0.05)  # a killed replica: do not spin
                continue
            if status == 200:
                self.acked[request_id] = replica_id
            else:
                code = body["error"]["code"]
                self.failures[code] = self.failures.get(code, 0) + 1

    async def run(self, replicas: Sequence[int], clients_per_replica: int, count: int,
                  duration_s: float) -> None:  # fmt: skip
        deadline = time.monotonic() + duration_s
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(
                self.client(session, replica_id, count, deadline)
                for replica_id in replicas for _ in range(clients_per_replica)
            ))  # fmt: skip


def acked_ids_at(cluster: LocalCluster, replica_id: int) -> set[str]:
    body = one(cluster, replica_id, [("SELECT id FROM acked", [])])
    return {row[0] for row in body["results"][0]["rows"]}


def balance_total_at(cluster: LocalCluster, replica_id: int) -> int:
    body = one(cluster, replica_id, [("SELECT sum(balance) FROM accounts", [])])
    return int(body["results"][0]["rows"][0][0])


def started(tmp_path: Path, size: int) -> LocalCluster:
    cluster = LocalCluster(tmp_path, size)
    try:
        cluster.start_all()
        cluster.wait_ready()
        one(cluster, 0, SCHEMA)
    except BaseException:
        cluster.stop_all()  # or the replicas started outlive the test
        raise
    return cluster


@pytest.mark.parametrize("size", [3, 5])
def test_concurrent_transactions_at_every_replica_converge(tmp_path: Path, size: int) -> None:
    with started(tmp_path, size) as cluster:
        load = Load(cluster, seed=size)
        asyncio.run(load.run(range(size), clients_per_replica=4, count=25, duration_s=40))
        assert load.failures == {}
        assert len(load.acked) == size * 4 * 25
        cluster.wait_converged()
        for replica_id in range(size):
            assert balance_total_at(cluster, replica_id) == len(load.acked)
        assert cluster.stop_all() == {replica_id: 0 for replica_id in range(size)}


def test_killed_replica_restarts_and_catches_up_while_writes_continue(tmp_path: Path) -> None:
    with started(tmp_path, 3) as cluster:
        load = Load(cluster, seed=1)

        async def scenario() -> None:
            running = asyncio.ensure_future(
                load.run(range(3), clients_per_replica=3, count=2_000, duration_s=30)
            )
            await asyncio.sleep(1.0)
            cluster.kill(2)
            acked_at_kill = len(load.acked)
            await asyncio.sleep(1.5)
            load.stopped = True
            await running
            assert len(load.acked) > acked_at_kill, "writes stopped with one replica down"

        asyncio.run(scenario())
        cluster.start(2)
        cluster.wait_ready()
        asyncio.run(load.run([2], clients_per_replica=2, count=10, duration_s=20))
        cluster.wait_converged()
        for replica_id in range(3):
            assert acked_ids_at(cluster, replica_id) >= set(load.acked)
        assert balance_total_at(cluster, 2) == balance_total_at(cluster, 0)


def test_every_acknowledged_transaction_survives_killing_all_replicas(tmp_path: Path) -> None:
    with started(tmp_path, 3) as cluster:
        load = Load(cluster, seed=2)

        async def scenario() -> None:
            running = asyncio.ensure_future(
                load.run(range(3), clients_per_replica=4, count=200, duration_s=30)
            )
            await asyncio.sleep(1.5)
            for replica_id in range(3):  # at once: no replica gets to flush or stop
                cluster.kill(replica_id)
            load.stopped = True
            await running

        asyncio.run(scenario())
        assert load.acked, "nothing was acknowledged before the crash"
        cluster.start_all()
        cluster.wait_ready()
        cluster.wait_converged()
        for replica_id in range(3):
            assert acked_ids_at(cluster, replica_id) >= set(load.acked)


def test_unique_violation_fails_alike_everywhere_and_changes_nothing(tmp_path: Path) -> None:
    with started(tmp_path, 3) as cluster:
        one(cluster, 1, [("INSERT INTO acked VALUES ('x', 1)", [])])

        async def violate() -> list[tuple[int, dict[str, Any]]]:
            async with aiohttp.ClientSession() as session:
                return [
                    await submit(session, cluster.url(replica_id),
                                 [("INSERT INTO acked VALUES ('x', ?)", [replica_id])])
                    for replica_id in range(3)
                ]  # fmt: skip

        answers = asyncio.run(violate())
        assert {status for status, _ in answers} == {409}
        errors = {(body["error"]["code"], body["error"]["message"]) for _, body in answers}
        assert errors == {("SQLITE_CONSTRAINT_PRIMARYKEY", "UNIQUE constraint failed: acked.id")}
        cluster_hash = cluster.wait_converged()
        # The same history with each failed transaction replaced by a no-op. (The hash
        # covers the executed count, which also counts any barrier a replica ran.)
        executed = cluster.status(0)["stats"]["commands_executed"]
        no_ops = [[("SELECT 1", [])]] * (executed - 2)
        assert cluster_hash == reference_hash(
            SCHEMA, [("INSERT INTO acked VALUES ('x', 1)", [])], *no_ops
        )


def reference_hash(*transactions: Sequence[tuple[str, Sequence[Any]]]) -> str:
    with StateDatabase.open(":memory:") as db:
        for index, statements in enumerate(transactions):
            spec = TransactionSpec(
                request_id=f"ref-{index}",
                statements=tuple((sql, tuple(params)) for sql, params in statements),
                timestamp_ms=0, seed=0, executed_marker=f"ref.{index}",
            )  # fmt: skip
            assert db.execute_transaction(spec).ok
        return db.state_hash()
