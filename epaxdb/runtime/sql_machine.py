"""The SQL state machine: transactions analysed at the coordinator, executed everywhere.

Theory of operation
-------------------
`prepare` (event loop, on the replica the client talks to) fixes everything that
could differ between replicas before the transaction enters the protocol: the
timestamp (this replica's clock, ms), a random seed, and the schema version the
analysis was made under. The analysis (an injected `Analyze`, the analyzer behind
it) turns the statements into conflict keys and the statements as they will run,
or refuses them. The command's payload is the msgpack *transaction payload*:

    [3, [[sql, params], ...], timestamp_ms, seed, schema_version, validation, read_only]

`validation` is None, or for an interactive transaction's commit (an
`InteractiveCommit` request) `[digest, [failed positions], age_ms, max_age_ms]`: its
timestamp and seed are those of its first preview, and it commits only if its
statements produce the digest its previews showed the client (`interactive`).
`read_only` says the analysis found no statement that may write: such a transaction
stores no result for retries (a retry runs it again), unless it is an interactive
commit. Versions 1 (without `validation`) and 2 (without `read_only`) still decode.

A *purge* (`purge_results`, proposed by the node every so often) is a global command
with the payload `["purge", timestamp_ms, cutoff_ms, limit]`: every replica deletes, at
the same point of the order, the `limit` oldest stored results of requests first
executed before the cutoff (the proposer's clock minus the retention), so a retry is
deduplicated alike everywhere (docs/storage.md). A purge without `limit` (logged by
an earlier version) deletes them all.

`prepare_preview` (event loop) and `preview` (state-machine thread) run an
interactive transaction's statements on this replica's state without committing them.

`apply` (state-machine thread, every replica) decodes each command of the committed
executions into a `TransactionSpec` (or `PurgeSpec`) with the marker
`owner.slot.index.count` and hands them to the storage engine in chunks of at most
`MAX_BATCH_COMMANDS` commands and about `MAX_BATCH_BYTES` of payload: each chunk is one
SQLite transaction (one fsync), every command in it exactly once and atomically with
its marker. If the schema changed since the analysis, the engine answers
`schema_changed` (a retryable result, the same on every replica).

The analysis reads a cached schema snapshot (catalog rows + schema version). The
snapshot is refreshed after a chunk holding a global command (DDL interferes with
everything) and after any `schema_changed` result, so a stale cache heals itself.
A *barrier* is a global transaction without statements: the node proposes one when
a refusal may come from DDL this replica has not executed yet (`SchemaMayBeStale`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import msgpack

from epaxdb.command import Command, ConflictKey
from epaxdb.ids import InstanceId
from epaxdb.records import Execution
from epaxdb.runtime.errors import (
    InvalidRequest,
    NotReadOnly,
    PreviewTimedOut,
    SchemaMayBeStale,
)
from epaxdb.runtime.events import log_event
from epaxdb.runtime.interactive import (
    DEFAULT_MAX_AGE_MS,
    InteractiveContext,
    PreviewAnswer,
    check_statements,
    judge_preview,
    serialization_failure,
)
from epaxdb.runtime.machine import (
    InteractiveCommit,
    Resubmission,
    instances_fully_executed,
    marker,
    markers_at_or_below,
    parse_marker,
)
from epaxdb.storage import (
    SCHEMA_CHANGED,
    SERIALIZATION_FAILURE,
    CatalogRow,
    LocalQueryError,
    PreviewInterrupted,
    PreviewSpec,
    PurgeResult,
    PurgeSpec,
    RowsResult,
    StateDatabase,
    Statement,
    TransactionError,
    TransactionResult,
    TransactionSpec,
    Validation,
)

logger = logging.getLogger("epaxdb.sql_machine")

# Resubmissions of a request id R are R NUL 2, R NUL 3, ...: no client id collides
# with them, since the HTTP API refuses a NUL in a request id.
RESUBMISSION_SEPARATOR = "\x00"


def resubmission_id(request_id: str) -> str:
    base, separator, attempt = request_id.rpartition(RESUBMISSION_SEPARATOR)
    if separator and attempt.isdigit():
        return f"{base}{RESUBMISSION_SEPARATOR}{int(attempt) + 1}"
    return f"{request_id}{RESUBMISSION_SEPARATOR}2"


PAYLOAD_VERSION = 3
PURGE_KIND = "purge"
# One purge forgets at most this many stored results (about 0.1-0.2 s of SQLite work
# here), so that a backlog never holds the state database for long; the node proposes
# purges often enough to keep up with any load this machine sustains (node.py).
PURGE_LIMIT = 20_000
# One SQLite transaction (one fsync) covers at most this many commands, and stops
# taking more once their payloads add up to this many bytes: a bigger batch saves
# little more and holds the write lock (and the WAL) longer.
MAX_BATCH_COMMANDS = 256
MAX_BATCH_BYTES = 4 * 1024 * 1024
_SQL_VALUE_TYPES = (type(None), int, float, str, bytes, bool)


@dataclass(frozen=True, slots=True)
class SchemaSnapshot:
    version: int
    catalog: tuple[CatalogRow, ...]


@dataclass(frozen=True, slots=True)
class AnalyzedTransaction:
    """The analysis' verdict: the statements as they will execute (the analyzer may
    normalise parameters), their conflict keys, and which statements may change the
    database (`writers`, indexes; a query must have none)."""

    statements: tuple[Statement, ...]
    reads: frozenset[ConflictKey]
    writes: frozenset[ConflictKey]
    is_global: bool
    writers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LocalRead:
    """Rows read from this replica's state without replication (`read_local`).
    `executed_count` says which state: how many executions it reflects (the count
    `state_hash` covers). On a failing statement, `error` names it and `results` is
    empty."""

    results: tuple[RowsResult, ...]
    executed_count: int
    error: TransactionError | None = None


# Statements + schema -> analysed transaction; raises the analyzer's refusal. A refusal
# that names a statement has `statement` (its index) and `at(index, sql)`, the same
# refusal naming another index.
Analyze = Callable[[Sequence[Statement], SchemaSnapshot], AnalyzedTransaction]


@dataclass(frozen=True, slots=True)
class TransactionPayload:
    statements: tuple[Statement, ...]
    timestamp_ms: int
    seed: int
    schema_version: int | None  # None: no check (a barrier has no statements to check)
    validation: Validation | None = None  # an interactive transaction's commit condition
    read_only: bool = False  # no statement may write: no result is stored for retries

    def encode(self) -> bytes:
        check = self.validation
        validation = None if check is None else [
            check.digest, sorted(check.expected_failures), check.age_ms, check.max_age_ms
        ]  # fmt: skip
        return msgpack.packb(
            [PAYLOAD_VERSION, [[sql, params] for sql, params in self.statements],
             self.timestamp_ms, self.seed, self.schema_version, validation, self.read_only],
            use_bin_type=True,
        )  # fmt: skip

    @staticmethod
    def decode(data: bytes) -> TransactionPayload:
        return TransactionPayload.from_fields(_unpack_fields(data))

    @staticmethod
    def from_fields(fields: list[Any]) -> TransactionPayload:
        version, statements, timestamp_ms, seed, schema_version, *rest = fields
        if (version, len(rest)) not in ((1, 0), (2, 1), (3, 2)):
            raise ValueError(f"transaction payload version {version} with {len(rest)} extras")
        validation = None
        if rest and rest[0] is not None:
            digest, failures, age_ms, max_age_ms = rest[0]
            validation = Validation(digest, frozenset(failures), age_ms, max_age_ms)
        # Versions 1 and 2 did not say; storing their results is what they expect.
        read_only = len(rest) == 2 and rest[1] is True
        return TransactionPayload(
            tuple((sql, params) for sql, params in statements),
            timestamp_ms, seed, schema_version, validation, read_only,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PurgePayload:
    """Forget the stored results of requests first executed before `cutoff_ms`, at
    most `limit` of them, the oldest (None: all; purges logged before the limit
    existed have three fields); `timestamp_ms` is the proposer's clock when it
    proposed the purge."""

    timestamp_ms: int
    cutoff_ms: int
    limit: int | None = None

    def encode(self) -> bytes:
        fields = [PURGE_KIND, self.timestamp_ms, self.cutoff_ms]
        return msgpack.packb(fields if self.limit is None else [*fields, self.limit])

    @staticmethod
    def from_fields(fields: list[Any]) -> PurgePayload:
        if len(fields) not in (3, 4):
            raise ValueError(f"malformed purge payload {fields!r}")
        kind, timestamp_ms, cutoff_ms, *rest = fields
        limit = rest[0] if rest else None
        numbers_ok = all(type(v) is int for v in (timestamp_ms, cutoff_ms))
        if kind != PURGE_KIND or not numbers_ok or not (limit is None or _is_count(limit)):
            raise ValueError(f"malformed purge payload {fields!r}")
        return PurgePayload(timestamp_ms, cutoff_ms, limit)


def _is_count(value: Any) -> bool:
    return type(value) is int and value > 0


def decode_payload(data: bytes) -> TransactionPayload | PurgePayload:
    """A command's payload: a transaction (its first field is a version number) or a
    purge (its first field is the word "purge")."""
    fields = _unpack_fields(data)
    if fields[0] == PURGE_KIND:
        return PurgePayload.from_fields(fields)
    return TransactionPayload.from_fields(fields)


def _unpack_fields(data: bytes) -> list[Any]:
    fields = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if not isinstance(fields, list) or not fields:
        raise ValueError("a command payload is a non-empty msgpack array")
    return fields


@dataclass(frozen=True, slots=True)
class PreparedPreview:
    """A preview analysed on the event loop, to run on the state-machine thread."""

    context: InteractiveContext
    full: tuple[Statement, ...]  # the client's statements plus the failed ones
    analysed: tuple[Statement, ...]  # the same, as they will run
    expired: bool


def validate_statements(request: Any) -> tuple[Statement, ...]:
    """A client's statements as (sql, params) pairs, or InvalidRequest."""
    if not isinstance(request, (list, tuple)) or not request:
        raise InvalidRequest("a transaction is a non-empty list of statements")
    statements = []
    for index, item in enumerate(request):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise InvalidRequest(f"statement {index} is not a (sql, params) pair", index)
        sql, params = item
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidRequest(f"statement {index} has no SQL text", index)
        values = params.values() if isinstance(params, dict) else params
        if not isinstance(params, (list, tuple, dict)) or not all(
            isinstance(v, _SQL_VALUE_TYPES) for v in values
        ):
            raise InvalidRequest(
                f"statement {index}: params must be a list or an object of "
                "null, number, string or bytes values",
                index,
            )
        if isinstance(params, dict) and not all(isinstance(k, str) for k in params):
            raise InvalidRequest(f"statement {index}: parameter names must be strings", index)
        statements.append((sql, params))
    return tuple(statements)


