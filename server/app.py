"""The HTTP front end of one replica (aiohttp): thin, everything real is in the node.

Endpoints live in route modules, each with `register(app)`; adding one is one line
in `_ROUTES`. Request parsing and validation is in `requests` (and `wire` for the
body formats), every error answer in `errors`. The endpoints, their bodies and their
errors are documented in docs/http-api.md.

Middlewares, outermost first: metrics (counts every answer), errors (renders every
failure as {"error": {...}}), auth (bearer token, when configured).
"""

from __future__ import annotations

from aiohttp import web

from epaxdb.runtime.node import Node
from server import backup, interactive, metrics, queries, status, transactions
from server.auth import auth_middleware
from server.errors import error_middleware
from server.keys import NODE, SETTINGS, ServerSettings

_ROUTES = (transactions, interactive, queries, status, metrics, backup)


def make_app(node: Node, settings: ServerSettings | None = None) -> web.Application:
    settings = settings or ServerSettings()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[metrics.metrics_middleware, error_middleware, auth_middleware],
    )
    app[NODE] = node
    app[SETTINGS] = settings
    for routes in _ROUTES:
        routes.register(app)
    return app
