"""The PEP 249 exception hierarchy of the clients and the one table mapping server
error codes onto it.

    Warning
    Error
    ├── InterfaceError                  the client was misused or built a bad request
    └── DatabaseError
        ├── DataError                   a value out of range, a body too large
        ├── OperationalError            the database's operation (sqlite3's "no such table")
        │   ├── SerializationFailure    commit refused: nothing applied, retry the transaction
        │   └── Unavailable             no replica took the request: nothing applied
        ├── IntegrityError              a constraint failed
        ├── InternalError
        ├── ProgrammingError            SQL syntax, parameter count or type
        ├── NotSupportedError           valid SQLite that epaxdb cannot replicate
        └── OutcomeUnknown              submitted, not confirmed: it may still commit

`OutcomeUnknown` is deliberately not an `OperationalError`: apps written for sqlite3
often retry `OperationalError` ("database is locked") blindly, and a blind retry of a
transaction that may have committed could apply it twice. Its `request_id` is the
handle to ask about (`Connection.transaction_outcome`) or to retry with (the server
deduplicates by it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from epaxdb.errors import EpaxdbError


class Warning(EpaxdbError):
    """Important warnings (PEP 249); epaxdb raises none today."""


class Error(EpaxdbError):
    """Root of the client's errors (PEP 249).

    `code` is the server's error code (an analyzer code such as `syntax_error`, a
    SQLite result-code name such as `SQLITE_CONSTRAINT_UNIQUE`, or one of epaxdb's own
    such as `serialization_failure`); `statement` the index of the statement it
    concerns within the operation (0 for `execute`, the failing parameter set's for
    `executemany`); `request_id` the transaction's id when it had one; `answer` the
    server's whole decoded answer.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        statement: int | None = None,
        retryable: bool = False,
        request_id: str | None = None,
        answer: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.statement = statement
        self.retryable = retryable
        self.request_id = request_id
        self.answer: Mapping[str, Any] = answer or {}

    @property
    def sqlite_errorname(self) -> str | None:
        """The SQLite result-code name, as sqlite3's exceptions carry it."""
        return self.code if self.code is not None and self.code.startswith("SQLITE_") else None

    @property
    def sqlite_errorcode(self) -> int | None:
        name = self.sqlite_errorname
        value = getattr(sqlite3, name, None) if name is not None else None
        return value if isinstance(value, int) else None


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class SerializationFailure(OperationalError):
    """The transaction did not commit because what it read changed before its place
    in the global order (or the schema changed under it). Nothing was applied, on any
    replica: running the whole transaction again is safe."""


class Unavailable(OperationalError):
    """No replica accepted the request (all refused connections or answered 503).
    Nothing was submitted: retrying later is safe."""


class OutcomeUnknown(DatabaseError):
    """The transaction was submitted but its outcome was not confirmed in time: it may
    or may not commit. `request_id` (always set) names it: ask what became of it with
    `Connection.transaction_outcome(request_id)`; a retry with the same id never
    applies it twice."""


_NOT_REPLICABLE = (
    # the analyzer's refusals of valid SQLite (docs/analyzer.md)
    "nondeterministic_localtime",
    "nondeterministic_limit",
    "connection_state",
    "build_dependent",
    "attach",
    "vacuum",
    "analyze",
    "pragma",
    "transaction_control",
    "temp_object",
    "reindex",
    "load_extension",
    "other_schema",
    "unsupported_statement",
    "unknown_function",
    "unsupported_schema",
    # the engine's guard refused what the analyzer let through
    "refused_statement",
)

