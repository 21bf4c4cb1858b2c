"""What the blocking and asyncio connections share: connect() arguments, the
transaction-mode attributes (`autocommit`, `isolation_level`, `in_transaction`),
`row_factory`, the commit token, `transaction_outcome`'s request, and the PEP 249
exception classes as attributes.

Transaction modes, as Python 3.12's sqlite3 with `autocommit=False` (the default):
a transaction begins with the first statement of any kind, reads included.
`autocommit=True`, or `isolation_level=None` when `autocommit` is not given (or is
`LEGACY_TRANSACTION_CONTROL`), runs each statement on its own; an explicit BEGIN
still opens a transaction then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from epaxdb.client import errors
from epaxdb.client.codec import CODECS, JSON_TYPE, MSGPACK_TYPE, Codec
from epaxdb.client.errors import InterfaceError, ProgrammingError
from epaxdb.client.failover import Endpoints, parse_endpoints
from epaxdb.client.session import Session
from epaxdb.tokens import BadToken, Position, parse_token

LEGACY_TRANSACTION_CONTROL = -1
ISOLATION_LEVELS = ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE")
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_WIRE = "json"
MAX_TIMEOUT_MS = 120_000
# The HTTP wait beyond the server's own timeout, so the server's 504 arrives first.
SOCKET_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    endpoints: Endpoints
    codec: Codec
    token: str | None
    timeout_s: float
    autocommit: bool
    isolation_level: str
    after: Position

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": self.codec.content_type,
            "Accept": f"{MSGPACK_TYPE}, {JSON_TYPE};q=0.9",
        }
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def connect_options(
    database: str | Sequence[str],
    *,
    timeout: float,
    token: str | None,
    autocommit: bool | int,
    isolation_level: str | None,
    wire: str,
    after: str | None,
) -> ConnectOptions:
    """Validate what connect() was given; no I/O (connecting is lazy, per request)."""
    if not isinstance(timeout, (int, float)) or not 0 < timeout * 1000 <= MAX_TIMEOUT_MS:
        raise ProgrammingError(
            f"timeout must be a number of seconds in (0, {MAX_TIMEOUT_MS // 1000}]"
        )
    if wire not in CODECS:
        raise InterfaceError(f"wire must be one of {sorted(CODECS)}, not {wire!r}")
    level = _check_isolation_level(isolation_level)
    if isinstance(autocommit, bool):
        resolved = autocommit
    elif autocommit == LEGACY_TRANSACTION_CONTROL:
        resolved = level is None
    else:
        raise ValueError(
            "autocommit must be True, False, or epaxdb.dbapi.LEGACY_TRANSACTION_CONTROL"
        )
    return ConnectOptions(
        Endpoints(parse_endpoints(database)),
        CODECS[wire],
        token,
        float(timeout),
        resolved,
        level or "",
        _position(after),
    )


def _position(after: str | None) -> Position:
    """`after` as a position: a connection's `commit_token` (`epx2:...`) or the
    `commit_token` of one answer (`epx1:...`), folded into a position."""
    if after is None:
        return Position()
    try:
        return Position().including(parse_token(after))
    except (BadToken, TypeError):
        raise ProgrammingError(
            f"after={after!r:.80} is not a commit token (epx1:...) or a connection's "
            "commit_token (epx2:...)",
            code="bad_token",
        ) from None


def _check_isolation_level(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in ISOLATION_LEVELS:
        raise ValueError(f"isolation_level must be None or one of {ISOLATION_LEVELS[1:]}")
    return value.upper()


class ConnectionBase:
    Warning = errors.Warning
    Error = errors.Error
    InterfaceError = errors.InterfaceError
    DatabaseError = errors.DatabaseError
    DataError = errors.DataError
    OperationalError = errors.OperationalError
    IntegrityError = errors.IntegrityError
    InternalError = errors.InternalError
    ProgrammingError = errors.ProgrammingError
    NotSupportedError = errors.NotSupportedError

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._session = Session(
            autocommit=options.autocommit,
            timeout_ms=int(options.timeout_s * 1000),
            after=options.after,
        )
        self._isolation_level = options.isolation_level
        self.row_factory: Callable[[Any, tuple[Any, ...]], Any] | None = None
        self._closed = False

    @property
    def autocommit(self) -> bool:
        return self._session.autocommit

    @property
    def isolation_level(self) -> str | None:
        return None if self._session.autocommit else self._isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._session.in_transaction

    @property
    def commit_token(self) -> str | None:
        """Everything this connection has seen executed, as a position token
        (`epx2:...`; None before its first commit): pass it as `connect(after=...)` to
        make another connection's reads reflect all of it too."""
        return self._session.commit_token

    @property
    def closed(self) -> bool:
        return self._closed

    def _checked_autocommit(self, value: Any) -> bool:
        """A new `autocommit` value, validated. Switching to autocommit commits an open
        transaction first, as in sqlite3; the subclasses do that (it takes I/O)."""
        self._check_open()
        if not isinstance(value, bool):
            raise ValueError("autocommit must be True or False")  # noqa: TRY004 - as sqlite3
        return value

    def _checked_isolation_level(self, value: Any) -> bool:
        """The autocommit mode a new `isolation_level` means (None: autocommit)."""
        self._check_open()
        level = _check_isolation_level(value)
        if level is not None:
            self._isolation_level = level
        return level is None

    def _check_open(self) -> None:
        if self._closed:
            raise ProgrammingError("Cannot operate on a closed database.")
