"""GET /v1/status (this replica in detail), /healthz (the process serves HTTP) and
/readyz (this replica can commit: connected to a majority, itself included)."""

from __future__ import annotations

import importlib.metadata

from aiohttp import web

from server.errors import ServiceUnavailable
from server.keys import NODE
from server.wire import respond

try:
    VERSION = importlib.metadata.version("epaxdb")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "unknown"


def register(app: web.Application) -> None:
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/healthz", get_health)
    app.router.add_get("/readyz", get_ready)


async def get_status(request: web.Request) -> web.Response:
    node = request.app[NODE]
    status = await node.status()
    readiness = node.readiness()
    status["version"] = VERSION
    status["ready"] = readiness.ready
    return respond(request, status)


async def get_health(request: web.Request) -> web.Response:
    # Alive is all it says: a replica that stopped on a failure exits soon after.
    return respond(request, {"status": "ok"})


async def get_ready(request: web.Request) -> web.Response:
    readiness = request.app[NODE].readiness()
    body = {"ready": readiness.ready, "connected": list(readiness.connected),
            "majority": readiness.majority}  # fmt: skip
    if not readiness.ready:
        raise ServiceUnavailable(
            "not_ready", readiness.reason or "not ready", retryable=True, extra=body
        )
    return respond(request, body)
