"""What every route module of the HTTP front end finds in the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from epaxdb.runtime.node import Node

NODE = web.AppKey("node", Node)
