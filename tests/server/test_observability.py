"""GET /v1/status, /healthz, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.server.harness import ApiCluster, api_cluster, run, tx


async def ready_status(
    cluster: ApiCluster, replica_id: int, want: int, connected: list[int]
) -> dict:
    """Poll /readyz (bounded) until it answers `want` with `connected`: connections
    come up and drop asynchronously."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        status, body = await cluster.get(replica_id, "/readyz")
        if status == want and body["connected"] == connected:
            return body
        assert asyncio.get_running_loop().time() < deadline, (status, body)
        await asyncio.sleep(0.05)


def test_status_describes_the_replica(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            written = await cluster.ok(1, "/v1/tx", tx("CREATE TABLE t(a)"))
            await cluster.converged()
            status, body = await cluster.get(1, "/v1/status")
            assert status == 200
            assert (body["replica_id"], body["pid"], body["cluster_id"]) == (
                1, os.getpid(), "http-test",
            )  # fmt: skip
            assert [p["replica_id"] for p in body["peers"]] == [0, 2]
            assert all(p["address"].startswith("127.0.0.1:") for p in body["peers"])
            assert {"outbound_connected", "inbound_connected"} <= set(body["peers"][0])
            assert body["executed_prefix"][1] == int(written["commit_token"].split(":")[2])
            assert body["executed_count"] == 1
            assert len(body["state_hash"]) == 64 and body["log_bytes"] > 0
            assert body["version"] and body["ready"] is True
            assert body["stats"]["fast_commits"] + body["stats"]["slow_commits"] == 1

    run(scenario)


def test_readyz_needs_a_majority_connected_and_healthz_only_a_live_process(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            body = await ready_status(cluster, 0, 200, [0, 1, 2])
            assert body == {"ready": True, "connected": [0, 1, 2], "majority": 2}
            await cluster.stop(2)
            await ready_status(cluster, 0, 200, [0, 1])  # still a majority
            await cluster.stop(1)
            body = await ready_status(cluster, 0, 503, [0])
            assert body["error"]["code"] == "not_ready" and body["ready"] is False
            assert body["majority"] == 2 and "1 of 3" in body["error"]["message"]
            status, health = await cluster.get(0, "/healthz")
            assert (status, health) == (200, {"status": "ok"})
            _, status_body = await cluster.get(0, "/v1/status")
            assert status_body["ready"] is False

    run(scenario)


def test_metrics_count_each_replicas_own_requests_and_protocol_events(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", tx("CREATE TABLE t(a)"))
            await cluster.ok(0, "/v1/tx", tx("INSERT INTO t VALUES (1)"))
            await cluster.post(0, "/v1/tx", tx("SELEC"))
            await cluster.get(1, "/v1/tx/unknown")
            await cluster.converged()
            _, zero = await cluster.get(0, "/metrics")
            _, one = await cluster.get(1, "/metrics")
            assert (
                'epaxdb_http_requests_total{method="POST",route="/v1/tx",status="200"} 2.0' in zero
            )
            assert (
                'epaxdb_http_requests_total{method="POST",route="/v1/tx",status="400"} 1.0' in zero
            )
            assert (
                'route="/v1/tx/{request_id}"' in one and 'route="/v1/tx/{request_id}"' not in zero
            )
            assert (
                'epaxdb_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/tx"}'
                in zero
            )
            for name in ("epaxdb_fast_path_commits_total", "epaxdb_slow_path_commits_total",
                         "epaxdb_recoveries_started_total", "epaxdb_commands_executed_total",
                         "epaxdb_log_bytes", "epaxdb_instances_in_memory", "epaxdb_ready"):  # fmt: skip
                assert f"\n{name} " in zero, name
            commits = [line for line in zero.splitlines()
                       if line.startswith(("epaxdb_fast_path_commits_total ",
                                           "epaxdb_slow_path_commits_total "))]  # fmt: skip
            assert sum(float(line.split()[1]) for line in commits) == 2.0
            executed = [line for line in one.splitlines()
                        if line.startswith("epaxdb_commands_executed_total ")]  # fmt: skip
            assert executed == ["epaxdb_commands_executed_total 2.0"]
            response = await cluster.clients[0].get("/metrics")
            assert response.headers["Content-Type"].startswith("text/plain")

    run(scenario)
