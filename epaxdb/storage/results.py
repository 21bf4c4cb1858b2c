"""What goes into the state database and what comes out of it, as plain data.

A `TransactionSpec` is everything a replica needs to execute one replicated transaction
identically to every other replica: the statements, the coordinator-chosen timestamp and
random seed, the schema version its analysis assumed, the client's request id (for
idempotent retries) and the runtime's opaque executed marker.

An interactive transaction's commit carries a `Validation`: what its statements must
produce at the commit's place in the order (`observation`) for it to commit. A
`PreviewSpec` runs statements without committing them, for such a transaction's
statements before its commit; a `StatementRun` is what running statements produced.

A `TransactionResult` is either the per-statement results or one `TransactionError`.
Results are stored in the database (msgpack, via `encode`/`decode`) so that a retried
request gets the very answer the first execution produced, until a `PurgeSpec` (a
replicated command, executed at the same point of the order on every replica) forgets
the results of requests first executed before its cutoff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

SqlValue = None | int | float | str | bytes
# Positional parameters (for `?`, `?NNN`) or named ones (for `:x`, `@x`, `$x`; the key
# may be given with or without its prefix character).
Params = Sequence[SqlValue] | Mapping[str, SqlValue]
Statement = tuple[str, Params]
# The runtime's opaque record of "this instance/batch position was executed".
Marker = bytes | str

# Error codes that are not SQLite result-code names.
SCHEMA_CHANGED = "schema_changed"
BINDING_ERROR = "binding_error"
REFUSED_STATEMENT = "refused_statement"
RESERVED_ROWID = "reserved_rowid"
SERIALIZATION_FAILURE = "serialization_failure"


@dataclass(frozen=True, slots=True)
class Validation:
    """The commit condition of an interactive transaction.

    `digest` is the observation chain the statements must produce (`observation`);
    `expected_failures` are the positions of statements that failed when the client ran
    them, and must fail alike. `age_ms` is how long before its submission the
    transaction began (the coordinator's clock), `max_age_ms` the limit it must be
    within; both travel in the command, so every replica decides alike.
    """

    digest: bytes
    expected_failures: frozenset[int] = frozenset()
    age_ms: int = 0
    max_age_ms: int = 60_000

    @property
    def expired(self) -> bool:
        return not -self.max_age_ms <= self.age_ms <= self.max_age_ms


@dataclass(frozen=True, slots=True)
class TransactionSpec:
    request_id: str
    statements: tuple[Statement, ...]
    timestamp_ms: int
    seed: int
    executed_marker: Marker
    # `PRAGMA schema_version` the analysis was made under; None skips the check.
    schema_version: int | None = None
    # Set for an interactive transaction: commit only if the statements produce this.
    validation: Validation | None = None
    # The analysis found no statement that may write. Running it again changes nothing,
    # so a retry may simply run again: no result is stored (unless `validation` is set:
    # an interactive commit's verdict must stay the same for its retries). The guard
    # refuses any statement SQLite does not consider read-only.
    read_only: bool = False

    @property
    def stores_result(self) -> bool:
        return not self.read_only or self.validation is not None

    def __post_init__(self) -> None:
        if not isinstance(self.request_id, str) or not self.request_id:
            raise TypeError("request_id must be a non-empty str")
        if not isinstance(self.executed_marker, (bytes, str)):
            raise TypeError("executed_marker must be bytes or str")
        for name in ("timestamp_ms", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int")
        statements = tuple((sql, params) for sql, params in self.statements)
        for sql, _params in statements:
            if not isinstance(sql, str):
                raise TypeError("each statement's SQL must be a str")
        object.__setattr__(self, "statements", statements)


@dataclass(frozen=True, slots=True)
class PurgeSpec:
    """Forget the stored results of requests first executed with a timestamp before
    `cutoff_ms`, at most `limit` of them (the oldest; None: all), so that one purge
    holds the state database for a bounded time; a retry of such a request executes
    again. `timestamp_ms` is the proposer's clock (results stored before the engine
    recorded execution times count as executed then). Replicated like a transaction,
    with its own executed marker."""

    request_id: str
    timestamp_ms: int
    cutoff_ms: int
    executed_marker: Marker
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge did on this replica: how many stored results it removed (the same
    number on every replica)."""

    request_id: str
    removed: int
    marker: Marker | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PreviewSpec:
    """Statements to run on the current state and roll back, with the clock and the
    random() seed of the interactive transaction they belong to."""

    statements: tuple[Statement, ...]
    timestamp_ms: int
    seed: int
    # Positions of statements that failed before; the run goes on past them.
    expected_failures: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class RowsResult:
    """A statement that returns rows (SELECT, RETURNING, introspection PRAGMAs)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[SqlValue, ...], ...]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A statement without result columns.

    `rows_affected` is SQLite's `changes()` for INSERT/UPDATE/DELETE and 0 for anything
    that changed no row (DDL included, although `changes()` would still report the last
    DML there). `last_insert_rowid` is reset to 0 at the start of every transaction.
    """

    rows_affected: int
    last_insert_rowid: int


