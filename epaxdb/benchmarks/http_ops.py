"""Benchmark requests over HTTP: epaxdb transactions and etcd puts.

A request source (`EpaxdbRequests`, `EtcdPuts`) draws the next `Request`, body
already encoded; `send` posts it on a keep-alive `aiohttp` session and tells success
from failure. Answers are read but decoded only when they report an error, so the
load generator spends its CPU on requests rather than on parsing.

epaxdb requests and answers are msgpack (`Content-Type` and `Accept:
application/msgpack`), the cheaper encoding for a client that cares; etcd's gateway
speaks JSON only.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgpack

from epaxdb.benchmarks.errors import BenchmarkError
from epaxdb.benchmarks.workloads import Statement, Workload

REQUEST_TIMEOUT_MS = 10_000
_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_MS / 1000 + 5)
_JSON = {"Content-Type": "application/json"}
_MSGPACK = {"Content-Type": "application/msgpack", "Accept": "application/msgpack"}


@dataclass(frozen=True, slots=True)
class Request:
    kind: str  # what the latency is reported under: "update", "transfer", "read", "put"
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    error: str | None = None  # "<status> <code>", when not ok


OK = Outcome(True)


def transaction_body(
    statements: tuple[Statement, ...], timeout_ms: int = REQUEST_TIMEOUT_MS
) -> bytes:
    return msgpack.packb(
        {
            "statements": [{"sql": sql, "params": list(params)} for sql, params in statements],
            "timeout_ms": timeout_ms,
        }
    )


@dataclass(frozen=True, slots=True)
class EpaxdbRequests:
    """A workload's operations as epaxdb requests: writes `POST /v1/tx`, reads
    `POST /v1/query` (linearizable, the default: ordered through the protocol as read
    commands). `timeout_ms` is how long a replica waits for the outcome before it
    answers `outcome_unknown`."""

    workload: Workload
    timeout_ms: int = REQUEST_TIMEOUT_MS

    def next_request(self, rng: random.Random) -> Request:
        operation = self.workload.next_operation(rng)
        path = "/v1/query" if operation.read_only else "/v1/tx"
        body = transaction_body(operation.statements, self.timeout_ms)
        return Request(operation.kind, path, body, _MSGPACK)


@dataclass(frozen=True, slots=True)
class EtcdPuts:
    """Puts of `value_bytes`-byte values under random keys of a 100,000-key space,
    through etcd's HTTP/JSON gateway (`POST /v3/kv/put`, base64 keys and values)."""

    value_bytes: int
    key_space: int = 100_000

    def next_request(self, rng: random.Random) -> Request:
        key = b"epaxdb-bench/%06d" % rng.randrange(self.key_space)
        # A random prefix: the value always changes, as in the epaxdb workloads.
        value = (b"%016x" % rng.getrandbits(64)).ljust(self.value_bytes, b"v")
        body = {"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}
        return Request("put", "/v3/kv/put", json.dumps(body).encode(), _JSON)


RequestSource = EpaxdbRequests | EtcdPuts


async def send(session: aiohttp.ClientSession, url: str, request: Request) -> Outcome:
    async with session.post(
        url + request.path, data=request.body, headers=request.headers, timeout=_CLIENT_TIMEOUT
    ) as response:
        body = await response.read()
        return OK if response.status == 200 else _failure(response.status, body)


async def post_transaction(
    session: aiohttp.ClientSession, url: str, statements: tuple[Statement, ...]
) -> Any:
    """POST /v1/tx and return the decoded results; BenchmarkError if it failed."""
    async with session.post(
        f"{url}/v1/tx", data=transaction_body(statements), headers=_MSGPACK,
        timeout=_CLIENT_TIMEOUT,
    ) as response:  # fmt: skip
        body = await response.read()
        if response.status != 200:
            outcome = _failure(response.status, body)
            raise BenchmarkError(f"{url}: {statements[0][0][:60]!r} failed: {outcome.error}")
        return msgpack.unpackb(body)["results"]


def _failure(status: int, body: bytes) -> Outcome:
    """The error code of a failed answer (epaxdb: msgpack or JSON; etcd: JSON)."""
    try:
        decoded = json.loads(body) if body[:1] == b"{" else msgpack.unpackb(body)
        error = decoded.get("error")
        code = error.get("code") if isinstance(error, dict) else error
    except (ValueError, AttributeError, msgpack.UnpackException):
        code = None
    return Outcome(False, f"{status} {code}" if code else f"{status}")
