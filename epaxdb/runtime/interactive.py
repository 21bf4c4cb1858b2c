"""Interactive transactions: the context a client carries between previews and commit.

Theory of operation (docs/transactions.md has the protocol and the argument):

A client runs an interactive transaction as a sequence of *previews*. Each preview
sends every statement of the transaction so far plus the `InteractiveContext` the
previous preview returned; the replica runs them all on its current state with the
transaction's clock and seed and rolls them back (`StateDatabase.preview`). The
context says what the client has observed so far: the observation chain (`digest`)
over the outcomes of the first `observed` statements, and a hash of those statements
(`statements_digest`) so that a client cannot silently change what it previewed. A
preview first checks that the statements it re-ran still produce that prefix (if not,
what the client read has changed: `serialization_failure`), then extends the context
with the new statements' outcomes.

A new statement that fails deterministically is reported (409) with a context that
records the failure (`failed`: its position among all statements run, and the
statement itself), because the client observed the failure too. The client leaves the
statement out of its list; `full_sequence` puts it back at its position, so previews
and the commit run it again and check that it still fails alike.

The commit sends the statements with the last context. The coordinator checks that
they are exactly the statements the context covers and builds a command whose payload
carries a `Validation` (the digest, the expected failures, the transaction's age); every
replica re-runs the statements at the command's place in the order and commits only if
they produce that digest.

The context is opaque to clients and not trusted: a forged one can only make the
client's own transaction fail, or commit what its statements really produce there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgpack

from epaxdb.runtime.errors import InvalidRequest
from epaxdb.storage import (
    SERIALIZATION_FAILURE,
    Statement,
    StatementResult,
    StatementRun,
    TransactionError,
    observation,
)

CONTEXT_FORMAT = 1
DEFAULT_MAX_AGE_MS = 60_000


@dataclass(frozen=True, slots=True)
class FailedStatement:
    """A statement that failed when the client ran it, at `position` among all the
    statements run (failed ones included)."""

    position: int
    statement: Statement


@dataclass(frozen=True, slots=True)
class InteractiveContext:
    timestamp_ms: int  # the transaction's clock ('now'), fixed by its first preview
    seed: int  # the transaction's random() seed
    observed: int  # how many statements (failed ones included) the digests cover
    digest: bytes  # the observation chain after them
    statements_digest: bytes  # `statements_digest` of them, as analysed
    failed: tuple[FailedStatement, ...] = ()

    @staticmethod
    def begin(timestamp_ms: int, seed: int) -> InteractiveContext:
        return InteractiveContext(timestamp_ms, seed, 0, observation.INITIAL, statements_digest(()))

    @property
    def failed_positions(self) -> frozenset[int]:
        return frozenset(f.position for f in self.failed)

    def full_sequence(self, statements: Sequence[Statement]) -> tuple[Statement, ...]:
        """The client's statements with the failed ones put back at their positions."""
        full = list(statements)
        for failed in self.failed:  # ascending positions
            if failed.position > len(full):
                raise InvalidRequest(
                    "the context does not belong to these statements (fewer statements "
                    "than the transaction ran)"
                )
            full.insert(failed.position, failed.statement)
        return tuple(full)

    def client_index(self, position: int) -> int:
        """The index in the client's list of the statement at `position` among all."""
        return position - sum(1 for f in self.failed if f.position < position)

    def to_json(self) -> dict[str, Any]:
        failed = [[f.position, f.statement[0], f.statement[1]] for f in self.failed]
        return {
            "format": CONTEXT_FORMAT,
            "timestamp_ms": self.timestamp_ms,
            # A decimal string: 63 bits do not survive JSON parsers that use doubles.
            "seed": str(self.seed),
            "observed": self.observed,
            "digest": self.digest.hex(),
            "statements_digest": self.statements_digest.hex(),
            "failed": base64.b64encode(msgpack.packb(failed, use_bin_type=True)).decode(),
        }

    @staticmethod
    def from_json(data: Any) -> InteractiveContext:
        """Parse a context a client sent back; InvalidRequest if it is not one."""
        try:
            return _parse_context(data)
        except (KeyError, TypeError, ValueError, binascii.Error, msgpack.UnpackException) as e:
            raise InvalidRequest(f"the interactive context is not valid: {e}") from None


