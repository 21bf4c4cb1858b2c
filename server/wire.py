"""Bodies on the wire: JSON or msgpack in, JSON or msgpack out.

Requests are msgpack when their Content-Type says so (`application/msgpack`), JSON
otherwise (so that `curl -d` works without a header). Answers are msgpack when the
Accept header prefers `application/msgpack` to JSON, JSON otherwise.

JSON is parsed strictly: duplicate keys, `NaN` and `Infinity` are refused. A BLOB
travels in JSON as {"$blob": "<base64>"} (in parameters and in results); msgpack
carries it natively as bin. Answers are built with `bytes` for BLOBs and encoded here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import msgpack
from aiohttp import web

from server.keys import SETTINGS

JSON = "application/json"
MSGPACK = "application/msgpack"
_MSGPACK_TYPES = frozenset({MSGPACK, "application/x-msgpack", "application/vnd.msgpack"})
BLOB_KEY = "$blob"


class MalformedBody(ValueError):
    """The bytes are not one JSON (or msgpack) document."""


class BodyTooLarge(ValueError):
    """The body is larger than the configured limit."""


async def read_body(request: web.Request) -> Any:
    """The decoded request body (JSON or msgpack, by Content-Type)."""
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(
            f"the request body is larger than the limit of "
            f"{request.app[SETTINGS].max_body_bytes} bytes (epaxdb serve --max-body-bytes)"
        ) from None
    if not data:
        raise MalformedBody("the request body is empty")
    if request.content_type in _MSGPACK_TYPES:
        return _decode_msgpack(data)
    return _decode_json(data)


def _decode_msgpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, timestamp=0)
    except (ValueError, msgpack.UnpackException) as error:
        raise MalformedBody(f"the body is not msgpack: {error}") from None


def _decode_json(data: bytes) -> Any:
    try:
        return json.loads(
            data.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
        )
    except UnicodeDecodeError as error:
        raise MalformedBody(f"the body is not UTF-8: {error}") from None
    except json.JSONDecodeError as error:
        raise MalformedBody(f"the body is not JSON: {error}") from None


def _refuse_constant(name: str) -> Any:
    raise MalformedBody(f"the body is not JSON: {name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedBody(f"the body is ambiguous: the key {key!r} appears twice")
        result[key] = value
    return result


def decode_blob(value: Mapping[str, Any]) -> bytes:
    """The bytes of a {"$blob": "<base64>"} object; ValueError if it is not one."""
    if set(value) != {BLOB_KEY} or not isinstance(value[BLOB_KEY], str):
        raise ValueError('an object value must be {"$blob": "<base64>"}')
    try:
        return base64.b64decode(value[BLOB_KEY], validate=True)
    except ValueError:
        raise ValueError('the "$blob" value is not valid base64') from None


def wants_msgpack(request: web.Request) -> bool:
    """Whether the Accept header prefers msgpack to JSON (ties go to the first listed)."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(",".join(request.headers.getall("Accept", [])).split(",")):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        if media in _MSGPACK_TYPES:
            kind = MSGPACK
        elif media in (JSON, "application/*", "*/*"):
            kind = JSON
        else:
            continue
        quality = _quality(params)
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, position, kind)
    return best is not None and best[2] == MSGPACK


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def respond(
    request: web.Request,
    body: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    if wants_msgpack(request):
        data = msgpack.packb(body, use_bin_type=True)
        return web.Response(body=data, status=status, content_type=MSGPACK, headers=headers)
    text = json.dumps(body, default=_blob_as_json, ensure_ascii=False)
    return web.Response(text=text, status=status, content_type=JSON, headers=headers)


def _blob_as_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {BLOB_KEY: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
