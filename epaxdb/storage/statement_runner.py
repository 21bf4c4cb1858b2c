"""Running client statements on the state connection, and classifying what happens.

`StatementRunner.run` executes a list of client statements under the guard, in the
transaction the engine opened, and returns a `StatementRun`: the outcome of each
statement that ran and, when asked, the observation chain (`observation`) after each.
A deterministic failure (constraint, RAISE in a trigger, datatype mismatch, SQL error,
a statement the guard refuses, bad parameters, the reserved rowid) is an outcome, not
an exception. It stops the run unless the caller expects a failure at that position
(an interactive transaction re-running a statement that failed when the client ran
it) — and always when SQLite rolled back the whole transaction (`RAISE(ROLLBACK)`,
`ON CONFLICT ROLLBACK`), after which nothing can continue. Any other SQLite error
propagates: it is not a property of the statements.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import apsw

from epaxdb.storage import observation
from epaxdb.storage.guard import Mode, StatementGuard
from epaxdb.storage.results import (
    BINDING_ERROR,
    REFUSED_STATEMENT,
    RESERVED_ROWID,
    Params,
    RowsResult,
    Statement,
    StatementResult,
    StatementRun,
    TransactionError,
    WriteResult,
)

# Failures that follow from the statement and the (replicated) database state alone.
_DETERMINISTIC = (
    apsw.ConstraintError,
    apsw.MismatchError,
    apsw.SQLError,
    apsw.TooBigError,
    apsw.RangeError,
)
# Raised by apsw while binding parameters, which are part of the replicated command.
_BINDING = (apsw.BindingsError, KeyError, TypeError, OverflowError)
_REFUSED = (apsw.AuthError, apsw.ExecTraceAbort)


class StatementRunner:
    def __init__(
        self,
        db: apsw.Connection,
        guard: StatementGuard,
        sequence_at_max: Callable[[], bool],
    ) -> None:
        self._db = db
        self._guard = guard
        self._cursor = db.cursor()
        self._sequence_at_max = sequence_at_max

    def run(
        self,
        statements: Sequence[Statement],
        *,
        expected_failures: Collection[int] = (),
        chained: bool = False,
        mode: Mode = Mode.REPLICATED,
    ) -> StatementRun:
        outcomes: list[StatementResult | TransactionError] = []
        chain: list[bytes] = []
        link = observation.INITIAL
        for index, (sql, params) in enumerate(statements):
            outcome = self.run_one(sql, params, mode)
            if isinstance(outcome, TransactionError):
                outcome = TransactionError(outcome.code, outcome.message, index)
            outcomes.append(outcome)
            if chained:
                link = observation.extend(link, outcome)
                chain.append(link)
            if isinstance(outcome, TransactionError):
                rolled_back = self._db.get_autocommit()
                if rolled_back or index not in expected_failures:
                    return StatementRun(tuple(outcomes), tuple(chain), outcome, rolled_back)
        return StatementRun(tuple(outcomes), tuple(chain))

    def run_one(self, sql: str, params: Params, mode: Mode) -> StatementResult | TransactionError:
        db, guard = self._db, self._guard
        guard.begin_statement(mode)
        changes_before = db.total_changes()
        try:
            rows = self._cursor.execute(sql, _bindings(params)).fetchall()
            columns = guard.columns
        except (*_REFUSED, *_DETERMINISTIC) as exc:
            if guard.refusal is not None:
                # The guard said no (SQLite words some denials as plain SQL errors).
                return TransactionError(REFUSED_STATEMENT, guard.refusal)
            return TransactionError(code_name(exc), str(exc))
        except apsw.FullError:
            if guard.saw_max_rowid or guard.touched_sequence:
                return _reserved_rowid_error()
            raise
        except _BINDING as exc:
            return TransactionError(BINDING_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            guard.end_statement()
        if guard.saw_max_rowid or (guard.touched_sequence and self._sequence_at_max()):
            return _reserved_rowid_error()
        if columns:
            return RowsResult(columns, tuple(rows))
        changed = db.total_changes() != changes_before
        return WriteResult(db.changes() if changed else 0, db.last_insert_rowid())


def code_name(exc: BaseException) -> str:
    """SQLite's extended result-code name of an apsw error (else the exception's name)."""
    for code in (getattr(exc, "extendedresult", None), getattr(exc, "result", None)):
        if code is None:
            continue
        name = apsw.mapping_extended_result_codes.get(code) or apsw.mapping_result_codes.get(code)
        if name:
            return str(name)
    return type(exc).__name__


def _bindings(params: Params) -> tuple[object, ...] | dict[str, object]:
    if isinstance(params, Mapping):
        # apsw names parameters without their prefix character (:x, @x, $x -> x).
        return {
            (key[1:] if key[:1] in (":", "@", "$") else key): value for key, value in params.items()
        }
    return tuple(params)


def _reserved_rowid_error() -> TransactionError:
    return TransactionError(
        RESERVED_ROWID,
        "rowid 9223372036854775807 (and a sqlite_sequence at it) is reserved: beyond it "
        "SQLite would choose rowids at random, differently on every replica",
    )