def statements_digest(statements: Sequence[Statement]) -> bytes:
    """A hash of statements as analysed (SQL text and normalised parameters)."""
    packed = msgpack.packb([[sql, list(params)] for sql, params in statements])
    return hashlib.blake2b(packed, digest_size=32, person=b"epaxdb-stmts").digest()


@dataclass(frozen=True, slots=True)
class PreviewAnswer:
    """What a preview tells the client. On success: one result per client statement and
    the new context. On a new statement's deterministic failure: `error` (its
    `statement_index` in the client's list) and a context that records it, or
    `rolled_back` when the failure ended the whole transaction (the client's transaction
    is over, as with sqlite3). On `serialization_failure`: `error` alone."""

    results: tuple[StatementResult, ...] = ()
    context: InteractiveContext | None = None
    error: TransactionError | None = None
    rolled_back: bool = False


def serialization_failure(message: str) -> TransactionError:
    return TransactionError(SERIALIZATION_FAILURE, message, retryable=True)


def judge_preview(
    context: InteractiveContext,
    full: Sequence[Statement],
    analysed: Sequence[Statement],
    run: StatementRun,
) -> PreviewAnswer:
    """Turn a preview's run of `analysed` (= `full`, the client's statements plus the
    failed ones, as analysed) into the client's answer."""
    seen = context.observed
    failure = run.failure
    position = len(run.outcomes) - 1  # of the failure, if any: the run's last outcome
    if (failure is not None and position < seen) or (
        seen and run.chain[seen - 1] != context.digest
    ):
        return PreviewAnswer(
            error=serialization_failure(
                "what the transaction read earlier has changed; run it again from the start"
            )
        )
    if failure is None:
        return PreviewAnswer(
            run.results, _observed(context, analysed, len(run.chain), run.chain[-1])
        )
    error = replace(failure, statement_index=context.client_index(position))
    if run.rolled_back:
        return PreviewAnswer(error=error, rolled_back=True)
    recorded = replace(context, failed=(*context.failed, FailedStatement(position, full[position])))
    return PreviewAnswer(
        error=error, context=_observed(recorded, analysed, position + 1, run.chain[position])
    )


def check_statements(context: InteractiveContext, analysed: Sequence[Statement]) -> None:
    """The statements (as analysed) begin with those the context covers."""
    if len(analysed) < context.observed or (
        statements_digest(analysed[: context.observed]) != context.statements_digest
    ):
        raise InvalidRequest(
            "the statements are not the ones previewed with this context: send every "
            "statement of the transaction, in order, with the context of the last preview"
        )


def _observed(
    context: InteractiveContext, analysed: Sequence[Statement], count: int, digest: bytes
) -> InteractiveContext:
    return replace(
        context,
        observed=count,
        digest=digest,
        statements_digest=statements_digest(analysed[:count]),
    )


def _parse_context(data: Any) -> InteractiveContext:
    if not isinstance(data, Mapping):
        raise TypeError("it must be an object returned by a preview")
    if data["format"] != CONTEXT_FORMAT:
        raise ValueError(f"unknown context format {data['format']!r}")
    seed = data["seed"]
    if not isinstance(seed, str) or not seed.isdigit() or len(seed) > 19:
        raise TypeError("seed must be a decimal string")
    numbers = [data["timestamp_ms"], int(seed), data["observed"]]
    if any(type(n) is not int for n in numbers) or numbers[2] < 0:
        raise TypeError("timestamp_ms and observed must be integers")
    digest = bytes.fromhex(data["digest"])
    statements = bytes.fromhex(data["statements_digest"])
    if len(digest) != 32 or len(statements) != 32:
        raise ValueError("the digests must be 32 bytes")
    failed = []
    raw = msgpack.unpackb(base64.b64decode(data["failed"], validate=True), raw=False)
    for position, sql, params in raw:
        if type(position) is not int or not isinstance(sql, str):
            raise TypeError("a failed statement is [position, sql, params]")
        if not 0 <= position < numbers[2] or (failed and position <= failed[-1].position):
            raise ValueError("failed statements must be in order, among those observed")
        failed.append(FailedStatement(position, (sql, params)))
    return InteractiveContext(*numbers, digest, statements, tuple(failed))