class SqlStateMachine:
    def __init__(
        self, db: StateDatabase, analyze: Analyze, *, max_age_ms: int = DEFAULT_MAX_AGE_MS
    ) -> None:
        self._db = db
        self._analyze = analyze
        # How long an interactive transaction may take from its first preview to its
        # commit (the commit carries its timestamp, which must stay near the truth).
        self.max_age_ms = max_age_ms
        self.engine_version = db.sqlite_version()
        self.settings = db.settings.as_pairs()
        self._markers = {m if isinstance(m, str) else m.decode() for m in db.executed_markers()}
        self._schema = self._read_schema()

    def prepare(self, request: Any, request_id: str, *, read_only: bool = False) -> Command:
        if isinstance(request, InteractiveCommit):
            return self._prepare_commit(request, request_id)
        schema = self._schema
        analysed = self._analysed(request, schema, read_only)
        payload = TransactionPayload(
            analysed.statements,
            timestamp_ms=_now_ms(),
            seed=secrets.randbits(63),
            schema_version=schema.version,
            read_only=not analysed.writers,
        )
        return Command(
            request_id, payload.encode(), analysed.reads, analysed.writes, analysed.is_global
        )

    def _prepare_commit(self, request: InteractiveCommit, request_id: str) -> Command:
        context = InteractiveContext.from_json(request.context)
        full = validate_statements(context.full_sequence(validate_statements(request.request)))
        schema = self._schema
        analysed = self._analyze_interactive(context, full, schema)
        check_statements(context, analysed.statements)
        if len(full) != context.observed:
            raise InvalidRequest(
                f"{len(full) - context.observed} statement(s) were not previewed: preview "
                "every statement before the commit"
            )
        validation = Validation(
            context.digest, context.failed_positions,
            age_ms=_now_ms() - context.timestamp_ms, max_age_ms=self.max_age_ms,
        )  # fmt: skip
        payload = TransactionPayload(
            analysed.statements,
            context.timestamp_ms,
            context.seed,
            schema.version,
            validation,
            read_only=not analysed.writers,
        )
        # The keys of every statement, reads included: the validation must be ordered
        # against every writer of what the transaction read.
        return Command(
            request_id, payload.encode(), analysed.reads, analysed.writes, analysed.is_global
        )

    def prepare_preview(self, request: Any, context: Any) -> PreparedPreview:
        """Event loop: validate and analyse a preview (the same refusals as `prepare`)."""
        statements = validate_statements(request)
        if context is None:
            parsed = InteractiveContext.begin(_now_ms(), secrets.randbits(63))
        else:
            parsed = InteractiveContext.from_json(context)
        full = validate_statements(parsed.full_sequence(statements))
        analysed = self._analyze_interactive(parsed, full, self._schema).statements
        check_statements(parsed, analysed)
        age_ms = _now_ms() - parsed.timestamp_ms
        expired = not -self.max_age_ms <= age_ms <= self.max_age_ms
        return PreparedPreview(parsed, full, analysed, expired)

    def preview(self, prepared: PreparedPreview, deadline: float) -> PreviewAnswer:
        """State-machine thread: run the statements on the current state, roll back, and
        judge what they produced against what the client saw before. `deadline` is a
        `time.monotonic()` value; past it, `PreviewTimedOut`."""
        if prepared.expired:
            return PreviewAnswer(
                error=serialization_failure(
                    f"the transaction began more than {self.max_age_ms} ms ago; run it again"
                )
            )
        context = prepared.context
        spec = PreviewSpec(
            prepared.analysed, context.timestamp_ms, context.seed, context.failed_positions
        )
        try:
            if time.monotonic() > deadline:
                raise PreviewInterrupted("the deadline passed before the preview could start")
            run = self._db.preview(spec, deadline)
        except PreviewInterrupted as interrupted:
            raise PreviewTimedOut(f"the preview did not finish in time: {interrupted}") from None
        return judge_preview(context, prepared.full, prepared.analysed, run)

    def prepare_read(self, request: Any) -> tuple[Statement, ...]:
        """The statements of a local read, checked like a query's (`read_local`)."""
        return self._analysed(request, self._schema, read_only=True).statements

    def _analysed(
        self, request: Any, schema: SchemaSnapshot, read_only: bool
    ) -> AnalyzedTransaction:
        statements = validate_statements(request)
        analysed = self._analyze(statements, schema)
        if read_only and analysed.writers:
            index = analysed.writers[0]
            raise NotReadOnly(
                f"statement {index} ({statements[index][0][:160]!r}) may change the "
                "database; a query may only read",
                index,
            )
        return analysed

    def barrier(self, request_id: str) -> Command:
        payload = TransactionPayload((), _now_ms(), 0, None, read_only=True)
        return Command(request_id, payload.encode(), is_global=True)

    def purge_results(self, request_id: str, retention_ms: int) -> Command | None:
        """A command that forgets, on every replica at the same point of the order, the
        stored results of requests first executed more than `retention_ms` before now
        (this replica's clock); None if this replica stores none that old."""
        now_ms = _now_ms()
        cutoff_ms = now_ms - retention_ms
        if not self._db.has_results_before(cutoff_ms):
            return None
        payload = PurgePayload(now_ms, cutoff_ms, PURGE_LIMIT)
        return Command(request_id, payload.encode(), is_global=True)

    def apply(self, executions: Sequence[Execution]) -> list[list[TransactionResult | PurgeResult]]:
        results: list[list[TransactionResult | PurgeResult]] = [[] for _ in executions]
        chunk: list[_Pending] = []
        chunk_bytes = 0
        for slot, execution in enumerate(executions):
            batch = execution.batch
            for index, command in enumerate(batch):
                position = marker(execution.instance_id, index, len(batch))
                chunk.append(_Pending(slot, position, command, _spec(command, position)))
                chunk_bytes += len(command.payload)
                if len(chunk) >= MAX_BATCH_COMMANDS or chunk_bytes >= MAX_BATCH_BYTES:
                    self._apply_chunk(chunk, results)
                    chunk, chunk_bytes = [], 0
        if chunk:
            self._apply_chunk(chunk, results)
        return results

    def _apply_chunk(
        self, chunk: list[_Pending], results: list[list[TransactionResult | PurgeResult]]
    ) -> None:
        """One SQLite transaction for the chunk; its results go to their executions."""
        outcomes = self._db.execute_batch([pending.spec for pending in chunk])
        refresh = maybe_schema_change = False
        for pending, outcome in zip(chunk, outcomes, strict=True):
            self._markers.add(pending.position)
            results[pending.execution].append(outcome)
            refresh = refresh or pending.command.is_global
            if isinstance(outcome, PurgeResult):
                cutoff_ms = cast(PurgeSpec, pending.spec).cutoff_ms
                log_event(logger, logging.INFO, "results_purged", removed=outcome.removed,
                          cutoff_ms=cutoff_ms, request_id=outcome.request_id)  # fmt: skip
                continue
            code = None if outcome.error is None else outcome.error.code
            refresh = refresh or code == SCHEMA_CHANGED
            # (An interactive commit reports a schema change as a serialization failure.)
            maybe_schema_change = maybe_schema_change or code == SERIALIZATION_FAILURE
        if refresh or (maybe_schema_change and self._db.schema_version() != self._schema.version):
            self._schema = self._read_schema()

    def _analyze_interactive(
        self, context: InteractiveContext, full: tuple[Statement, ...], schema: SchemaSnapshot
    ) -> AnalyzedTransaction:
        """Analyse the client's statements with the failed ones put back; a refusal names
        the statement by its index in the client's list."""
        try:
            return self._analyze(full, schema)
        except SchemaMayBeStale as stale:
            raise SchemaMayBeStale(_renumbered(stale.refusal, context, full)) from None
        except Exception as refusal:  # the analyzer's refusal types are not known here
            renamed = _renumbered(refusal, context, full)
            if renamed is refusal:
                raise
            raise renamed from None

    def read_local(self, statements: Sequence[Statement]) -> LocalRead:
        # The machine thread is the only writer, so the statements (each in its own
        # read transaction) and the count all see one state.
        results = []
        for index, (sql, params) in enumerate(statements):
            try:
                results.append(self._db.query_local(sql, params))
            except LocalQueryError as error:
                failed = TransactionError(error.code, error.message, statement_index=index)
                return LocalRead((), self._db.executed_count(), failed)
        return LocalRead(tuple(results), self._db.executed_count())

    def lookup(self, request_id: str) -> TransactionResult | None:
        return self._db.stored_result(request_id)

    def resubmission(self, result: Any) -> Resubmission | None:
        """A transaction answered `schema_changed` was analysed under a schema its
        place in the order no longer has; it changed nothing, so it runs again, under
        the next id of its chain (`resubmission_id`)."""
        if not isinstance(result, TransactionResult) or result.error is None:
            return None
        if result.error.code != SCHEMA_CHANGED:
            return None
        return Resubmission(resubmission_id(result.request_id), fresh=not result.duplicate)

    def as_answer(self, result: Any, request_id: str) -> Any:
        if isinstance(result, TransactionResult) and result.request_id != request_id:
            return replace(result, request_id=request_id)
        return result

    def executed_count(self) -> int:
        return self._db.executed_count()

    def executed_instances(self) -> frozenset[InstanceId]:
        return instances_fully_executed(self._markers)

    def forget(self, floor: tuple[int, ...]) -> None:
        old = markers_at_or_below(self._markers, floor)
        if old:
            self._db.forget_markers(old)
            self._markers.difference_update(old)

    def sync(self) -> None:
        self._db.sync()

    def state_hash(self) -> str:
        return self._db.state_hash()

    def close(self) -> None:
        self._db.close()

    def _read_schema(self) -> SchemaSnapshot:
        return SchemaSnapshot(self._db.schema_version(), tuple(self._db.catalog_rows()))


