"""What a cursor holds between operations, shared by the blocking and asyncio cursors:
the description, the rows not fetched yet, rowcount and lastrowid (sqlite3's
meanings: rowcount is -1 for queries, lastrowid the connection's last inserted
rowid after `execute`, None before any)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from epaxdb.client.errors import ProgrammingError
from epaxdb.client.session import Outcome

if TYPE_CHECKING:
    from epaxdb.client.connection import ConnectionBase

Description = tuple[tuple[str, None, None, None, None, None, None], ...]


class CursorBase:
    def __init__(self, connection: ConnectionBase) -> None:
        self.connection = connection
        self.arraysize = 1
        self.row_factory: Callable[[Any, tuple[Any, ...]], Any] | None = connection.row_factory
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._description: Description | None = None
        self._rows: deque[tuple[Any, ...]] = deque()
        self._closed = False

    @property
    def description(self) -> Description | None:
        return self._description

    @property
    def closed(self) -> bool:
        return self._closed

    def setinputsizes(self, sizes: Any) -> None:
        """PEP 249 allows a no-op: values travel with their own types."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """PEP 249 allows a no-op: results arrive whole."""

    def _start(self) -> None:
        """Check the cursor can run an operation and forget the previous results."""
        self._check_open()
        self._description = None
        self._rows.clear()
        self.rowcount = -1

    def _load(self, outcome: Outcome) -> None:
        if outcome.columns is not None:
            self._description = tuple((name, None, None, None, None, None, None)
                                      for name in outcome.columns)  # fmt: skip
        self._rows.extend(outcome.rows)
        self.rowcount = outcome.rowcount
        if outcome.lastrowid is not None:
            self.lastrowid = outcome.lastrowid

    def _take(self, count: int | None) -> list[Any]:
        self._check_open()
        taken = len(self._rows) if count is None else max(0, min(count, len(self._rows)))
        rows = [self._rows.popleft() for _ in range(taken)]
        if self.row_factory is None:
            return rows
        return [self.row_factory(self, row) for row in rows]

    def _close(self) -> None:
        self._closed = True
        self._rows.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed cursor.")
        self.connection._check_open()
