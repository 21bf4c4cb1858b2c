"""Bodies on the wire: JSON (BLOBs as `{"$blob": "<base64>"}`) or msgpack (BLOBs as
bin). Requests go in the connection's chosen format; an answer is decoded by its
content type, since a server or proxy may answer an error in either (or neither)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Protocol

import msgpack

JSON_TYPE = "application/json"
MSGPACK_TYPE = "application/msgpack"


class Codec(Protocol):
    content_type: str

    def encode(self, body: Mapping[str, Any]) -> bytes: ...


class JsonCodec:
    content_type = JSON_TYPE

    def encode(self, body: Mapping[str, Any]) -> bytes:
        return json.dumps(body, default=_json_blob, separators=(",", ":")).encode()


class MsgpackCodec:
    content_type = MSGPACK_TYPE

    def encode(self, body: Mapping[str, Any]) -> bytes:
        return msgpack.packb(body, use_bin_type=True)


CODECS: Mapping[str, Codec] = {"json": JsonCodec(), "msgpack": MsgpackCodec()}


def decode_answer(content_type: str | None, data: bytes) -> Any:
    """The decoded body, or None when it is neither JSON nor msgpack (a proxy's error
    page, a truncated body)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    try:
        if kind == MSGPACK_TYPE:
            return msgpack.unpackb(data, raw=False)
        if kind == JSON_TYPE:
            return json.loads(data, object_hook=_json_unblob)
    except (ValueError, msgpack.UnpackException, binascii.Error):
        return None
    return None


def _json_blob(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$blob": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} cannot travel as JSON")


def _json_unblob(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and isinstance(obj.get("$blob"), str):
        return base64.b64decode(obj["$blob"], validate=True)
    return obj
