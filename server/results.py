"""Transaction results as answer bodies.

A statement's result is {"columns": [...], "rows": [[...]]} (a statement that returns
rows) or {"rows_affected": n, "last_insert_rowid": n}. BLOB values stay `bytes` here;
`wire` encodes them for JSON or msgpack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from epaxdb.runtime.sql_machine import executed_at
from epaxdb.storage import RowsResult, StatementResult, TransactionError, TransactionResult
from epaxdb.tokens import instance_token
from server.errors import ExecutionFailed


def statement_results(results: Iterable[StatementResult]) -> list[dict[str, Any]]:
    return [_statement(result) for result in results]


def _statement(result: StatementResult) -> dict[str, Any]:
    if isinstance(result, RowsResult):
        return {"columns": list(result.columns), "rows": [list(row) for row in result.rows]}
    return {"rows_affected": result.rows_affected, "last_insert_rowid": result.last_insert_rowid}


def error_fields(error: TransactionError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "statement": error.statement_index,
        "retryable": error.retryable,
    }


def committed_body(result: TransactionResult) -> dict[str, Any]:
    """The 200 body of an executed transaction; ExecutionFailed (409) if it failed."""
    token = instance_token(executed_at(result))
    if result.error is not None:
        raise execution_failed(result.error, request_id=result.request_id, commit_token=token)
    return {
        "request_id": result.request_id,
        "results": statement_results(result.statements),
        "commit_token": token,
    }


def execution_failed(
    error: TransactionError, *, request_id: str | None = None, commit_token: str | None = None
) -> ExecutionFailed:
    return ExecutionFailed(
        error.code,
        error.message,
        statement=error.statement_index,
        retryable=error.retryable,
        request_id=request_id,
        extra=None if commit_token is None else {"commit_token": commit_token},
    )
