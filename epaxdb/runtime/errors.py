"""Errors of the replica runtime (the node, its log, its transport).

The split follows what a caller can do about each one: `Unavailable` means the
transaction never entered the protocol (safe to retry anywhere); `OutcomeUnknown`
means it did and may still commit (retry with the same request id, which execution
deduplicates); `NotCaughtUp` means a request waited in vain for this replica to
execute an earlier commit (nothing submitted); `PreviewTimedOut` means a preview's
statements ran out of time (nothing to retry elsewhere: they would be as slow
there); `DataDirectoryInUse` and `IdentityMismatch` stop a replica at startup.
"""

from __future__ import annotations

from epaxdb.errors import ConfigError, EpaxdbError
from epaxdb.tokens import After


class Unavailable(EpaxdbError):
    """The node is not accepting transactions (stopping, or stopped after a storage
    failure). Nothing was submitted."""


class PreviewTimedOut(EpaxdbError):
    """A preview (which commits nothing) did not finish in time. Unlike `Unavailable`,
    the replica works: the statements are slow, so sending them elsewhere would not
    help; a longer timeout or a smaller transaction may."""


class OutcomeUnknown(EpaxdbError):
    """The transaction entered the protocol but no result arrived in time: it may or
    may not commit. Retrying with the same request id is safe."""

    def __init__(self, request_id: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class DataDirectoryInUse(EpaxdbError):
    """Another process holds the lock of this data directory."""


class IdentityMismatch(ConfigError):
    """The data directory belongs to another cluster or replica id."""


class InvalidRequest(EpaxdbError):
    """A client request that is not a well-formed transaction (nothing submitted).
    `statement` is the index of the offending statement, when one is to blame."""

    code = "bad_request"

    def __init__(self, message: str, statement: int | None = None) -> None:
        super().__init__(message)
        self.statement = statement


class NotReadOnly(InvalidRequest):
    """A statement of a request that must only read (a query) could change the database."""

    code = "not_read_only"


class NotCaughtUp(EpaxdbError):
    """The replica did not reach the instance or position a request asked to wait for
    (`after`) in time. Nothing was submitted: retrying, here or elsewhere, is safe."""

    def __init__(self, after: After, message: str) -> None:
        super().__init__(message)
        self.after = after


class SchemaMayBeStale(EpaxdbError):
    """A state machine refused a request in a way that a schema change this replica
    has not executed yet could explain (e.g. an unknown table). The node catches up
    once and asks again; `refusal` is what the client gets if it still fails."""

    def __init__(self, refusal: Exception) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal
