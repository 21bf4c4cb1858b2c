"""Deterministic, exactly-once execution of replicated SQL transactions on SQLite (apsw).

See `engine` for the theory of operation and `docs/storage.md` for the design.
"""

from __future__ import annotations

from epaxdb.storage.engine import CatalogRow, StateDatabase, sqlite_version
from epaxdb.storage.errors import (
    DatabaseStopped,
    LocalQueryError,
    SqliteFailure,
    TimeZoneNotPinned,
)
from epaxdb.storage.results import (
    BINDING_ERROR,
    REFUSED_STATEMENT,
    RESERVED_ROWID,
    SCHEMA_CHANGED,
    Marker,
    Params,
    RowsResult,
    SqlValue,
    Statement,
    StatementResult,
    TransactionError,
    TransactionResult,
    TransactionSpec,
    WriteResult,
)
from epaxdb.storage.settings import ClusterSqlSettings

__all__ = [
    "BINDING_ERROR",
    "REFUSED_STATEMENT",
    "RESERVED_ROWID",
    "SCHEMA_CHANGED",
    "CatalogRow",
    "ClusterSqlSettings",
    "DatabaseStopped",
    "LocalQueryError",
    "Marker",
    "Params",
    "RowsResult",
    "SqlValue",
    "SqliteFailure",
    "StateDatabase",
    "Statement",
    "StatementResult",
    "TimeZoneNotPinned",
    "TransactionError",
    "TransactionResult",
    "TransactionSpec",
    "WriteResult",
    "sqlite_version",
]
