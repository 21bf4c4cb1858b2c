"""The HTTP front end on an in-process SQL node: statuses and bodies of /v1/tx and
/v1/status."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from epaxdb.commands.serve import open_sql_machine
from epaxdb.runtime.local_cluster import free_port
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.transport import Address
from server.app import make_app


@asynccontextmanager
async def http_client(tmp_path: Path, replicas: int = 1) -> AsyncIterator[tuple[TestClient, Node]]:
    """Replica 0 of a cluster of `replicas`, of which only replica 0 runs."""
    peers = {i: Address("127.0.0.1", free_port()) for i in range(replicas)}
    node = Node.open(NodeSettings("http-test", 0, peers, tmp_path / "r0"), open_sql_machine)
    await node.start()
    client = TestClient(TestServer(make_app(node)))
    await client.start_server()
    try:
        yield client, node
    finally:
        await client.close()
        await node.stop()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def tx(*statements: str | tuple[str, list[object]], **extra: object) -> dict[str, object]:
    return {
        "statements": [
            {"sql": s} if isinstance(s, str) else {"sql": s[0], "params": s[1]}
            for s in statements
        ],
        **extra,
    }


def test_committed_transaction_answers_its_statement_results(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path) as (client, _):
            response = await client.post("/v1/tx", json=tx(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)",
                ("INSERT INTO t VALUES (?, x'00ff')", [7]),
                "SELECT id, b FROM t",
                request_id="mine",
            ))  # fmt: skip
            assert response.status == 200
            assert await response.json() == {
                "request_id": "mine",
                "results": [
                    {"rows_affected": 0, "last_insert_rowid": 0},
                    {"rows_affected": 1, "last_insert_rowid": 7},
                    {"columns": ["id", "b"], "rows": [[7, {"base64": "AP8="}]]},
                ],
            }

    run(scenario)


def test_body_that_is_not_a_transaction_is_400(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path) as (client, _):
            not_json = await client.post("/v1/tx", data=b"{nope")
            no_statements = await client.post("/v1/tx", json={"statements": []})
            bad_params = await client.post("/v1/tx", json=tx(("SELECT ?", [[1, 2]])))
            for response in (not_json, no_statements, bad_params):
                assert response.status == 400
                assert (await response.json())["error"]["code"] == "bad_request"

    run(scenario)


def test_analyzer_refusal_is_400_naming_code_and_statement(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path) as (client, _):
            response = await client.post("/v1/tx", json=tx("SELECT 1", "PRAGMA foreign_keys=OFF"))
            assert response.status == 400
            error = (await response.json())["error"]
            assert (error["code"], error["statement"]) == ("pragma", 1)
            assert "PRAGMA" in error["message"]

    run(scenario)


def test_constraint_violation_is_409_and_rolls_back_the_transaction(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path) as (client, _):
            await client.post("/v1/tx", json=tx("CREATE TABLE t(v TEXT UNIQUE)"))
            response = await client.post("/v1/tx", json=tx(
                "INSERT INTO t VALUES ('a')", "INSERT INTO t VALUES ('a')"
            ))  # fmt: skip
            assert response.status == 409
            error = (await response.json())["error"]
            assert error == {
                "code": "SQLITE_CONSTRAINT_UNIQUE",
                "message": "UNIQUE constraint failed: t.v",
                "statement": 1,
                "retryable": False,
            }
            rows = await client.post("/v1/tx", json=tx("SELECT count(*) FROM t"))
            assert (await rows.json())["results"][0]["rows"] == [[0]]

    run(scenario)


def test_no_quorum_is_504_outcome_unknown_then_503_once_stopped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path, replicas=3) as (client, node):
            response = await client.post("/v1/tx", json=tx("SELECT 1", timeout_ms=200,
                                                            request_id="r1"))  # fmt: skip
            assert response.status == 504
            body = await response.json()
            assert (body["error"]["code"], body["request_id"]) == ("outcome_unknown", "r1")
            await node.stop()
            response = await client.post("/v1/tx", json=tx("SELECT 1"))
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "unavailable"

    run(scenario)


def test_status_describes_the_replica(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path, replicas=3) as (client, _):
            status = await (await client.get("/v1/status")).json()
            assert status["replica_id"] == 0 and status["pid"] == os.getpid()
            assert [p["replica_id"] for p in status["peers"]] == [1, 2]
            assert not any(p["outbound_connected"] for p in status["peers"])
            assert status["executed_prefix"] == [0, 0, 0]
            assert len(status["state_hash"]) == 64 and status["log_bytes"] > 0

    run(scenario)
