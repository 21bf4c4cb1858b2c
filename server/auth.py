"""Optional bearer-token authentication of clients.

With a token configured, every /v1 route and /metrics need `Authorization: Bearer
<token>`; /healthz and /readyz stay open (orchestrators probe them without
credentials, and they reveal nothing but liveness). The comparison takes constant time.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from server.errors import Handler, Unauthorized
from server.keys import SETTINGS

_OPEN_PATHS = frozenset({"/healthz", "/readyz"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[SETTINGS].auth_token
    if token is not None and request.path not in _OPEN_PATHS:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # Compare bytes of both, always, so the time taken tells nothing about the token.
        matches = hmac.compare_digest(given.strip().encode(), token.encode())
        if scheme.lower() != "bearer" or not matches:
            raise Unauthorized(
                "unauthorized",
                "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                headers={"WWW-Authenticate": 'Bearer realm="epaxdb"'},
            )
    return await handler(request)
