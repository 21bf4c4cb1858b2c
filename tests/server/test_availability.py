"""503 (not submitted) and 504 (outcome unknown): what a client can rely on when a
replica cannot answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.server.harness import api_cluster, run, tx


def test_without_a_quorum_a_write_is_504_outcome_unknown_and_a_retry_applies_it_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path, running=(0,)) as cluster:
            body = tx("CREATE TABLE t(a)", "INSERT INTO t VALUES (1)", request_id="lonely",
                      timeout_ms=300)  # fmt: skip
            status, answer = await cluster.post(0, "/v1/tx", body)
            assert (status, answer["error"]["code"]) == (504, "outcome_unknown")
            assert answer["request_id"] == "lonely" and answer["error"]["retryable"] is True
            _, outcome = await cluster.get(0, "/v1/tx/lonely")
            assert outcome["outcome"] == "unknown"  # not executed here yet
            await cluster.start(1)  # a quorum: the pending command commits
            retried = await cluster.ok(1, "/v1/tx", {**body, "timeout_ms": 10_000})
            assert retried["results"][1]["rows_affected"] == 1
            await cluster.converged()
            count = await cluster.ok(0, "/v1/query", tx("SELECT count(*) FROM t"))
            assert count["results"][0]["rows"] == [[1]]
            _, outcome = await cluster.get(0, "/v1/tx/lonely")
            assert outcome["outcome"] == "committed"

    run(scenario)


def test_a_stopped_replica_answers_503_and_nothing_is_submitted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", tx("CREATE TABLE t(a)"))
            before = await cluster.converged()
            await cluster.nodes[2].stop()  # its HTTP server still answers
            for method, path, body in (
                ("POST", "/v1/tx", tx("INSERT INTO t VALUES (1)")),
                ("POST", "/v1/query", tx("SELECT 1")),
                ("POST", "/v1/query", tx("SELECT 1", consistency="local")),
                ("GET", "/v1/tx/x", None),
            ):
                status, answer = await cluster.request(2, method, path, json=body)
                assert (status, answer["error"]["code"]) == (503, "unavailable"), path
                assert answer["error"]["retryable"] is True
            await asyncio.sleep(0.2)
            assert await cluster.hashes_of((0, 1)) == {i: before[i] for i in (0, 1)}

    run(scenario)