@dataclass(frozen=True, slots=True)
class _Pending:
    """A command of a chunk: which execution it belongs to, and its spec for the engine."""

    execution: int
    position: str
    command: Command
    spec: TransactionSpec | PurgeSpec


def _spec(command: Command, position: str) -> TransactionSpec | PurgeSpec:
    payload = decode_payload(command.payload)
    if isinstance(payload, PurgePayload):
        return PurgeSpec(command.request_id, payload.timestamp_ms, payload.cutoff_ms, position,
                         payload.limit)  # fmt: skip
    return TransactionSpec(
        request_id=command.request_id,
        statements=payload.statements,
        timestamp_ms=payload.timestamp_ms,
        seed=payload.seed,
        executed_marker=position,
        schema_version=payload.schema_version,
        validation=payload.validation,
        read_only=payload.read_only,
    )


def executed_at(result: TransactionResult) -> InstanceId:
    """The instance whose execution produced `result` (the first one, for a retry)."""
    if result.marker is None:
        raise ValueError(f"the result of {result.request_id!r} carries no executed marker")
    instance_id, _, _ = parse_marker(str(result.marker))
    return instance_id


def _renumbered(
    refusal: Exception, context: InteractiveContext, full: tuple[Statement, ...]
) -> Exception:
    index = getattr(refusal, "statement", None)
    if not context.failed or type(index) is not int or not 0 <= index < len(full):
        return refusal
    renamed: Exception = refusal.at(context.client_index(index), full[index][0])  # type: ignore[attr-defined]
    return renamed


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
