"""What the HTTP application keeps: the node it fronts and its settings (aiohttp app keys)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from epaxdb.runtime.node import Node

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSettings:
    # A request body above this many bytes is refused with 413 before it is parsed.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Clients must send `Authorization: Bearer <auth_token>` on /v1 routes and /metrics.
    auth_token: str | None = None

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.auth_token is not None and not self.auth_token:
            raise ValueError("the auth token is empty")


NODE = web.AppKey("node", Node)
SETTINGS = web.AppKey("settings", ServerSettings)
