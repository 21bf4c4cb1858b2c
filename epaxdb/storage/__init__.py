"""Deterministic, exactly-once execution of replicated SQL transactions on SQLite (apsw).

See `engine` for the theory of operation and `docs/storage.md` for the design.
"""

from __future__ import annotations

from epaxdb.storage import observation
from epaxdb.storage.engine import CatalogRow, StateDatabase, sqlite_version
from epaxdb.storage.errors import (
    DatabaseStopped,
    LocalQueryError,
    PreviewInterrupted,
    SqliteFailure,
    TimeZoneNotPinned,
)
from epaxdb.storage.results import (
    BINDING_ERROR,
    REFUSED_STATEMENT,
    RESERVED_ROWID,
    SCHEMA_CHANGED,
    SERIALIZATION_FAILURE,
    Marker,
    Params,
    PreviewSpec,
    PurgeResult,
    PurgeSpec,
    RowsResult,
    SqlValue,
    Statement,
    StatementResult,
    StatementRun,
    TransactionError,
    TransactionResult,
    TransactionSpec,
    Validation,
    WriteResult,
)
from epaxdb.storage.settings import ClusterSqlSettings

__all__ = [
    "BINDING_ERROR",
    "REFUSED_STATEMENT",
    "RESERVED_ROWID",
    "SCHEMA_CHANGED",
    "SERIALIZATION_FAILURE",
    "CatalogRow",
    "ClusterSqlSettings",
    "DatabaseStopped",
    "LocalQueryError",
    "Marker",
    "Params",
    "PreviewInterrupted",
    "PreviewSpec",
    "PurgeResult",
    "PurgeSpec",
    "RowsResult",
    "SqlValue",
    "SqliteFailure",
    "StateDatabase",
    "Statement",
    "StatementResult",
    "StatementRun",
    "TimeZoneNotPinned",
    "TransactionError",
    "TransactionResult",
    "TransactionSpec",
    "Validation",
    "WriteResult",
    "observation",
    "sqlite_version",
]
