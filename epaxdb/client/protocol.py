"""The client's side of epaxdb's HTTP API: building request bodies and decoding
answers into statement results (errors are mapped in `errors`).

    POST /v1/tx          a transaction (autocommit statements, or an interactive
                         transaction's commit with its last preview `context`)
    POST /v1/query       read-only statements, linearizable, after a commit token
    POST /v1/tx/preview  every statement of an open interactive transaction so far:
                         their results as the transaction sees them, and a `context`
    GET  /v1/tx/{id}     what became of a transaction, as far as one replica knows
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from epaxdb.client.errors import Error, InterfaceError, error_from_answer
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
    body: Mapping[str, Any] | None  # None: a GET
    # True for POST /v1/tx: once sent, a lost answer leaves the outcome unknown.
    may_apply: bool

    @property
    def method(self) -> str:
        return "GET" if self.body is None else "POST"

    @property
    def request_id(self) -> str | None:
        request_id = None if self.body is None else self.body.get("request_id")
        return request_id if isinstance(request_id, str) else None


@dataclass(frozen=True, slots=True)
class StatementResult:
    """One statement's result: rows (`columns` not None) or a write's counts."""

    columns: tuple[str, ...] | None
    rows: tuple[tuple[SqlValue, ...], ...]
    rows_affected: int
    last_insert_rowid: int


@dataclass(frozen=True, slots=True)
class TransactionOutcome:
    """What a replica knows of a transaction by its request id (`GET /v1/tx/{id}`).

    `state` is "committed" (`results` holds its statement results), "aborted" (it
    executed, failed deterministically and changed nothing: `error` is what commit
    raised or would have raised) or "unknown": *this replica* has not executed it (yet);
    it may still be in flight, or may never have been submitted. `commit_token` is the
    instance it executed in (None while unknown)."""

    request_id: str
    state: Literal["committed", "aborted", "unknown"]
    results: tuple[StatementResult, ...] = ()
    error: Error | None = None
    commit_token: str | None = None


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


def outcome_request(request_id: str) -> Request:
    if not isinstance(request_id, str) or not request_id:
        raise InterfaceError("a request id is a non-empty string")
    return Request(f"{TX_PATH}/{urllib.parse.quote(request_id, safe='')}", None, may_apply=False)


def transaction_outcome(answer: Any) -> TransactionOutcome:
    """The outcome a 200 answer of `GET /v1/tx/{id}` reports."""
    request_id = answer.get("request_id") if isinstance(answer, Mapping) else None
    state = answer.get("outcome") if isinstance(answer, Mapping) else None
    if not isinstance(request_id, str) or state not in ("committed", "aborted", "unknown"):
        raise InterfaceError(f"malformed answer: not a transaction outcome: {answer!r:.200}")
    if state == "unknown":
        return TransactionOutcome(request_id, "unknown")
    token = answer.get("commit_token")
    if not isinstance(token, str):
        raise InterfaceError("malformed answer: an executed transaction without a commit token")
    if state == "committed":
        raw = answer.get("results")
        if not isinstance(raw, list):
            raise InterfaceError("malformed answer: a committed transaction without results")
        return TransactionOutcome(
            request_id, "committed", tuple(map(_result, raw)), commit_token=token
        )
    # The stored failure, raised as a 409 answer carrying it would be.
    error = error_from_answer(409, {"error": answer.get("error"), "request_id": request_id})
    return TransactionOutcome(request_id, "aborted", error=error, commit_token=token)


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
