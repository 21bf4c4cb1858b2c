"""In-process replicas behind their HTTP apps, in one event loop, for the API tests.

Each replica is a real `Node` with the SQL state machine and its own data directory,
listening on loopback for its peers; each app is served by aiohttp's test server, so
requests go through real HTTP (and every middleware). Replicas can be stopped and
restarted from their data directories.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgpack
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from epaxdb.commands.serve import open_sql_machine
from epaxdb.runtime.local_cluster import free_ports
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.transport import Address
from server.app import make_app
from server.keys import ServerSettings


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def tx(*statements: str | tuple[str, Any], **extra: Any) -> dict[str, Any]:
    """A POST /v1/tx (or /v1/query) body: SQL texts, or (sql, params) pairs."""
    return {
        "statements": [
            {"sql": s} if isinstance(s, str) else {"sql": s[0], "params": s[1]} for s in statements
        ],
        **extra,
    }


class ApiCluster:
    def __init__(self, root: Path, size: int, settings: ServerSettings) -> None:
        self.root = root
        self.settings = settings
        self.addresses = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(size))}
        self.nodes: dict[int, Node] = {}
        self.clients: dict[int, TestClient] = {}

    async def start(self, *replica_ids: int) -> None:
        # Every peer port is bound before any HTTP server takes an ephemeral port, which
        # could otherwise be one of the peer ports chosen (but not yet bound) above.
        for replica_id in replica_ids:
            settings = NodeSettings("http-test", replica_id, self.addresses,
                                    self.root / f"r{replica_id}")  # fmt: skip
            node = Node.open(settings, open_sql_machine)
            await node.start()
            self.nodes[replica_id] = node
        for replica_id in replica_ids:
            client = TestClient(TestServer(make_app(self.nodes[replica_id], self.settings)))
            await client.start_server()
            self.clients[replica_id] = client

    async def stop(self, replica_id: int) -> None:
        await self.clients.pop(replica_id).close()
        await self.nodes.pop(replica_id).stop()

    async def stop_all(self) -> None:
        for replica_id in list(self.nodes):
            if replica_id in self.clients:
                await self.stop(replica_id)
            else:
                await self.nodes.pop(replica_id).stop()

    async def request(
        self, replica_id: int, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Any]:
        """(status, decoded body) of one request to one replica."""
        response = await self.clients[replica_id].request(method, path, **kwargs)
        return response.status, await decoded(response)

    async def post(self, replica_id: int, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        return await self.request(replica_id, "POST", path, json=body, **kwargs)

    async def get(self, replica_id: int, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request(replica_id, "GET", path, **kwargs)

    async def ok(self, replica_id: int, path: str, body: Any) -> dict[str, Any]:
        status, answer = await self.post(replica_id, path, body)
        assert status == 200, answer
        return answer

    async def hashes(self) -> dict[int, str]:
        """Every running replica's state hash, from GET /v1/status."""
        return await self.hashes_of(tuple(self.nodes))

    async def hashes_of(self, replica_ids: tuple[int, ...]) -> dict[int, str]:
        hashes = {}
        for replica_id in replica_ids:
            status, body = await self.get(replica_id, "/v1/status", headers=self.auth())
            assert status == 200, body
            hashes[replica_id] = body["state_hash"]
        return hashes

    async def converged(self, timeout_s: float = 10.0) -> dict[int, str]:
        """Wait until every running replica reports the same state hash."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            hashes = await self.hashes()
            if len(set(hashes.values())) == 1:
                return hashes
            assert asyncio.get_running_loop().time() < deadline, f"no convergence: {hashes}"
            await asyncio.sleep(0.02)

    def auth(self) -> dict[str, str]:
        token = self.settings.auth_token
        return {"Authorization": f"Bearer {token}"} if token else {}


async def decoded(response: ClientResponse) -> Any:
    data = await response.read()
    if response.content_type == "application/msgpack":
        return msgpack.unpackb(data, raw=False)
    if response.content_type == "application/json":
        return json.loads(data)
    return data.decode()


@asynccontextmanager
async def api_cluster(
    tmp_path: Path,
    size: int = 3,
    *,
    running: tuple[int, ...] | None = None,
    settings: ServerSettings | None = None,
) -> AsyncIterator[ApiCluster]:
    """A cluster of `size` replicas of which `running` (default: all) are started."""
    cluster = ApiCluster(tmp_path, size, settings or ServerSettings())
    try:
        await cluster.start(*(range(size) if running is None else running))
        yield cluster
    finally:
        await cluster.stop_all()
