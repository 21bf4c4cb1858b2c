"""epaxdb's blocking Python client: PEP 249, shaped like the standard `sqlite3` module.

    import epaxdb.dbapi as sqlite3

    conn = sqlite3.connect("http://127.0.0.1:4001,http://127.0.0.1:4002")
    with conn:                                   # one serializable transaction
        (stock,) = conn.execute("SELECT qty FROM items WHERE id = ?", (7,)).fetchone()
        conn.execute("UPDATE items SET qty = ? WHERE id = ?", (stock - 1, 7))

A transaction begins with the first statement (reads included) and is checked at
`commit()`: if what it read changed in the meantime it raises `SerializationFailure`
and nothing is applied. See docs/client.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from epaxdb.client.connection import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_WIRE,
    LEGACY_TRANSACTION_CONTROL,
    connect_options,
)
from epaxdb.client.errors import (
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
    SerializationFailure,
    Unavailable,
    Warning,
)
from epaxdb.client.protocol import TransactionOutcome
from epaxdb.client.row import Row
from epaxdb.client.types import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
    adapters,
    register_adapter,
)
from epaxdb.dbapi.connection import Connection, Cursor

apilevel = "2.0"
threadsafety = 1  # threads may share the module, not connections
paramstyle = "qmark"  # named parameters (:name, @name, $name) are accepted too
# As in sqlite3, the SQLite that runs the statements: here the replicas', known without
# asking one because epaxdb pins the apsw release (pyproject.toml) whose bundled SQLite
# every replica runs, and replicas refuse peers on another version. The oldest release
# the pin allows; apps and SQLAlchemy's SQLite dialect choose features (RETURNING) by it.
sqlite_version_info = (3, 54, 0)
sqlite_version = ".".join(map(str, sqlite_version_info))


def connect(
    database: str | Sequence[str],
    timeout: float = DEFAULT_TIMEOUT_S,
    *,
    token: str | None = None,
    autocommit: bool | int = LEGACY_TRANSACTION_CONTROL,
    isolation_level: str | None = "",
    wire: str = DEFAULT_WIRE,
    after: str | None = None,
    factory: type[Connection] = Connection,
    check_same_thread: bool = True,
) -> Connection:
    """A connection to an epaxdb cluster.

    `database`: a replica URL, several separated by commas, or a list of them; the
    connection fails over between them. `timeout`: seconds a transaction may take
    before its outcome is reported unknown. `token`: a bearer token. `autocommit`,
    `isolation_level`: as in Python 3.12's sqlite3 (the default begins a transaction
    with the first statement). `wire`: "json" or "msgpack". `after`: another
    connection's `commit_token` (or the `commit_token` of one HTTP answer): this
    one's reads will reflect everything it covers. `check_same_thread`
    is accepted for sqlite3 compatibility; a connection must not be shared between
    threads either way (threadsafety 1).
    """
    del check_same_thread  # nothing to check: no thread-bound handle exists
    options = connect_options(
        database,
        timeout=timeout,
        token=token,
        autocommit=autocommit,
        isolation_level=isolation_level,
        wire=wire,
        after=after,
    )
    return factory(options)


__all__ = [
    "BINARY",
    "DATETIME",
    "LEGACY_TRANSACTION_CONTROL",
    "NUMBER",
    "ROWID",
    "STRING",
    "Binary",
    "Connection",
    "Cursor",
    "DataError",
    "DatabaseError",
    "Date",
    "DateFromTicks",
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
    "Time",
    "TimeFromTicks",
    "Timestamp",
    "TimestampFromTicks",
    "TransactionOutcome",
    "Unavailable",
    "Warning",
    "adapters",
    "apilevel",
    "connect",
    "paramstyle",
    "register_adapter",
    "sqlite_version",
    "sqlite_version_info",
    "threadsafety",
]
