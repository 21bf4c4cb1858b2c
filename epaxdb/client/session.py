"""The transaction state of one connection, as operations that do no I/O.

Each operation is a generator: it yields the `Request`s it needs, receives each
decoded 200 answer (or has the mapped `Error` thrown into it) and returns its
result. `epaxdb.dbapi` and `epaxdb.aio` drive the same operations, one with
blocking HTTP, one with aiohttp.

Theory of operation:

1. Autocommit (`autocommit=True`, no explicit BEGIN): a plain query goes to
   `/v1/query` (linearizable, after the connection's last commit token); anything
   else is its own transaction on `/v1/tx` with a fresh request id. A transaction
   refused as retryable (`schema_changed`) is resubmitted, with a new id, since
   nothing was applied.
2. A transaction begins with an explicit BEGIN, or (autocommit=False) with the first
   statement of any kind, reads included. Every statement is previewed: all the
   transaction's statements so far go to `/v1/tx/preview`, which answers their
   results as this transaction sees them (its own writes included, nothing
   uncommitted of others) and a `context`, sent with the next preview. A statement
   whose preview fails is left out of the statements, and the transaction stays open,
   as in sqlite3; the context the failure comes with records it, so the commit checks
   that it still fails alike. A serialization failure ends the transaction.
3. `commit()` sends every statement and the last context to `/v1/tx` as one
   transaction: it commits only if what it read is still what it would read at its
   place in the global order, else `SerializationFailure`. The transaction is over
   whatever the answer, except `Unavailable` (nothing was submitted: commit again, or
   roll back). `rollback()` forgets the statements: nothing is held on any server.
4. Every answer that executed somewhere (a commit, a failed commit, a linearizable
   query, an outcome looked up) names its instance in a commit token `epx1:o:s`. The
   connection folds them into one *position* (the highest slot per replica,
   `epaxdb.tokens`) and sends it as `after` with its queries and previews: the replica
   serving them first executes everything up to it, so the connection's reads, on
   whichever replica, see all its writes and everything it read before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from epaxdb.client import protocol, sqltext
from epaxdb.client.errors import (
    Error,
    InterfaceError,
    OperationalError,
    SerializationFailure,
    Unavailable,
)
from epaxdb.client.protocol import Request, Statement, StatementResult, TransactionOutcome
from epaxdb.client.types import adapt_params
from epaxdb.tokens import BadToken, Position, parse_token, position_token

T = TypeVar("T")
Operation = Generator[Request, Any, T]
Params = Sequence[Any] | Mapping[str, Any] | None

# How often an autocommit transaction refused as retryable is resubmitted.
RETRYABLE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a cursor shows after an operation."""

    columns: tuple[str, ...] | None = None
    rows: tuple[tuple[Any, ...], ...] = ()
    rowcount: int = -1
    # None leaves the cursor's lastrowid as it was (executemany, executescript).
    lastrowid: int | None = None


@dataclass(slots=True)
class _Transaction:
    explicit: bool
    statements: list[Statement] = field(default_factory=list)
    context: Any = None


def drive(operation: Operation[T], send: Callable[[Request], Any]) -> T:
    """Run an operation with a blocking `send` (the asyncio client has the same loop
    with `await`): send each request it yields, throw each error back into it."""
    try:
        request = next(operation)
        while True:
            try:
                answer = send(request)
            except Exception as error:  # noqa: BLE001 - the operation decides
                request = operation.throw(error)
            else:
                request = operation.send(answer)
    except StopIteration as stop:
        return stop.value


def new_request_id() -> str:
    return uuid.uuid4().hex