# The table. Server codes first, then SQLite primary result codes mapped as CPython's
# sqlite3 maps them (an extended code such as SQLITE_CONSTRAINT_UNIQUE goes by its
# primary code, SQLITE_CONSTRAINT).
ERROR_CLASSES: Mapping[str, type[Error]] = {
    # epaxdb's own outcomes (docs/http-api.md)
    "serialization_failure": SerializationFailure,
    "schema_changed": SerializationFailure,
    "outcome_unknown": OutcomeUnknown,
    "unavailable": Unavailable,
    "not_ready": Unavailable,
    # a preview too slow for the timeout: another replica would be as slow (no failover)
    "preview_timeout": OperationalError,
    # an `after` this replica did not reach in time; nothing submitted, another may have
    "not_caught_up": Unavailable,
    "unauthorized": OperationalError,
    "body_too_large": DataError,
    "reserved_rowid": DataError,
    "internal": InternalError,
    # a request this client should not have built (or a server of another version)
    "bad_request": InterfaceError,
    "malformed_body": InterfaceError,
    "unknown_field": InterfaceError,
    "method_not_allowed": InterfaceError,
    "not_found": NotSupportedError,
    # the caller's mistakes
    "bad_token": ProgrammingError,
    "not_read_only": ProgrammingError,
    # the SQL text or its parameters are wrong
    "syntax_error": ProgrammingError,
    "multiple_statements": ProgrammingError,
    "empty_statement": ProgrammingError,
    "parameter_count": ProgrammingError,
    "parameter_type": ProgrammingError,
    "binding_error": ProgrammingError,
    # sqlite3 raises OperationalError("no such table: ...")
    "unknown_table": OperationalError,
    **dict.fromkeys(_NOT_REPLICABLE, NotSupportedError),
    # deterministic execution errors: SQLite's primary result codes
    "SQLITE_CONSTRAINT": IntegrityError,
    "SQLITE_MISMATCH": IntegrityError,
    "SQLITE_TOOBIG": DataError,
    "SQLITE_RANGE": InterfaceError,
    "SQLITE_MISUSE": InterfaceError,
    "SQLITE_INTERNAL": InternalError,
    "SQLITE_NOTFOUND": InternalError,
    "SQLITE_CORRUPT": DatabaseError,
    "SQLITE_NOTADB": DatabaseError,
    **dict.fromkeys(
        (
            "SQLITE_ERROR",
            "SQLITE_PERM",
            "SQLITE_ABORT",
            "SQLITE_BUSY",
            "SQLITE_LOCKED",
            "SQLITE_READONLY",
            "SQLITE_INTERRUPT",
            "SQLITE_IOERR",
            "SQLITE_FULL",
            "SQLITE_CANTOPEN",
            "SQLITE_PROTOCOL",
            "SQLITE_EMPTY",
            "SQLITE_SCHEMA",
        ),
        OperationalError,
    ),
}

# For a code the table does not know (a newer server), the HTTP status decides.
STATUS_CLASSES: Mapping[int, type[Error]] = {
    400: ProgrammingError,
    401: OperationalError,
    404: NotSupportedError,
    409: DatabaseError,
    413: DataError,
    503: Unavailable,
    504: OutcomeUnknown,
}


def error_class(code: str | None, status: int) -> type[Error]:
    if code is not None:
        if code in ERROR_CLASSES:
            return ERROR_CLASSES[code]
        primary = "_".join(code.split("_")[:2])
        if code.startswith("SQLITE_") and primary in ERROR_CLASSES:
            return ERROR_CLASSES[primary]
    return STATUS_CLASSES.get(status, OperationalError)


def error_from_answer(status: int, body: Any) -> Error:
    """The exception for a non-200 answer whose body is `body` (decoded, or None when
    the body was not the server's JSON/msgpack, e.g. a proxy's error page)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return STATUS_CLASSES.get(status, OperationalError)(
            f"HTTP {status} without an epaxdb error body", code=None
        )
    code = error.get("code")
    code = code if isinstance(code, str) else None
    statement = error.get("statement")
    request_id = error.get("request_id", body.get("request_id"))
    return error_class(code, status)(
        str(error.get("message") or code or f"HTTP {status}"),
        code=code,
        statement=statement if isinstance(statement, int) else None,
        retryable=bool(error.get("retryable", False)),
        request_id=request_id if isinstance(request_id, str) else None,
        answer=body,
    )
