"""The SQL state machine: transactions analysed at the coordinator, executed everywhere.

Theory of operation
-------------------
`prepare` (event loop, on the replica the client talks to) fixes everything that
could differ between replicas before the transaction enters the protocol: the
timestamp (this replica's clock, ms), a random seed, and the schema version the
analysis was made under. The analysis (an injected `Analyze`, the analyzer behind
it) turns the statements into conflict keys and the statements as they will run,
or refuses them. The command's payload
is the msgpack *transaction payload*:

    [1, [[sql, params], ...], timestamp_ms, seed, schema_version]

`apply` (state-machine thread, every replica) decodes each command of a committed
batch into a `TransactionSpec` with the marker `owner.slot.index.count` and hands
it to the storage engine, which runs it exactly once, atomically with its marker.
If the schema changed since the analysis, the engine answers `schema_changed` (a
retryable result, the same on every replica).

The analysis reads a cached schema snapshot (catalog rows + schema version). The
snapshot is refreshed after a batch holding a global command (DDL interferes with
everything) and after any `schema_changed` result, so a stale cache heals itself.
A *barrier* is a global transaction without statements: the node proposes one when
a refusal may come from DDL this replica has not executed yet (`SchemaMayBeStale`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from epaxdb.command import Batch, Command, ConflictKey
from epaxdb.ids import InstanceId
from epaxdb.records import Execution
from epaxdb.runtime.errors import InvalidRequest, NotReadOnly
from epaxdb.runtime.machine import (
    instances_fully_executed,
    marker,
    markers_at_or_below,
    parse_marker,
)
from epaxdb.storage import (
    SCHEMA_CHANGED,
    CatalogRow,
    LocalQueryError,
    RowsResult,
    StateDatabase,
    Statement,
    TransactionError,
    TransactionResult,
    TransactionSpec,
)

PAYLOAD_VERSION = 1
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


# Statements + schema -> analysed transaction; raises the analyzer's refusal.
Analyze = Callable[[Sequence[Statement], SchemaSnapshot], AnalyzedTransaction]


@dataclass(frozen=True, slots=True)
class TransactionPayload:
    statements: tuple[Statement, ...]
    timestamp_ms: int
    seed: int
    schema_version: int | None  # None: no check (a barrier has no statements to check)

    def encode(self) -> bytes:
        return msgpack.packb(
            [PAYLOAD_VERSION, [[sql, params] for sql, params in self.statements],
             self.timestamp_ms, self.seed, self.schema_version],
            use_bin_type=True,
        )  # fmt: skip

    @staticmethod
    def decode(data: bytes) -> TransactionPayload:
        version, statements, timestamp_ms, seed, schema_version = msgpack.unpackb(
            data, raw=False, strict_map_key=False
        )
        if version != PAYLOAD_VERSION:
            raise ValueError(f"transaction payload version {version}")
        return TransactionPayload(
            tuple((sql, params) for sql, params in statements), timestamp_ms, seed, schema_version
        )


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
    def __init__(self, db: StateDatabase, analyze: Analyze) -> None:
        self._db = db
        self._analyze = analyze
        self.engine_version = db.sqlite_version()
        self.settings = db.settings.as_pairs()
        self._markers = {m if isinstance(m, str) else m.decode() for m in db.executed_markers()}
        self._schema = self._read_schema()

    def prepare(self, request: Any, request_id: str, *, read_only: bool = False) -> Command:
        schema = self._schema
        analysed = self._analysed(request, schema, read_only)
        payload = TransactionPayload(
            analysed.statements,
            timestamp_ms=time.time_ns() // 1_000_000,
            seed=secrets.randbits(63),
            schema_version=schema.version,
        )
        return Command(
            request_id, payload.encode(), analysed.reads, analysed.writes, analysed.is_global
        )

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
        payload = TransactionPayload((), time.time_ns() // 1_000_000, 0, None)
        return Command(request_id, payload.encode(), is_global=True)

    def apply(self, executions: Sequence[Execution]) -> list[list[TransactionResult]]:
        # One SQLite transaction (and fsync) per command: the storage engine has no
        # call that commits several specs at once yet.
        return [self._apply_batch(e.instance_id, e.batch) for e in executions]

    def _apply_batch(self, instance_id: InstanceId, batch: Batch) -> list[TransactionResult]:
        results = []
        refresh = False
        for index, command in enumerate(batch):
            position = marker(instance_id, index, len(batch))
            payload = TransactionPayload.decode(command.payload)
            result = self._db.execute_transaction(
                TransactionSpec(
                    request_id=command.request_id,
                    statements=payload.statements,
                    timestamp_ms=payload.timestamp_ms,
                    seed=payload.seed,
                    executed_marker=position,
                    schema_version=payload.schema_version,
                )
            )
            self._markers.add(position)
            results.append(result)
            schema_changed = result.error is not None and result.error.code == SCHEMA_CHANGED
            refresh = refresh or command.is_global or schema_changed
        if refresh:
            self._schema = self._read_schema()
        return results

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

    def executed_count(self) -> int:
        return self._db.executed_count()

    def executed_instances(self) -> frozenset[InstanceId]:
        return instances_fully_executed(self._markers)

    def forget(self, floor: tuple[int, ...]) -> None:
        old = markers_at_or_below(self._markers, floor)
        if old:
            self._db.forget_markers(old)
            self._markers.difference_update(old)

    def state_hash(self) -> str:
        return self._db.state_hash()

    def close(self) -> None:
        self._db.close()

    def _read_schema(self) -> SchemaSnapshot:
        return SchemaSnapshot(self._db.schema_version(), tuple(self._db.catalog_rows()))


def executed_at(result: TransactionResult) -> InstanceId:
    """The instance whose execution produced `result` (the first one, for a retry)."""
    if result.marker is None:
        raise ValueError(f"the result of {result.request_id!r} carries no executed marker")
    instance_id, _, _ = parse_marker(str(result.marker))
    return instance_id
