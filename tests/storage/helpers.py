"""Small builders shared by the state-database tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from epaxdb.storage import Params, RowsResult, StateDatabase, TransactionResult, TransactionSpec

# 2001-09-09 01:46:40.123 UTC: far from the real clock, so a test that passes cannot be
# reading the wall clock by accident.
T0_MS = 1_000_000_000_123
SEED = 20240607

_ids = itertools.count(1)


def txn(
    *statements: str | tuple[str, Params],
    timestamp_ms: int = T0_MS,
    seed: int = SEED,
    request_id: str | None = None,
    marker: bytes | str | None = None,
    schema_version: int | None = None,
    read_only: bool = False,
) -> TransactionSpec:
    n = next(_ids)
    return TransactionSpec(
        request_id=request_id or f"req-{n}",
        statements=tuple((s, ()) if isinstance(s, str) else s for s in statements),
        timestamp_ms=timestamp_ms,
        seed=seed,
        executed_marker=marker if marker is not None else f"marker-{n}".encode(),
        schema_version=schema_version,
        read_only=read_only,
    )


def run(db: StateDatabase, *statements: str | tuple[str, Params], **kw: Any) -> TransactionResult:
    return db.execute_transaction(txn(*statements, **kw))


def ok(db: StateDatabase, *statements: str | tuple[str, Params], **kw: Any) -> TransactionResult:
    result = run(db, *statements, **kw)
    assert result.error is None, result.error
    return result


def rows(db: StateDatabase, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return list(db.query_local(sql, params).rows)


def rows_of(result: TransactionResult, index: int = 0) -> tuple[tuple[Any, ...], ...]:
    """The rows statement `index` of a successful transaction returned."""
    statement = result.statements[index]
    assert isinstance(statement, RowsResult), statement
    return statement.rows
