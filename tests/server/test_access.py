"""Bearer-token authentication and the request body limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.keys import ServerSettings
from tests.server.harness import api_cluster, run, tx

TOKEN = "s3cret-token"


def test_with_a_token_every_v1_route_and_metrics_need_it_and_probes_stay_open(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        settings = ServerSettings(auth_token=TOKEN)
        async with api_cluster(tmp_path, 1, settings=settings) as cluster:
            before = await cluster.hashes()
            body = tx("CREATE TABLE t(a)")
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                            {"Authorization": f"Basic {TOKEN}"}):  # fmt: skip
                for method, path in (("POST", "/v1/tx"), ("POST", "/v1/query"),
                                     ("GET", "/v1/tx/x"), ("GET", "/v1/status"),
                                     ("GET", "/metrics")):  # fmt: skip
                    status, answer = await cluster.request(0, method, path, json=body,
                                                           headers=headers)  # fmt: skip
                    assert (status, answer["error"]["code"]) == (401, "unauthorized"), path
            response = await cluster.clients[0].post("/v1/tx", json=body)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            for path in ("/healthz", "/readyz"):
                status, _ = await cluster.get(0, path)
                assert status == 200
            await asyncio.sleep(0.1)
            assert await cluster.hashes() == before
            status, _ = await cluster.post(0, "/v1/tx", body, headers=cluster.auth())
            assert status == 200

    run(scenario)


def test_a_body_over_the_limit_is_413_in_the_json_error_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = ServerSettings(max_body_bytes=4096)
        async with api_cluster(tmp_path, 1, settings=settings) as cluster:
            await cluster.ok(0, "/v1/tx", tx("CREATE TABLE t(a)"))
            before = await cluster.hashes()
            big = tx(("INSERT INTO t VALUES (?)", ["x" * 5000]))
            status, answer = await cluster.post(0, "/v1/tx", big)
            assert (status, answer["error"]["code"]) == (413, "body_too_large")
            assert "4096" in answer["error"]["message"]
            status, answer = await cluster.post(0, "/v1/query", big)
            assert status == 413
            assert await cluster.hashes() == before
            fits = tx(("INSERT INTO t VALUES (?)", ["x" * 3000]))
            assert (await cluster.post(0, "/v1/tx", fits))[0] == 200

    run(scenario)
