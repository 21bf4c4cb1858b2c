"""epaxdb's asyncio Python client: the operations of `epaxdb.dbapi`, awaited.

    import epaxdb.aio

    conn = await epaxdb.aio.connect("http://127.0.0.1:4001")
    async with conn:                              # commit, or roll back on error
        cur = await conn.execute("SELECT qty FROM items WHERE id = ?", (7,))
        (stock,) = await cur.fetchone()
        await conn.execute("UPDATE items SET qty = ? WHERE id = ?", (stock - 1, 7))
    await conn.close()

Errors, `Row`, the type constructors and adapters are those of `epaxdb.dbapi`.
"""

from __future__ import annotations

from collections.abc import Sequence

from epaxdb.aio.connection import Connection, Cursor
from epaxdb.client.connection import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_WIRE,
    LEGACY_TRANSACTION_CONTROL,
    connect_options,
)
from epaxdb.dbapi import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    OutcomeUnknown,
    ProgrammingError,
    Row,
    SerializationFailure,
    TransactionOutcome,
    Unavailable,
    Warning,
    apilevel,
    paramstyle,
    threadsafety,
)


async def connect(
    database: str | Sequence[str],
    timeout: float = DEFAULT_TIMEOUT_S,
    *,
    token: str | None = None,
    autocommit: bool | int = LEGACY_TRANSACTION_CONTROL,
    isolation_level: str | None = "",
    wire: str = DEFAULT_WIRE,
    after: str | None = None,
) -> Connection:
    """An asyncio connection; the arguments are those of `epaxdb.dbapi.connect`."""
    return Connection(
        connect_options(
            database,
            timeout=timeout,
            token=token,
            autocommit=autocommit,
            isolation_level=isolation_level,
            wire=wire,
            after=after,
        )
    )


__all__ = [
    "LEGACY_TRANSACTION_CONTROL",
    "Connection",
    "Cursor",
    "DataError",
    "DatabaseError",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "NotSupportedError",
    "OperationalError",
    "OutcomeUnknown",
    "ProgrammingError",
    "Row",
    "SerializationFailure",
    "TransactionOutcome",
    "Unavailable",
    "Warning",
    "apilevel",
    "connect",
    "paramstyle",
    "threadsafety",
]
