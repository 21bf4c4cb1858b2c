"""The blocking `Connection` and `Cursor` of `epaxdb.dbapi` (PEP 249, sqlite3-like)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Self

from epaxdb.client.connection import ConnectionBase, ConnectOptions
from epaxdb.client.cursor import CursorBase
from epaxdb.client.protocol import TransactionOutcome
from epaxdb.client.session import Operation, Params, T
from epaxdb.dbapi.transport import HttpTransport


class Connection(ConnectionBase):
    def __init__(self, options: ConnectOptions) -> None:
        super().__init__(options)
        self._transport = HttpTransport(options)

    @ConnectionBase.autocommit.setter
    def autocommit(self, value: bool) -> None:
        autocommit = self._checked_autocommit(value)
        if autocommit:
            self._run(self._session.commit())
        self._session.autocommit = autocommit

    @ConnectionBase.isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        autocommit = self._checked_isolation_level(value)
        if autocommit:
            self._run(self._session.commit())
        self._session.autocommit = autocommit

    def cursor(self, factory: type[Cursor] | None = None) -> Cursor:
        self._check_open()
        return (factory or Cursor)(self)

    def execute(self, sql: str, parameters: Params = (), /) -> Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> Cursor:
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        self._check_open()
        self._run(self._session.commit())

    def rollback(self) -> None:
        self._check_open()
        self._session.rollback()

    def transaction_outcome(self, request_id: str, /) -> TransactionOutcome:
        """What became of the transaction `request_id` (an `OutcomeUnknown`'s), as
        far as the replica this connection talks to knows (docs/client.md)."""
        self._check_open()
        return self._run(self._session.transaction_outcome(request_id))

    def close(self) -> None:
        """Close without committing: an open transaction is discarded, as in sqlite3."""
        if not self._closed:
            self._session.rollback()
            self._transport.close()
            self._closed = True

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit if the block succeeded, roll back if it raised; stay open."""
        if kind is None:
            self.commit()
        else:
            self.rollback()

    def _run(self, operation: Operation[T]) -> T:
        return self._transport.run(operation)


class Cursor(CursorBase):
    connection: Connection

    def execute(self, sql: str, parameters: Params = (), /) -> Cursor:
        self._start()
        self._load(self.connection._run(self.connection._session.execute(sql, parameters)))
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Cursor:
        self._start()
        operation = self.connection._session.executemany(sql, seq_of_parameters)
        self._load(self.connection._run(operation))
        return self

    def executescript(self, sql_script: str, /) -> Cursor:
        self._start()
        self._load(self.connection._run(self.connection._session.executescript(sql_script)))
        return self

    def fetchone(self) -> Any:
        rows = self._take(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._take(self.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        return self._take(None)

    def close(self) -> None:
        self._close()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        rows = self._take(1)
        if not rows:
            raise StopIteration
        return rows[0]
