"""The client's side of epaxdb's HTTP API: building request bodies and decoding
answers into statement results (errors are mapped in `errors`).

    POST /v1/tx          a transaction (autocommit statements, or an interactive
                         transaction's commit with its last preview `context`)
    POST /v1/query       read-only statements, linearizable, after a commit token
    POST /v1/tx/preview  every statement of an open interactive transaction so far:
                         their results as the transaction sees them, and a `context`
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from epaxdb.client.errors import InterfaceError
from epaxdb.client.types import SqlValue, WireParams

TX_PATH = "/v1/tx"
QUERY_PATH = "/v1/query"
PREVIEW_PATH = "/v1/tx/preview"


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: WireParams

    def wire(self) -> dict[str, Any]:
        return {"sql": self.sql, "params": self.params}


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    body: Mapping[str, Any]
    # True for POST /v1/tx: once sent, a lost answer leaves the outcome unknown.
    may_apply: bool

    @property
    def request_id(self) -> str | None:
        request_id = self.body.get("request_id")
        return request_id if isinstance(request_id, str) else None


@dataclass(frozen=True, slots=True)
class StatementResult:
    """One statement's result: rows (`columns` not None) or a write's counts."""

    columns: tuple[str, ...] | None
    rows: tuple[tuple[SqlValue, ...], ...]
    rows_affected: int
    last_insert_rowid: int


def tx_request(
    statements: Sequence[Statement],
    *,
    request_id: str,
    timeout_ms: int,
    interactive: Any = None,
) -> Request:
    body: dict[str, Any] = {
        "statements": [s.wire() for s in statements],
        "request_id": request_id,
        "timeout_ms": timeout_ms,
    }
    if interactive is not None:
        body["interactive"] = interactive
    return Request(TX_PATH, body, may_apply=True)


def query_request(statements: Sequence[Statement], *, after: Any, timeout_ms: int) -> Request:
    body: dict[str, Any] = {
        "statements": [s.wire() for s in statements],
        "consistency": "linearizable",
        "timeout_ms": timeout_ms,
    }
    if after is not None:
        body["after"] = after
    return Request(QUERY_PATH, body, may_apply=False)


def preview_request(
    statements: Sequence[Statement], *, context: Any, after: Any, timeout_ms: int
) -> Request:
    body: dict[str, Any] = {"statements": [s.wire() for s in statements], "timeout_ms": timeout_ms}
    if context is not None:
        body["context"] = context
    if after is not None:
        body["after"] = after
    return Request(PREVIEW_PATH, body, may_apply=False)


def results(answer: Any, expected: int) -> list[StatementResult]:
    """The statement results of a 200 answer, which must hold exactly `expected`."""
    raw = answer.get("results") if isinstance(answer, Mapping) else None
    if not isinstance(raw, list) or len(raw) != expected:
        raise InterfaceError(f"malformed answer: expected {expected} statement results")
    return [_result(item) for item in raw]


def _result(item: Any) -> StatementResult:
    if isinstance(item, Mapping) and isinstance(item.get("columns"), list):
        rows = item.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise InterfaceError("malformed answer: rows must be lists")
        return StatementResult(tuple(item["columns"]), tuple(map(tuple, rows)), -1, 0)
    if isinstance(item, Mapping) and isinstance(item.get("rows_affected"), int):
        last = item.get("last_insert_rowid")
        return StatementResult(
            None, (), item["rows_affected"], last if isinstance(last, int) else 0
        )
    raise InterfaceError(f"malformed answer: not a statement result: {item!r:.200}")
