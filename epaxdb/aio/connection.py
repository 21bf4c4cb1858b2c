"""The asyncio `Connection` and `Cursor` of `epaxdb.aio`: the operations of
`epaxdb.dbapi` as coroutines. Operations on one connection run one at a time (a
lock), since they share its transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self

from epaxdb.aio.transport import AioHttpTransport
from epaxdb.client.connection import ConnectionBase, ConnectOptions
from epaxdb.client.cursor import CursorBase
from epaxdb.client.errors import ProgrammingError
from epaxdb.client.protocol import TransactionOutcome
from epaxdb.client.session import Operation, Outcome, Params, T


class Connection(ConnectionBase):
    def __init__(self, options: ConnectOptions) -> None:
        super().__init__(options)
        self._transport = AioHttpTransport(options)
        self._lock = asyncio.Lock()

    @ConnectionBase.autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._switch(self._checked_autocommit(value))

    @ConnectionBase.isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._switch(self._checked_isolation_level(value))

    def _switch(self, autocommit: bool) -> None:
        # A setter cannot await the commit sqlite3 would issue here.
        if autocommit and self._session.in_transaction:
            raise ProgrammingError("commit() or rollback() before switching to autocommit")
        self._session.autocommit = autocommit

    def cursor(self, factory: type[Cursor] | None = None) -> Cursor:
        self._check_open()
        return (factory or Cursor)(self)

    async def execute(self, sql: str, parameters: Params = (), /) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Cursor:
        return await self.cursor().executemany(sql, seq_of_parameters)

    async def executescript(self, sql_script: str, /) -> Cursor:
        return await self.cursor().executescript(sql_script)

    async def commit(self) -> None:
        self._check_open()
        await self._run(self._session.commit())

    async def rollback(self) -> None:
        self._check_open()
        async with self._lock:
            self._session.rollback()

    async def transaction_outcome(self, request_id: str, /) -> TransactionOutcome:
        """What became of the transaction `request_id`; see the blocking client's."""
        self._check_open()
        return await self._run(self._session.transaction_outcome(request_id))

    async def close(self) -> None:
        """Close without committing: an open transaction is discarded."""
        if not self._closed:
            self._closed = True
            self._session.rollback()
            await self._transport.close()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit if the block succeeded, roll back if it raised; stay open."""
        if kind is None:
            await self.commit()
        else:
            await self.rollback()

    async def _run(self, operation: Operation[T]) -> T:
        async with self._lock:
            return await self._transport.run(operation)


class Cursor(CursorBase):
    connection: Connection

    async def execute(self, sql: str, parameters: Params = (), /) -> Cursor:
        return await self._load_from(self.connection._session.execute(sql, parameters))

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Cursor:
        return await self._load_from(self.connection._session.executemany(sql, seq_of_parameters))

    async def executescript(self, sql_script: str, /) -> Cursor:
        return await self._load_from(self.connection._session.executescript(sql_script))

    async def fetchone(self) -> Any:
        rows = self._take(1)
        return rows[0] if rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._take(self.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._take(None)

    async def close(self) -> None:
        self._close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        rows = self._take(1)
        if not rows:
            raise StopAsyncIteration
        return rows[0]

    async def _load_from(self, operation: Operation[Outcome]) -> Cursor:
        self._start()
        self._load(await self.connection._run(operation))
        return self