class Session:
    def __init__(self, *, autocommit: bool, timeout_ms: int, after: Position | None = None) -> None:
        self.autocommit = autocommit
        self.timeout_ms = timeout_ms
        # Everything this connection has seen executed (see the module docstring).
        self.position = after or Position()
        # SQLite's last_insert_rowid() as this connection sees it (kept across
        # statements that insert nothing, as a SQLite connection keeps it).
        self.last_insert_rowid = 0
        self._transaction: _Transaction | None = None

    @property
    def in_transaction(self) -> bool:
        return self._transaction is not None

    @property
    def commit_token(self) -> str | None:
        """The connection's position as a token (`epx2:...`), None before any commit."""
        return position_token(self.position) if self.position else None

    # ------------------------------------------------------------------ operations

    def execute(self, sql: str, params: Params = None) -> Operation[Outcome]:
        control = sqltext.transaction_control(sql)
        if control is not None:
            yield from self._control(control)
            return Outcome(lastrowid=self.last_insert_rowid)
        statement = Statement(sql, adapt_params(params))
        (result,) = yield from self._run([statement], query=sqltext.is_query(sql))
        return Outcome(
            result.columns,
            result.rows,
            result.rows_affected if result.columns is None else -1,
            self.last_insert_rowid,
        )

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> Operation[Outcome]:
        statements = [Statement(sql, adapt_params(params)) for params in seq_of_params]
        if not statements:
            return Outcome(rowcount=0)
        results = yield from self._run(statements, query=False)
        return Outcome(rowcount=sum(r.rows_affected for r in results if r.columns is None))

    def executescript(self, script: str) -> Operation[Outcome]:
        """Runs the script's statements in order; consecutive ones between transaction
        control statements go in one request (outside a transaction: atomically)."""
        batch: list[Statement] = []
        for sql in sqltext.split_script(script):
            control = sqltext.transaction_control(sql)
            if control is None:
                batch.append(Statement(sql, []))
                continue
            if batch:
                yield from self._run(batch, query=False)
                batch = []
            yield from self._control(control)
        if batch:
            yield from self._run(batch, query=False)
        return Outcome()

    def commit(self) -> Operation[None]:
        transaction = self._transaction
        if transaction is None:
            return
        if not transaction.statements:
            self._transaction = None
            return
        request = protocol.tx_request(
            transaction.statements,
            request_id=new_request_id(),
            timeout_ms=self.timeout_ms,
            interactive=transaction.context,
        )
        # Over whatever happens (an error, a cancelled caller) unless nothing was
        # submitted: committing again after an unknown outcome could apply it twice.
        self._transaction = None
        try:
            answer = yield from self._send(request)
        except Unavailable:
            self._transaction = transaction
            raise
        self._results(answer, len(transaction.statements))

    def rollback(self) -> None:
        self._transaction = None

    def transaction_outcome(self, request_id: str) -> Operation[TransactionOutcome]:
        """What the replica the connection talks to knows of `request_id` (e.g. the
        `request_id` of an `OutcomeUnknown`)."""
        answer = yield from self._send(protocol.outcome_request(request_id))
        return protocol.transaction_outcome(answer)

    # ------------------------------------------------------------------ internals

    def _control(self, control: sqltext.Control) -> Operation[None]:
        if control is sqltext.Control.BEGIN:
            if self._transaction is not None and (
                self._transaction.explicit or self._transaction.statements
            ):
                raise OperationalError(
                    "cannot start a transaction within a transaction", code="SQLITE_ERROR"
                )
            self._transaction = _Transaction(explicit=True)
            return
        if self._transaction is None and self.autocommit:
            verb = "commit" if control is sqltext.Control.COMMIT else "rollback"
            raise OperationalError(f"cannot {verb} - no transaction is active", code="SQLITE_ERROR")
        if control is sqltext.Control.COMMIT:
            yield from self.commit()
        else:
            self.rollback()

    def _run(self, statements: list[Statement], *, query: bool) -> Operation[list[StatementResult]]:
        if self._transaction is None and self.autocommit:
            if query:
                answer = yield from self._send(
                    protocol.query_request(
                        statements, after=self.commit_token, timeout_ms=self.timeout_ms
                    )
                )
                return self._results(answer, len(statements))
            return (yield from self._autocommit(statements))
        return (yield from self._preview(statements))

    def _autocommit(self, statements: list[Statement]) -> Operation[list[StatementResult]]:
        attempt = 1
        while True:
            request = protocol.tx_request(
                statements, request_id=new_request_id(), timeout_ms=self.timeout_ms
            )
            try:
                answer = yield from self._send(request)
            except SerializationFailure as error:
                if not error.retryable or attempt >= RETRYABLE_ATTEMPTS:
                    raise
                attempt += 1
                continue
            return self._results(answer, len(statements))

    def _preview(self, statements: list[Statement]) -> Operation[list[StatementResult]]:
        transaction = self._transaction or _Transaction(explicit=False)
        before = len(transaction.statements)
        request = protocol.preview_request(
            [*transaction.statements, *statements],
            context=transaction.context,
            after=self.commit_token,
            timeout_ms=self.timeout_ms,
        )
        try:
            answer = yield request
        except SerializationFailure:
            self._transaction = None
            raise
        except Error as error:
            self._preview_failed(transaction, statements, error)
            raise
        results = self._results(answer, before + len(statements))[before:]
        transaction.statements.extend(statements)
        transaction.context = answer.get("context")
        self._transaction = transaction
        return results

    def _preview_failed(
        self, transaction: _Transaction, statements: list[Statement], error: Error
    ) -> None:
        """A new statement failed. The statements before it (of an executemany, a
        script) stay in the transaction, as in sqlite3, and so does the failure: the
        answer's context records it, and the commit checks it still fails alike. If
        SQLite rolled the whole transaction back (RAISE(ROLLBACK)), it is over."""
        before = len(transaction.statements)
        details = error.answer.get("error")
        if isinstance(details, Mapping) and details.get("transaction_rolled_back"):
            self._transaction = None
            return
        context = error.answer.get("context")
        if context is not None and error.statement is not None and error.statement >= before:
            transaction.statements.extend(statements[: error.statement - before])
            transaction.context = context
            self._transaction = transaction
        if error.statement is not None and error.statement >= before:
            error.statement -= before

    def _results(self, answer: Any, expected: int) -> list[StatementResult]:
        results = protocol.results(answer, expected)
        for result in results:
            if result.columns is None and result.last_insert_rowid:
                self.last_insert_rowid = result.last_insert_rowid
        return results

    def _send(self, request: Request) -> Operation[Any]:
        """Yield `request`; fold the commit token of its answer, or of the error
        answered (a transaction that executed and failed was ordered too)."""
        try:
            answer = yield request
        except Error as error:
            self._fold(error.answer)
            raise
        self._fold(answer)
        return answer

    def _fold(self, answer: Any) -> None:
        token = answer.get("commit_token") if isinstance(answer, Mapping) else None
        if token is None:
            return
        try:
            self.position = self.position.including(parse_token(token))
        except (BadToken, TypeError) as error:
            raise InterfaceError(f"malformed answer: commit token {token!r:.80}") from error
