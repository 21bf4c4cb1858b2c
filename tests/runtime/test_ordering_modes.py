"""Real replicas in the other ordering modes: thrifty EPaxos and the Multi-Paxos baseline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from epaxdb.runtime.local_cluster import LocalCluster, submit

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def run_at(cluster: LocalCluster, replica_id: int, sql: str, params: list[Any]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            status, body = await submit(session, cluster.url(replica_id), [(sql, params)])
            assert status == 200, body
            return body

    return asyncio.run(go())


@pytest.mark.parametrize(
    "serve_args",
    [["--thrifty"], ["--protocol", "multipaxos", "--leader", "1"]],
    ids=["thrifty", "multipaxos"],
)
def test_every_replica_commits_and_converges_in_the_mode(
    tmp_path: Path, serve_args: list[str]
) -> None:
    with LocalCluster(tmp_path, 3, serve_args=serve_args) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        run_at(cluster, 0, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)", [])
        for i in range(20):  # followers and leader alike
            run_at(cluster, i % 3, "INSERT INTO t VALUES (?, ?)", [i, i * i])
        cluster.wait_converged()
        rows = run_at(cluster, 2, "SELECT count(*), sum(v) FROM t", [])["results"][0]["rows"]
        assert rows == [[20, sum(i * i for i in range(20))]]


def test_replicas_that_disagree_on_the_ordering_refuse_each_other(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3) as cluster:
        cluster.start(0)
        cluster.start(1)
        cluster.wait_ready([0, 1])
        cluster.serve_args = ("--protocol", "multipaxos")
        cluster.start(2)
        deadline = time.monotonic() + 20
        while "ordering" not in cluster.log_path(2).read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "cluster settings differ" in cluster.log_path(2).read_text()
        assert "ordering" in cluster.log_path(2).read_text()
        assert cluster.status(2)["ready"] is False
        run_at(cluster, 0, "CREATE TABLE t(id INTEGER PRIMARY KEY)", [])  # 0 and 1 go on