StatementResult = RowsResult | WriteResult


@dataclass(frozen=True, slots=True)
class TransactionError:
    """Why a transaction changed nothing; identical on every replica.

    `code` is SQLite's extended result-code name (e.g. `SQLITE_CONSTRAINT_UNIQUE`) or one
    of this module's codes (`schema_changed`, `binding_error`, `refused_statement`,
    `reserved_rowid`). `statement_index` is the failing statement's position, or None when
    the failure concerns the transaction as a whole.
    """

    code: str
    message: str
    statement_index: int | None = None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class StatementRun:
    """What running statements produced: one outcome per statement that ran, and
    (when asked for) the observation chain after each outcome. `failure` is the failure
    that stopped the run (also the last outcome); `rolled_back` says SQLite ended the
    whole transaction with it (`RAISE(ROLLBACK)`, `ON CONFLICT ROLLBACK`)."""

    outcomes: tuple[StatementResult | TransactionError, ...]
    chain: tuple[bytes, ...] = ()
    failure: TransactionError | None = None
    rolled_back: bool = False

    @property
    def results(self) -> tuple[StatementResult, ...]:
        """The outcomes of the statements that succeeded."""
        return tuple(o for o in self.outcomes if not isinstance(o, TransactionError))


@dataclass(frozen=True, slots=True)
class TransactionResult:
    request_id: str
    statements: tuple[StatementResult, ...] = ()
    error: TransactionError | None = None
    # True when this call found the request already applied and returned the stored
    # result; not part of the stored result itself.
    duplicate: bool = field(default=False, compare=False)
    # The executed marker of the execution that produced the result (the first one, for
    # a duplicate): where in the replicated order it took effect. Stored beside the
    # result, not inside it.
    marker: Marker | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_wire(self) -> dict[str, Any]:
        """The result as plain msgpack/JSON-like data (bytes stay bytes)."""
        if self.error is not None:
            e = self.error
            return {
                "error": {
                    "code": e.code,
                    "message": e.message,
                    "statement_index": e.statement_index,
                    "retryable": e.retryable,
                }
            }
        return {"results": [_statement_to_wire(s) for s in self.statements]}

    @staticmethod
    def from_wire(request_id: str, data: Mapping[str, Any]) -> TransactionResult:
        if "error" in data:
            e = data["error"]
            error = TransactionError(e["code"], e["message"], e["statement_index"], e["retryable"])
            return TransactionResult(request_id, (), error)
        return TransactionResult(
            request_id, tuple(_statement_from_wire(s) for s in data["results"])
        )

    def encode(self) -> bytes:
        return msgpack.packb(self.to_wire(), use_bin_type=True)

    @staticmethod
    def decode(request_id: str, blob: bytes) -> TransactionResult:
        return TransactionResult.from_wire(request_id, msgpack.unpackb(blob, raw=False))


def _statement_to_wire(result: StatementResult) -> dict[str, Any]:
    if isinstance(result, RowsResult):
        return {"columns": list(result.columns), "rows": [list(r) for r in result.rows]}
    return {"rows_affected": result.rows_affected, "last_insert_rowid": result.last_insert_rowid}


def _statement_from_wire(data: Mapping[str, Any]) -> StatementResult:
    if "columns" in data:
        return RowsResult(tuple(data["columns"]), tuple(tuple(r) for r in data["rows"]))
    return WriteResult(data["rows_affected"], data["last_insert_rowid"])
